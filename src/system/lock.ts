// A cross-process lock: each kubelet call is its own process, so locks are files. A lock whose
// holder has died (its pid is gone, or now belongs to another process) is taken over, so a
// crashed call never wedges the node. A lock also names the children its holder started while
// holding it (mkfs, fsck, mount): it stays held while any of them lives, so a retry after the
// holder was killed does not start a second mkfs on a device the first one is still writing.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DriverError } from '../flexvolume/errors.ts';
import { entryPath } from './entry-path.ts';
import { log } from './log.ts';
import { noteProgress } from './progress.ts';
import { currentProcess, isAlive, uniqueName, type ProcessIdentity } from './process-identity.ts';

interface Holder extends ProcessIdentity {
  token: string;
  children?: ProcessIdentity[];
}

/**
 * A lock file as read through one descriptor: its raw bytes, the holder they name when they parse
 * as one, and which file it was (a lock replaced by another one at the same path is another file).
 */
interface Seen {
  raw: string;
  holder: Holder | undefined;
  /** Inode, birth and change time: no other file at this path ever has all three. */
  instance: string;
  mtimeMs: number;
}

const POLL_MS = 15;
/**
 * Lock files are created whole, so one that is empty or does not parse was cut short by a power
 * loss (linked, its data not yet on disk), or is an older driver's write in flight, which
 * created the file first and wrote it next: it is stale once it is older than this.
 */
const UNREADABLE_STALE_MS = 5000;
/** A claim on a stale file whose own claimer died is itself claimed; this deep, and no deeper. */
const MAX_CLAIM_DEPTH = 3;

function parseHolder(raw: string): Holder | undefined {
  try {
    const parsed = JSON.parse(raw) as Holder;
    return typeof parsed?.pid === 'number' && typeof parsed.token === 'string' ? parsed : undefined;
  } catch {
    return undefined;
  }
}

/** Who holds the lock now, read the cheap way: for this process's own lock, which nobody else replaces. */
function readHolder(file: string): Holder | undefined {
  try {
    return parseHolder(fs.readFileSync(file, 'utf8'));
  } catch {
    return undefined;
  }
}

/** A lock file as it is now, for judging it and taking it over. */
function inspectLockFile(file: string): Seen | undefined {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch {
    return undefined;
  }
  try {
    const stat = fs.fstatSync(fd, { bigint: true });
    const raw = fs.readFileSync(fd, 'utf8');
    return { raw, holder: parseHolder(raw), instance: `${stat.ino}-${stat.birthtimeNs}-${stat.ctimeNs}`, mtimeMs: Number(stat.mtimeMs) };
  } catch {
    return undefined;
  } finally {
    fs.closeSync(fd);
  }
}

/** The operator's next step when the state dir cannot take a lock file. */
function stateDirError(dir: string, error: unknown): DriverError {
  const code = (error as NodeJS.ErrnoException).code;
  const why = code === 'ENOSPC' || code === 'EDQUOT' ? 'it is full' : code === 'EROFS' ? 'it is read-only' : (error as Error).message;
  return new DriverError(`cannot write a lock file in the driver's state dir ${dir}: ${why}; free space there or fix its permissions, then retry`);
}

/**
 * Creates `file` whole, never empty: written aside, then hard-linked into place, which fails if
 * the file exists. A creator that stalls between creating and writing must not look like one that
 * crashed there (an unreadable file is stale after a few seconds), or a second process would take
 * the lock, or the claim, while the first still holds it. Whether this call created it.
 */
function createWhole(file: string, content: string): boolean {
  // Taken already, the usual answer under contention: given without writing a file, since each
  // one written wakes every waiter that watches this directory (src/azure/disk-queue.ts).
  if (fs.existsSync(file)) return false;
  const written = `${file}.${uniqueName()}.tmp`;
  try {
    fs.writeFileSync(written, content, { mode: 0o600, flag: 'wx' });
    fs.linkSync(written, file);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw stateDirError(path.dirname(file), error);
  } finally {
    fs.rmSync(written, { force: true });
  }
}

/** Whether the lock still protects something: its holder, or a child it started, still runs. */
function isHeld(holder: Holder): boolean {
  return isAlive(holder) || (holder.children ?? []).some(isAlive);
}

function isStale(seen: Seen): boolean {
  return seen.holder === undefined ? Date.now() - seen.mtimeMs > UNREADABLE_STALE_MS : !isHeld(seen.holder);
}

function describeStale(stale: Seen): string {
  return stale.holder === undefined ? `an unreadable lock file (${stale.raw.length} bytes)` : `dead process ${stale.holder.pid}`;
}

/**
 * Removes the stale file `stale` names, and never a file that replaced it: whether it is gone.
 * The remover first claims it with a file named after it alone, created exclusively, so of all
 * the processes that judged it stale exactly one removes it, and a live holder's lock at the same
 * path is never moved, not even for a moment. A claim whose claimer died is itself removed this way.
 */
function removeStale(file: string, stale: Seen, depth = 0): boolean {
  if (depth > MAX_CLAIM_DEPTH) return false;
  const claim = entryPath(path.dirname(file), `.claim-${stale.instance}`);
  while (!createWhole(claim, JSON.stringify({ ...currentProcess(), token: uniqueName() }))) {
    const claimed = inspectLockFile(claim);
    if (claimed === undefined) {
      if (fs.existsSync(claim)) return false;
      continue;
    }
    if (!isStale(claimed) || !removeStale(claim, claimed, depth + 1)) return false;
  }
  try {
    // The same file: its inode and times, and its bytes, since a lock's token is never reused.
    const now = inspectLockFile(file);
    if (now?.instance !== stale.instance || now.raw !== stale.raw) return true;
    fs.rmSync(file, { force: true });
    if (depth === 0) log(`lock ${path.basename(file)}: took over from ${describeStale(stale)}`);
    return true;
  } finally {
    fs.rmSync(claim, { force: true });
  }
}

export interface LockOptions {
  dir: string;
  timeoutMs: number;
}

export interface Lock {
  release(): void;
}

/** The locks this process holds now, by file: a child it starts is registered in each. */
const held = new Map<string, Holder>();

function lockFile(dir: string, name: string): string {
  try {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch (error) {
    throw stateDirError(dir, error);
  }
  return entryPath(dir, `${name.replace(/[^A-Za-z0-9._-]/g, '_')}.lock`);
}

function lockOf(file: string, holder: Holder): Lock {
  held.set(file, holder);
  noteProgress(`took lock ${path.basename(file, '.lock')}`);
  return {
    release(): void {
      held.delete(file);
      if (readHolder(file)?.token === holder.token) fs.rmSync(file, { force: true });
    },
  };
}

/**
 * Records `child` in every lock this process holds, replacing each file whole (write aside, then
 * rename), so a reader sees the old holder record or the new one, never half of one.
 */
export function coverChildInHeldLocks(child: ProcessIdentity): void {
  for (const [file, holder] of held) {
    holder.children = [...(holder.children ?? []).filter(isAlive), child];
    const next = `${file}.${uniqueName()}.tmp`;
    try {
      if (readHolder(file)?.token !== holder.token) continue;
      fs.writeFileSync(next, JSON.stringify(holder), { mode: 0o600 });
      fs.renameSync(next, file);
    } catch (error) {
      fs.rmSync(next, { force: true });
      log(`lock ${path.basename(file)}: could not record child ${child.pid}: ${(error as Error).message}`);
    }
  }
}

/** Takes the lock now, or answers who holds it; a stale lock is taken over. */
function attempt(file: string): { lock: Lock } | { holder: Holder | undefined } {
  const holder: Holder = { ...currentProcess(), token: uniqueName() };
  for (;;) {
    if (createWhole(file, JSON.stringify(holder))) return { lock: lockOf(file, holder) };
    const seen = inspectLockFile(file);
    if (seen === undefined) {
      if (fs.existsSync(file)) return { holder: undefined };
      continue;
    }
    if (!isStale(seen)) return { holder: seen.holder };
    // Not removed: another process claimed it first and is taking it over now.
    if (!removeStale(file, seen)) return { holder: undefined };
  }
}

function whoHolds(holder: Holder | undefined): string {
  if (holder === undefined) return 'another call (pid unknown)';
  if (isAlive(holder)) return `another call (pid ${holder.pid})`;
  const child = (holder.children ?? []).find(isAlive);
  return `pid ${child?.pid}, started by a call (pid ${holder.pid}) that was stopped before it finished,`;
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
    if (Date.now() > deadline) throw new DriverError(`${whoHolds(outcome.holder)} has held the lock '${name}' for over ${options.timeoutMs / 1000} s; it will be retried`);
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
