// Changing a machine's data disks: the plan (which LUN each new disk gets, which entries are marked
// toBeDetached) and the batching that lets many calls share one VM update.
//
// Batching across processes (each kubelet call is its own process): a call writes its request into
// the machine's queue directory, then tries to take the machine's lock. Whoever holds the lock
// drains the whole queue, makes one read (often from the cache) and one update for everything in
// it, writes each request's result file and lets go. A caller whose request was in someone else's
// batch finds its result file and returns; requests that arrive while an update is in flight wait
// for the lock and go out together in the next update. So N concurrent attaches to one VM cost
// about two updates, not N, each disk gets its own LUN, and every caller learns its own disk's
// LUN from the machine as the update left it.
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { DataDisk } from '@azure/arm-compute';
import { DriverError, describeError } from '../flexvolume/errors.ts';
import { acquireLock, type Lock } from '../system/lock.ts';
import { log } from '../system/log.ts';

export const MAX_LUN = 63;

export type CachingMode = 'None' | 'ReadOnly' | 'ReadWrite';

export type DiskRequest =
  | { op: 'attach'; diskUri: string; diskName: string; caching: CachingMode; writeAcceleratorEnabled: boolean }
  | { op: 'detach'; diskUri: string };

export type DiskOutcome =
  | { status: 'attached'; lun: number }
  | { status: 'detached' }
  /** The VM or instance does not exist (any more). */
  | { status: 'machine-gone' }
  | { status: 'failed'; message: string };

export const sameDiskId = (a: string | undefined, b: string): boolean => a !== undefined && a.toLowerCase() === b.toLowerCase();

export function findDataDisk(dataDisks: readonly DataDisk[], diskUri: string): DataDisk | undefined {
  return dataDisks.find((disk) => sameDiskId(disk.managedDisk?.id, diskUri));
}

/** The lowest LUN no entry uses, entries still being detached included; undefined when all 64 are. */
export function lowestFreeLun(dataDisks: readonly Pick<DataDisk, 'lun'>[]): number | undefined {
  const taken = new Set(dataDisks.map((disk) => disk.lun));
  for (let lun = 0; lun <= MAX_LUN; lun++) if (!taken.has(lun)) return lun;
  return undefined;
}

export interface DataDiskPlan {
  /** The complete list to send. */
  dataDisks: DataDisk[];
  /** Whether an update is needed at all. */
  changed: boolean;
  /** Per request: decided now, or undefined when the update's result decides. */
  outcomes: (DiskOutcome | undefined)[];
}

export interface PlanOptions {
  /** Azure Stack has no toBeDetached: the entry is removed instead. */
  removeOnDetach: boolean;
  machineName: string;
}

export function planDataDisks(current: readonly DataDisk[], requests: readonly DiskRequest[], options: PlanOptions): DataDiskPlan {
  const dataDisks: DataDisk[] = structuredClone([...current]);
  const added = new Set<string>();
  let changed = false;
  const outcomes = requests.map((request): DiskOutcome | undefined => {
    const entry = findDataDisk(dataDisks, request.diskUri);
    if (request.op === 'attach') {
      if (entry !== undefined && entry.toBeDetached === true) {
        return {
          status: 'failed',
          message: `disk ${request.diskName} is still being detached from ${options.machineName}; the attach can go ahead once the detach is done (Kubernetes retries it)`,
        };
      }
      if (entry !== undefined) return added.has(request.diskUri.toLowerCase()) ? undefined : { status: 'attached', lun: entry.lun };
      const lun = lowestFreeLun(dataDisks);
      if (lun === undefined) {
        return { status: 'failed', message: `all ${MAX_LUN + 1} LUNs of ${options.machineName} are in use; detach a disk first` };
      }
      dataDisks.push({
        lun,
        name: request.diskName,
        createOption: 'Attach',
        caching: request.caching,
        managedDisk: { id: request.diskUri },
        ...(request.writeAcceleratorEnabled && { writeAcceleratorEnabled: true }),
      });
      added.add(request.diskUri.toLowerCase());
      changed = true;
      return undefined;
    }
    if (entry === undefined) return { status: 'detached' };
    if (options.removeOnDetach) dataDisks.splice(dataDisks.indexOf(entry), 1);
    // An entry already marked is a detach that has not finished or has failed: sending it again
    // is how ARM is asked to retry it.
    else entry.toBeDetached = true;
    changed = true;
    return undefined;
  });
  return { dataDisks, changed, outcomes };
}

/** What the machine, as the update left it, says about each request the plan left open. */
export function outcomesAfterUpdate(
  result: readonly DataDisk[],
  requests: readonly DiskRequest[],
  plan: DataDiskPlan,
  machineName: string,
): DiskOutcome[] {
  return requests.map((request, index) => {
    const decided = plan.outcomes[index];
    if (decided !== undefined) return decided;
    const entry = findDataDisk(result, request.diskUri);
    const attached = entry !== undefined && entry.toBeDetached !== true;
    if (request.op === 'detach') {
      return attached
        ? { status: 'failed', message: `${machineName} still lists disk ${request.diskUri} after the detach update; Kubernetes retries it` }
        : { status: 'detached' };
    }
    return attached
      ? { status: 'attached', lun: entry.lun }
      : { status: 'failed', message: `the update of ${machineName} finished but it does not list disk ${request.diskName}; Kubernetes retries the attach` };
  });
}

// ---- the cross-process queue ----

interface QueuedRequest {
  request: DiskRequest;
  submittedAt: number;
}

export interface QueueOptions {
  /** Holds one directory per machine. */
  dir: string;
  /** The machine's key (file-name safe). */
  key: string;
  /** ms since the epoch after which the caller gives up. */
  deadline: number;
  describe: string;
}

export type BatchProcessor = (requests: DiskRequest[]) => Promise<DiskOutcome[]>;

const POLL_MS = 20;
/**
 * The first request of a burst waits this long before its update goes out, so that the calls the
 * controller-manager starts together (a StatefulSet's pods) share one update instead of two: a
 * VM update takes 10 to 60 s, this costs a single attach a quarter of a second.
 */
const BATCH_WINDOW_MS = 250;
/** A request this old was left by a call that has long given up (calls end within minutes). */
const ABANDONED_MS = 15 * 60_000;

function writeAtomically(file: string, value: unknown): void {
  const temporary = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(temporary, JSON.stringify(value), { mode: 0o600 });
  fs.renameSync(temporary, file);
}

function readJson<T>(file: string): T | undefined {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as T;
  } catch {
    return undefined;
  }
}

const requestFile = (dir: string, id: string): string => path.join(dir, `${id}.request.json`);
const resultFile = (dir: string, id: string): string => path.join(dir, `${id}.result.json`);

async function tryLock(name: string, dir: string): Promise<Lock | undefined> {
  try {
    return await acquireLock(name, { dir, timeoutMs: 0 });
  } catch (error) {
    if (error instanceof DriverError) return undefined;
    throw error;
  }
}

/** Queues one request for the machine and returns its outcome, whoever's update carried it. */
export async function submitDiskRequest(request: DiskRequest, options: QueueOptions, processBatch: BatchProcessor): Promise<DiskOutcome> {
  const queue = path.join(options.dir, options.key);
  fs.mkdirSync(queue, { recursive: true, mode: 0o700 });
  // Names sort in arrival order, so a batch applies requests in the order they came.
  const submittedAt = Date.now();
  const id = `${submittedAt.toString().padStart(15, '0')}-${process.pid}-${crypto.randomBytes(4).toString('hex')}`;
  writeAtomically(requestFile(queue, id), { request, submittedAt } satisfies QueuedRequest);
  for (;;) {
    const outcome = takeResult(queue, id);
    if (outcome !== undefined) return outcome;
    const lock = await tryLock(`batch-${options.key}`, options.dir);
    if (lock !== undefined) {
      try {
        // Whoever held the lock before may have carried this request already. A request that
        // waited for the lock has company by now; the first of a burst waits for it.
        if (!fs.existsSync(resultFile(queue, id))) {
          await sleep(Math.max(0, submittedAt + BATCH_WINDOW_MS - Date.now()));
          await runBatch(queue, processBatch);
        }
      } finally {
        lock.release();
      }
      continue;
    }
    if (Date.now() > options.deadline) {
      fs.rmSync(requestFile(queue, id), { force: true });
      throw new DriverError(`gave up waiting for the update of ${options.describe}: other calls kept it busy; Kubernetes retries this call`);
    }
    await sleep(POLL_MS + Math.random() * POLL_MS);
  }
}

function takeResult(queue: string, id: string): DiskOutcome | undefined {
  const file = resultFile(queue, id);
  const outcome = readJson<DiskOutcome>(file);
  if (outcome !== undefined) fs.rmSync(file, { force: true });
  return outcome;
}

/** The lock holder's part: one update for everything queued. */
async function runBatch(queue: string, processBatch: BatchProcessor): Promise<void> {
  const now = Date.now();
  const pending: { id: string; request: DiskRequest }[] = [];
  for (const name of fs.readdirSync(queue).sort()) {
    const id = name.endsWith('.request.json') ? name.slice(0, -'.request.json'.length) : undefined;
    if (id === undefined) {
      if (name.endsWith('.result.json') && now - fs.statSync(path.join(queue, name)).mtimeMs > ABANDONED_MS) {
        fs.rmSync(path.join(queue, name), { force: true });
      }
      continue;
    }
    const queued = readJson<QueuedRequest>(requestFile(queue, id));
    if (queued === undefined || fs.existsSync(resultFile(queue, id)) || now - queued.submittedAt > ABANDONED_MS) {
      fs.rmSync(requestFile(queue, id), { force: true });
      continue;
    }
    pending.push({ id, request: queued.request });
  }
  if (pending.length === 0) return;
  log(`batch of ${pending.length}: ${pending.map(({ request }) => `${request.op} ${request.diskUri.split('/').pop()}`).join(', ')}`);
  let outcomes: DiskOutcome[];
  try {
    outcomes = await processBatch(pending.map(({ request }) => request));
  } catch (error) {
    if (!(error instanceof DriverError)) log(`batch failed: ${error instanceof Error ? error.stack : String(error)}`);
    outcomes = pending.map(() => ({ status: 'failed', message: describeError(error) }));
  }
  pending.forEach(({ id }, index) => {
    writeAtomically(resultFile(queue, id), outcomes[index] ?? { status: 'failed', message: 'the batch gave no answer for this request' });
    fs.rmSync(requestFile(queue, id), { force: true });
  });
}
