// A cross-process lock: each kubelet call is its own process, so locks are files. A lock whose
// holder has died (its pid is gone, or now belongs to another process) is taken over, so a
// crashed call never wedges the node.
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DriverError } from '../flexvolume/errors.ts';
import { log } from './log.ts';
import { currentProcess, isAlive, type ProcessIdentity } from './process-identity.ts';

interface Holder extends ProcessIdentity {
  token: string;
}

const POLL_MS = 15;

function readHolder(file: string): Holder | undefined {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as Holder;
  } catch {
    return undefined;
  }
}

function tryCreate(file: string, holder: Holder): boolean {
  try {
    fs.writeFileSync(file, JSON.stringify(holder), { flag: 'wx', mode: 0o600 });
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  }
}

/**
 * Removes a dead holder's lock. It is first renamed aside and its token checked, so two processes
 * that both saw the same dead holder cannot remove a lock a third process has just taken.
 */
function breakStaleLock(file: string, stale: Holder): void {
  const aside = `${file}.stale-${crypto.randomUUID()}`;
  try {
    fs.renameSync(file, aside);
  } catch {
    return;
  }
  const moved = readHolder(aside);
  if (moved?.token === stale.token) {
    fs.rmSync(aside, { force: true });
    log(`lock ${path.basename(file)}: took over from dead process ${stale.pid}`);
    return;
  }
  try {
    fs.linkSync(aside, file);
  } catch {
    // Someone took the lock meanwhile; the live holder we moved keeps running regardless.
  }
  fs.rmSync(aside, { force: true });
}

export interface LockOptions {
  dir: string;
  timeoutMs: number;
}

export interface Lock {
  release(): void;
}

function lockFile(dir: string, name: string): string {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  return path.join(dir, `${name.replace(/[^A-Za-z0-9._-]/g, '_')}.lock`);
}

function lockOf(file: string, holder: Holder): Lock {
  return {
    release(): void {
      if (readHolder(file)?.token === holder.token) fs.rmSync(file, { force: true });
    },
  };
}

/** Takes the lock now, or answers who holds it; a dead holder's lock is taken over. */
function attempt(file: string): { lock: Lock } | { holder: Holder | undefined } {
  const holder: Holder = { ...currentProcess(), token: crypto.randomUUID() };
  for (;;) {
    if (tryCreate(file, holder)) return { lock: lockOf(file, holder) };
    const current = readHolder(file);
    if (current === undefined || isAlive(current)) return { holder: current };
    breakStaleLock(file, current);
  }
}

/** The lock if nobody alive holds it, without waiting: for "whoever gets it does the work". */
export function tryAcquireLock(name: string, dir: string): Lock | undefined {
  const outcome = attempt(lockFile(dir, name));
  return 'lock' in outcome ? outcome.lock : undefined;
}

export async function acquireLock(name: string, options: LockOptions): Promise<Lock> {
  const file = lockFile(options.dir, name);
  const deadline = Date.now() + options.timeoutMs;
  for (;;) {
    const outcome = attempt(file);
    if ('lock' in outcome) return outcome.lock;
    if (Date.now() > deadline) {
      throw new DriverError(
        `another call (pid ${outcome.holder?.pid ?? 'unknown'}) has held the lock '${name}' for over ${options.timeoutMs / 1000} s; it will be retried`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_MS + Math.random() * POLL_MS));
  }
}

export async function withLock<T>(name: string, options: LockOptions, work: () => Promise<T>): Promise<T> {
  const lock = await acquireLock(name, options);
  try {
    return await work();
  } finally {
    lock.release();
  }
}
