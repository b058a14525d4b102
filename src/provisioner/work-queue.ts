// Keys (claims, volumes) to work on, each by one worker at a time, at most `workers` at once. A
// key whose work failed waits out its own exponential backoff (the sig-storage library's 15 s to
// 1000 s); a key added while it waits is not run early, so resyncs and watch events do not undo
// the backoff.
export interface WorkQueueOptions {
  workers: number;
  baseDelayMs: number;
  maxDelayMs: number;
  /** Throws to have the key tried again after its backoff. */
  handle: (key: string) => Promise<void>;
  onError: (key: string, error: unknown, retryInMs: number) => void;
}

/** The wait before the next try after `failures` failures in a row. */
export function retryDelayMs(failures: number, baseDelayMs: number, maxDelayMs: number): number {
  return Math.min(baseDelayMs * 2 ** (failures - 1), maxDelayMs);
}

export class WorkQueue {
  private readonly options: WorkQueueOptions;
  private readonly ready: string[] = [];
  private readonly queued = new Set<string>();
  private readonly running = new Set<string>();
  /** Added again while running: run once more afterwards. */
  private readonly dirty = new Set<string>();
  private readonly failures = new Map<string, number>();
  private readonly waiting = new Map<string, NodeJS.Timeout>();
  private readonly idleWaiters: Array<() => void> = [];
  private stopped = false;

  constructor(options: WorkQueueOptions) {
    this.options = options;
  }

  add(key: string): void {
    if (this.stopped || this.waiting.has(key)) return;
    if (this.running.has(key)) {
      this.dirty.add(key);
      return;
    }
    if (this.queued.has(key)) return;
    this.queued.add(key);
    this.ready.push(key);
    this.pump();
  }

  /** How many times the key has failed in a row. */
  failureCount(key: string): number {
    return this.failures.get(key) ?? 0;
  }

  /** Takes no new work; resolves when the running work is done. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const timer of this.waiting.values()) clearTimeout(timer);
    this.waiting.clear();
    this.ready.length = 0;
    this.queued.clear();
    if (this.running.size === 0) return;
    await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
  }

  private pump(): void {
    while (!this.stopped && this.running.size < this.options.workers && this.ready.length > 0) {
      const key = this.ready.shift() as string;
      this.queued.delete(key);
      this.running.add(key);
      void this.work(key);
    }
  }

  private async work(key: string): Promise<void> {
    try {
      await this.options.handle(key);
      this.failures.delete(key);
    } catch (error) {
      const failures = (this.failures.get(key) ?? 0) + 1;
      this.failures.set(key, failures);
      const delay = retryDelayMs(failures, this.options.baseDelayMs, this.options.maxDelayMs);
      this.options.onError(key, error, delay);
      if (!this.stopped) {
        this.dirty.delete(key);
        this.waiting.set(
          key,
          setTimeout(() => {
            this.waiting.delete(key);
            this.add(key);
          }, delay),
        );
      }
    } finally {
      this.running.delete(key);
      if (this.dirty.delete(key)) this.add(key);
      if (this.running.size === 0) for (const resolve of this.idleWaiters.splice(0)) resolve();
      this.pump();
    }
  }
}
