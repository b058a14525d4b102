// Timing and statistics shared by the benchmarks: wall time of one process, candidates measured
// interleaved (so a drift in machine load hits them all alike), medians, and the result rows.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { setImmediate, setTimeout as sleep } from 'node:timers/promises';
import { mountsUnder } from '../test/helpers/sandbox.ts';

export interface Row {
  /** Which section of the table the row belongs to. */
  group: string;
  figure: string;
  value: number;
  unit: string;
  /** What the figure is compared with; no ratio without a reference value. */
  reference?: string;
  referenceValue?: number;
  /** Decimal places for value and reference. */
  digits?: number;
}

export interface Command {
  command: string;
  args: string[];
  env: NodeJS.ProcessEnv;
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? (sorted[middle] ?? 0) : ((sorted[middle - 1] ?? 0) + (sorted[middle] ?? 0)) / 2;
}

export function elapsedMs(started: bigint): number {
  return Number(process.hrtime.bigint() - started) / 1e6;
}

/** Thrown instead of starting a call once the benchmark was interrupted. */
export class Interrupted extends Error {}

const running = new Set<Promise<unknown>>();
let stopped = false;

/** Starts an asynchronous driver call unless the benchmark was interrupted, and keeps it until it ends. */
export function tracked<T>(start: () => Promise<T>): Promise<T> {
  if (stopped) return Promise.reject(new Interrupted('interrupted'));
  const call = start();
  running.add(call);
  call.then(
    () => running.delete(call),
    () => running.delete(call),
  );
  return call;
}

/** No new call starts; the ones in flight (which may be attaching or mounting) end before clean-up. */
export async function stopAndDrain(graceMs: number): Promise<void> {
  stopped = true;
  await Promise.race([Promise.allSettled([...running]), sleep(graceMs, undefined, { ref: false })]);
}

/** Wall time of one process run, in milliseconds; a non-zero exit is an error. */
export function timeRun({ command, args, env }: Command): number {
  if (stopped) throw new Interrupted('interrupted');
  const started = process.hrtime.bigint();
  const result = spawnSync(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const elapsed = elapsedMs(started);
  // A Ctrl-C reaches the whole process group: the child died of it, and our handler comes next.
  if (result.signal === 'SIGINT' || result.signal === 'SIGTERM') throw new Interrupted(result.signal);
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} failed (${result.status ?? result.signal}): ${result.stdout}${result.stderr}`);
  return elapsed;
}

/**
 * Runs each candidate `runs` times, interleaved, after one unmeasured warm-up round, and returns
 * each one's samples. `between` runs untimed before every measured run (e.g. an unmount);
 * `beforeRound` once before each round (e.g. keeping a cache warm, which may need the event loop).
 * Each run is a blocking spawn (the least noise); between rounds the event loop gets a turn, so a
 * signal is handled within one round.
 */
export async function interleave<T>(
  candidates: ReadonlyArray<() => T>,
  runs: number,
  between: () => void = () => {},
  beforeRound: () => Promise<void> = async () => {},
): Promise<T[][]> {
  const samples = candidates.map(() => [] as T[]);
  await beforeRound();
  for (const candidate of candidates) {
    between();
    candidate();
  }
  for (let run = 0; run < runs; run++) {
    await setImmediate();
    await beforeRound();
    candidates.forEach((candidate, index) => {
      between();
      samples[index]?.push(candidate());
    });
  }
  return samples;
}

/** What one process cost: wall time from fork to reaped, and the CPU time of it and its children. */
export interface Usage {
  wallMs: number;
  cpuMs: number;
}

export const addUsage = (a: Usage, b: Usage): Usage => ({ wallMs: a.wallMs + b.wallMs, cpuMs: a.cpuMs + b.cpuMs });
export const NO_USAGE: Usage = { wallMs: 0, cpuMs: 0 };

export function medianUsage(samples: readonly Usage[]): Usage {
  return { wallMs: median(samples.map((sample) => sample.wallMs)), cpuMs: median(samples.map((sample) => sample.cpuMs)) };
}

export interface UsageRun extends Command {
  /** The exit status the run must end with (default 0). */
  exitCode?: number;
  /** Checks the run's stdout (a driver's reply) beyond its exit status. */
  check?: (stdout: string) => void;
}

/**
 * Runs a command under `childUsage` (bench/native/child-usage.c), which forks, execs and reaps it
 * and reports wall time and user+sys CPU time (its own and its reaped children's, from wait4).
 */
export function usageRun(childUsage: string, report: string, { command, args, env, exitCode = 0, check }: UsageRun): Usage {
  if (stopped) throw new Interrupted('interrupted');
  const result = spawnSync(childUsage, [report, command, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8', timeout: 60_000 });
  if (result.signal === 'SIGINT' || result.signal === 'SIGTERM') throw new Interrupted(result.signal);
  if (result.error !== undefined || result.status !== exitCode) {
    throw new Error(`${command} ${args.join(' ')} ended with ${result.error?.message ?? result.status ?? result.signal}, not ${exitCode}: ${result.stdout}${result.stderr}`);
  }
  check?.(result.stdout);
  return usageFromReport(report);
}

/** What child-usage wrote: "wall_us user_us sys_us exit". */
export function usageFromReport(report: string): Usage {
  const [wallUs = 0, userUs = 0, sysUs = 0] = fs.readFileSync(report, 'utf8').trim().split(' ').map(Number);
  return { wallMs: wallUs / 1000, cpuMs: (userUs + sysUs) / 1000 };
}

export function run(command: string, args: readonly string[]): string {
  const result = spawnSync(command, args, { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} failed: ${result.stderr.trim() || result.stdout.trim()}`);
  return result.stdout;
}

export const isMounted = (target: string): boolean => mountsUnder(path.dirname(target)).includes(target);

/** Clean-up after a failed or interrupted run: what it left mounted under its dir (deepest first). */
export function unmountAllUnder(dir: string): void {
  for (const mountPoint of mountsUnder(dir)) run('umount', [mountPoint]);
}
