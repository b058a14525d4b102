// Changing a machine's data disks: the plan (which LUN each new disk gets, which entries are marked
// toBeDetached) and the batching that lets many calls share one VM update.
//
// Batching across processes (each kubelet call is its own process): a call writes its request into
// the machine's queue directory, then tries to take the machine's lock. Whoever holds the lock
// drains the whole queue, makes one read (often from the cache) and one update for everything in
// it, writes each request's result file and lets go. Before it drains the queue, the holder waits
// while a burst is still arriving (see awaitBurst), so calls started together share one update.
// A caller whose request was in someone else's batch finds its result file and returns; requests
// that arrive after the queue was drained wait for the lock and go out together in the next
// update. So N concurrent attaches to one VM cost one update, not N, each disk gets its own LUN,
// and every caller learns its own disk's LUN from the machine as the update left it.
import * as crypto from 'node:crypto';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { DataDisk } from '@azure/arm-compute';
import { DriverError, describeError } from '../flexvolume/errors.ts';
import { tryAcquireLock } from '../system/lock.ts';
import { log } from '../system/log.ts';
import { currentProcess, isAlive, type ProcessIdentity } from '../system/process-identity.ts';
import { RecordStore } from '../system/state.ts';
import type { DataDiskChange } from './machines.ts';

export const MAX_LUN = 63;

export type CachingMode = 'None' | 'ReadOnly' | 'ReadWrite';

export type DiskRequest =
  | { op: 'attach'; diskUri: string; diskName: string; caching: CachingMode; writeAcceleratorEnabled: boolean }
  /**
   * `lun`: where the caller saw the disk, in a read made after its call began. The detach is
   * executed only while the disk is still there: a disk detached and attached again since (at
   * another LUN) belongs to whoever attached it again.
   */
  | { op: 'detach'; diskUri: string; lun: number };

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

export interface DataDiskPlan extends DataDiskChange {
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
  const addedIds = new Set<string>();
  const attach: DataDisk[] = [];
  const detach: string[] = [];
  const outcomes = requests.map((request): DiskOutcome | undefined => {
    const entry = findDataDisk(dataDisks, request.diskUri);
    if (request.op === 'attach') {
      if (entry !== undefined && entry.toBeDetached === true) {
        return {
          status: 'failed',
          message: `disk ${request.diskName} is still being detached from ${options.machineName}; the attach can go ahead once the detach is done (Kubernetes retries it)`,
        };
      }
      if (entry !== undefined) return addedIds.has(request.diskUri.toLowerCase()) ? undefined : { status: 'attached', lun: entry.lun };
      const lun = lowestFreeLun(dataDisks);
      if (lun === undefined) {
        return { status: 'failed', message: `all ${MAX_LUN + 1} LUNs of ${options.machineName} are in use; detach a disk first` };
      }
      const added: DataDisk = {
        lun,
        name: request.diskName,
        createOption: 'Attach',
        caching: request.caching,
        managedDisk: { id: request.diskUri },
        ...(request.writeAcceleratorEnabled && { writeAcceleratorEnabled: true }),
      };
      dataDisks.push(added);
      attach.push(added);
      addedIds.add(request.diskUri.toLowerCase());
      return undefined;
    }
    if (entry === undefined) return { status: 'detached' };
    if (entry.lun !== request.lun) return movedSince(request, entry, options.machineName);
    if (detach.some((uri) => sameDiskId(uri, request.diskUri))) return undefined;
    if (options.removeOnDetach) dataDisks.splice(dataDisks.indexOf(entry), 1);
    // An entry already marked is a detach that has not finished or has failed: sending it again
    // is how ARM is asked to retry it.
    else entry.toBeDetached = true;
    detach.push(request.diskUri);
    return undefined;
  });
  return { dataDisks, attach, detach, changed: attach.length + detach.length > 0, outcomes };
}

/** The disk is on the machine, but not at the LUN where the detach's caller saw it. */
function movedSince(request: DiskRequest & { op: 'detach' }, entry: DataDisk, machineName: string): DiskOutcome {
  return {
    status: 'failed',
    message:
      `disk ${request.diskUri} is attached to ${machineName} at LUN ${entry.lun}, not at LUN ${request.lun} where this detach saw it: ` +
      'it was detached and attached again meanwhile, so it is left attached; if it should go, the next detach sees it where it is now',
  };
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
  /** The process waiting for the outcome: once it is gone, nobody wants the change any more. */
  submitter: ProcessIdentity;
  /** When the submitter gives up (ms since the epoch); later, the request is not executed. */
  deadline: number;
}

interface QueuedResult {
  outcome: DiskOutcome;
  writtenAt: number;
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
/** When the lock holder sends the update for a burst of requests (see awaitBurst). */
export const BURST_TIMING = {
  /**
   * How long the first request waits for company. The calls the controller-manager starts
   * together (a pod's volumes) are processes that start at once and compete for the CPU: on 2
   * cores, the first of 16 queues its request 450 to 650 ms before the others, over 800 ms when
   * other work loads the host. A VM update takes 10 to 60 s, so a lone call can afford this wait;
   * a burst that misses it costs a second update.
   */
  firstWaitMs: 1000,
  /** Once others have come, the rest of a burst follows within tens of ms (at most 155 ms measured). */
  quietMs: 300,
  /** However many keep coming, the update goes out this long after the oldest request queued. */
  maxWaitMs: 2000,
};
/** A request this old was left by a call that has long given up (calls end within minutes). */
const ABANDONED_MS = 15 * 60_000;

/** A machine's queue: the requests waiting for an update, and the outcomes their callers collect. */
interface Queue {
  requests: RecordStore<QueuedRequest>;
  results: RecordStore<QueuedResult>;
}

function openQueue(options: QueueOptions): Queue {
  const dir = path.join(options.dir, options.key);
  return { requests: new RecordStore(path.join(dir, 'requests')), results: new RecordStore(path.join(dir, 'results')) };
}

// An id starts with the time its request was queued, so ids sort in arrival order and tell it.
const requestId = (submittedAt: number): string => `${submittedAt.toString().padStart(15, '0')}-${process.pid}-${crypto.randomBytes(4).toString('hex')}`;
const arrivedAt = (id: string): number => Number(id.slice(0, 15));
const queuedIds = (queue: Queue): string[] => queue.requests.keys().sort();

/** Queues one request for the machine and returns its outcome, whoever's update carried it. */
export async function submitDiskRequest(request: DiskRequest, options: QueueOptions, processBatch: BatchProcessor): Promise<DiskOutcome> {
  const queue = openQueue(options);
  const submittedAt = Date.now();
  const id = requestId(submittedAt);
  queue.requests.write(id, { request, submittedAt, submitter: currentProcess(), deadline: options.deadline });
  for (;;) {
    const outcome = takeResult(queue, id);
    if (outcome !== undefined) return outcome;
    const lock = tryAcquireLock(`batch-${options.key}`, options.dir);
    if (lock !== undefined) {
      try {
        // Whoever held the lock before may have carried this request already.
        if (queue.results.read(id) === undefined) {
          await awaitBurst(queue, options.deadline);
          await runBatch(queue, processBatch);
        }
      } finally {
        lock.release();
      }
      continue;
    }
    if (Date.now() > options.deadline) {
      queue.requests.delete(id);
      throw new DriverError(`gave up waiting for the update of ${options.describe}: other calls kept it busy; Kubernetes retries this call`);
    }
    await sleep(POLL_MS + Math.random() * POLL_MS);
  }
}

/**
 * The lock holder's wait before it drains the queue: until no request has come for quietMs, and
 * at least firstWaitMs after the oldest came, at most maxWaitMs after it and never past the
 * caller's deadline. Requests that waited for the lock through an update are old enough to go at
 * once. The lock stays held meanwhile, so the queue's snapshot, the read and the update are one.
 */
async function awaitBurst(queue: Queue, deadline: number): Promise<void> {
  for (;;) {
    const now = Date.now();
    const arrivals = queuedIds(queue)
      .map(arrivedAt)
      .filter((time) => now - time < ABANDONED_MS);
    if (arrivals.length === 0) return;
    const oldest = Math.min(...arrivals);
    const { firstWaitMs, quietMs, maxWaitMs } = BURST_TIMING;
    const until = Math.min(Math.max(oldest + firstWaitMs, Math.max(...arrivals) + quietMs), oldest + maxWaitMs, deadline);
    const left = until - now;
    if (left <= 0) return;
    await sleep(Math.min(left, POLL_MS));
  }
}

function takeResult(queue: Queue, id: string): DiskOutcome | undefined {
  const result = queue.results.read(id);
  if (result !== undefined) queue.results.delete(id);
  return result?.outcome;
}

/** The lock holder's part: one update for everything queued. */
async function runBatch(queue: Queue, processBatch: BatchProcessor): Promise<void> {
  const now = Date.now();
  // Results nobody came for: their callers gave up long ago.
  for (const id of queue.results.keys()) {
    const writtenAt = queue.results.read(id)?.writtenAt;
    if (writtenAt !== undefined && now - writtenAt > ABANDONED_MS) queue.results.delete(id);
  }
  const pending: { id: string; request: DiskRequest }[] = [];
  for (const id of queuedIds(queue)) {
    const queued = queue.requests.read(id);
    if (queued === undefined || queue.results.read(id) !== undefined || now - queued.submittedAt > ABANDONED_MS) {
      queue.requests.delete(id);
      continue;
    }
    const orphaned = orphanReason(queued, now);
    if (orphaned !== undefined) {
      log(`dropped, not executed: ${describeRequest(queued.request)} queued by process ${queued.submitter.pid}, which ${orphaned}`);
      // A submitter that is alive but out of time may still be looking: it gets an answer.
      if (isAlive(queued.submitter)) queue.results.write(id, { outcome: { status: 'failed', message: `the call ${orphaned} before its turn came` }, writtenAt: now });
      queue.requests.delete(id);
      continue;
    }
    pending.push({ id, request: queued.request });
  }
  if (pending.length === 0) return;
  log(`batch of ${pending.length}: ${pending.map(({ request }) => describeRequest(request)).join(', ')}`);
  let outcomes: DiskOutcome[];
  try {
    outcomes = await processBatch(pending.map(({ request }) => request));
  } catch (error) {
    if (!(error instanceof DriverError)) log(`batch failed: ${error instanceof Error ? error.stack : String(error)}`);
    outcomes = pending.map(() => ({ status: 'failed', message: describeError(error) }));
  }
  pending.forEach(({ id }, index) => {
    const outcome = outcomes[index] ?? { status: 'failed', message: 'the batch gave no answer for this request' };
    queue.results.write(id, { outcome, writtenAt: Date.now() });
    queue.requests.delete(id);
  });
}

/**
 * Why a queued request must not be executed, if it must not: a change nobody waits for any more
 * (its caller was killed, or has given up) would attach a disk for nobody, or detach one that was
 * attached again meanwhile for someone else.
 */
function orphanReason(queued: QueuedRequest, now: number): string | undefined {
  // Requests queued by an older driver carry no submitter: their age alone decides.
  if (queued.submitter !== undefined && !isAlive(queued.submitter)) return 'is gone (killed or crashed)';
  // The leader's own request goes out even at its deadline: its call's signal bounds the update.
  const own = queued.submitter !== undefined && queued.submitter.pid === process.pid;
  if (!own && queued.deadline !== undefined && now > queued.deadline) return 'ran out of time';
  return undefined;
}

function describeRequest(request: DiskRequest): string {
  return `${request.op} ${request.diskUri.split('/').pop()}`;
}
