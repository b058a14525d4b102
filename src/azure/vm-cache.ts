// VM reads shared by every process on the host for a short period. The controller-manager asks
// `isattached` for every volume every minute, one process per volume: without this each would GET
// the VM, with it one GET per VM per period serves them all. Entries are replaced by the result of
// every update of the VM and removed when an update fails, so the cache never outlives a change
// this host made (the stale-cache bug of known-issues §22 was a cache cleared *before* the update).
import { withLock } from '../system/lock.ts';
import { RecordStore } from '../system/state.ts';
import { machineKey, type Machine, type MachineRef } from './machines.ts';

interface Entry {
  /** When the read that produced it started, ms since the epoch. */
  readAt: number;
  machine: Machine;
}

export const DEFAULT_VM_CACHE_MS = 15_000;

export interface VmCacheOptions {
  dir: string;
  maxAgeMs?: number;
  /** How long a process waits for another one's read of the same VM. */
  lockTimeoutMs?: number;
}

export class VmCache {
  private readonly store: RecordStore<Entry>;
  private readonly dir: string;
  private readonly maxAgeMs: number;
  private readonly lockTimeoutMs: number;

  constructor(options: VmCacheOptions) {
    this.dir = options.dir;
    this.store = new RecordStore(options.dir);
    this.maxAgeMs = options.maxAgeMs ?? DEFAULT_VM_CACHE_MS;
    this.lockTimeoutMs = options.lockTimeoutMs ?? 60_000;
  }

  /** The cached machine if it is young enough. */
  peek(ref: MachineRef, now = Date.now()): Machine | undefined {
    const entry = this.store.read(machineKey(ref));
    return entry !== undefined && isYoung(entry, now, this.maxAgeMs) ? entry.machine : undefined;
  }

  /** The last read of the machine however old, unless dated in the future (its age is unknown). */
  lastSeen(ref: MachineRef, now = Date.now()): Machine | undefined {
    const entry = this.store.read(machineKey(ref));
    return entry !== undefined && entry.readAt <= now ? entry.machine : undefined;
  }

  /**
   * The machine from the cache, or read once for all processes asking at the same time: the reader
   * holds a per-VM lock, and whoever waited on it finds the fresh entry. undefined means the VM
   * does not exist (which is not cached).
   */
  async get(ref: MachineRef, read: () => Promise<Machine | undefined>): Promise<Machine | undefined> {
    const cached = this.peek(ref);
    if (cached !== undefined) return cached;
    return withLock(`vm-read-${machineKey(ref)}`, { dir: this.dir, timeoutMs: this.lockTimeoutMs }, async () => {
      const now = Date.now();
      const fresh = this.peek(ref, now);
      if (fresh !== undefined) return fresh;
      const machine = await read();
      if (machine !== undefined) this.storeIfNewer(ref, { readAt: now, machine });
      return machine;
    });
  }

  /** Reads the machine now whatever the cache holds, and caches what was read. */
  async refresh(ref: MachineRef, read: () => Promise<Machine | undefined>): Promise<Machine | undefined> {
    const now = Date.now();
    const machine = await read();
    if (machine === undefined) this.invalidate(ref);
    else this.storeIfNewer(ref, { readAt: now, machine });
    return machine;
  }

  /** A read that started before an update finished must not replace what the update left. */
  private storeIfNewer(ref: MachineRef, entry: Entry): void {
    const current = this.store.read(machineKey(ref));
    // An entry dated after this read began is kept, unless it is dated in the future (the clock
    // stepped back since it was written): then nothing would ever replace it.
    if (current === undefined || current.readAt <= entry.readAt || current.readAt > Date.now()) this.store.write(machineKey(ref), entry);
  }

  /** After an update: the machine as the update left it. */
  remember(machine: Machine): void {
    this.store.write(machineKey(machine.ref), { readAt: Date.now(), machine });
  }

  invalidate(ref: MachineRef): void {
    this.store.delete(machineKey(ref));
  }
}

/** An entry dated in the future was written before the clock stepped back: its age is unknown, so it is stale. */
function isYoung(entry: Entry, now: number, maxAgeMs: number): boolean {
  const age = now - entry.readAt;
  return age >= 0 && age < maxAgeMs;
}
