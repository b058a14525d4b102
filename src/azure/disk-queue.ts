// The batching that lets many calls share one update of a node's machine.
//
// Each kubelet or controller-manager call is its own process. A call writes its request into the
// node's queue directory as its very first step (it needs nothing from Azure for that), then tries
// to take the node's lock. Whoever holds the lock is the leader: it waits while a burst is still
// arriving (see awaitBurst), drains the whole queue, does all the Azure work for it (one session,
// one fresh read, one conditional update), writes each request's result file and lets go. A
// follower never touches Azure: it sleeps until its result file appears or the lock is let go
// (inotify on both directories, with a slow re-check), and returns the outcome. Requests that
// arrive after the queue was drained go out together in the next update. So N concurrent attaches
// to one VM cost one update, each disk gets its own LUN, and every caller learns its own outcome.
//
// A request records who is waiting for it (pid and start time) and until when: a request whose
// caller is gone, or out of time, is dropped, never executed (a change nobody waits for any more
// would attach a disk for nobody, or detach one that was attached again meanwhile for someone else).
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { DriverError, describeError } from '../flexvolume/errors.ts';
import { watchDirs } from '../system/dir-watch.ts';
import { tryAcquireLock } from '../system/lock.ts';
import { log } from '../system/log.ts';
import { currentProcess, isAlive, type ProcessIdentity } from '../system/process-identity.ts';
import { RecordStore } from '../system/state.ts';
import type { DiskOutcome } from './data-disks.ts';

/** What the queue needs of a request: the rest is the batch processor's business. */
export interface QueueableRequest {
  op: string;
  diskUri: string;
}

interface QueuedRequest<R> {
  request: R;
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
  /** Holds one directory per node. */
  dir: string;
  /** The node's key (file-name safe). */
  key: string;
  /** ms since the epoch after which the caller gives up. */
  deadline: number;
  describe: string;
  /**
   * Pids of calls for this node that have started, queued or not yet: the leader waits for those
   * not yet queued (a burst the host's load spreads out), at most maxArrivalMs.
   */
  arriving?: () => number[];
}

export type BatchProcessor<R> = (requests: R[]) => Promise<DiskOutcome[]>;

/** The leader's pace while it waits for a burst to finish arriving. */
const BURST_POLL_MS = 20;
/** A follower re-checks this often even when no inotify event came (a lost event, a dead leader). */
const SAFETY_RECHECK_MS = 1000;
/** When the lock holder sends the update for a burst of requests (see awaitBurst). */
export const BURST_TIMING = {
  /**
   * How long the first request waits for company. The calls the controller-manager starts
   * together (a pod's volumes) are processes that start at once and compete for the CPU; each
   * queues its request as its first step, so on 2 cores a burst of 16 to 32 has queued within a
   * few hundred ms. A VM update takes 10 to 60 s, so a lone call can afford this wait; a burst
   * that misses it costs a second update.
   */
  firstWaitMs: 1000,
  /** Once others have come, the rest of a burst follows within tens of ms (at most 155 ms measured). */
  quietMs: 300,
  /** However many keep coming, the update goes out this long after the oldest request queued. */
  maxWaitMs: 2000,
  /**
   * While calls of the burst have started but not queued yet, the leader waits for them up to this
   * long after the oldest request: 32 processes starting on 2 cores that other work keeps busy
   * (load average 10) take seconds to queue, with gaps longer than quietMs.
   */
  maxArrivalMs: 10_000,
  /** How often the leader looks for such calls once the wait above would have ended. */
  arrivalPollMs: 100,
};
/** A request this old was left by a call that has long given up (calls end within minutes). */
const ABANDONED_MS = 15 * 60_000;

/** A node's queue: the requests waiting for an update, and the outcomes their callers collect. */
interface Queue<R> {
  dir: string;
  requests: RecordStore<QueuedRequest<R>>;
  results: RecordStore<QueuedResult>;
}

function openQueue<R>(options: QueueOptions): Queue<R> {
  const dir = path.join(options.dir, options.key);
  return { dir, requests: new RecordStore(path.join(dir, 'requests')), results: new RecordStore(path.join(dir, 'results')) };
}

// An id starts with the time its request was queued, so ids sort in arrival order and tell it.
// The pid and a random suffix only keep two ids of one millisecond apart, which needs no secrecy:
// Math.random spares every azuredisk call loading node:crypto (~5 ms).
const randomSuffix = (): string => Math.floor(Math.random() * 0x1_0000_0000).toString(16).padStart(8, '0');
const requestId = (submittedAt: number): string => `${submittedAt.toString().padStart(15, '0')}-${process.pid}-${randomSuffix()}`;
const arrivedAt = (id: string): number => Number(id.slice(0, 15));
const submitterPid = (id: string): number => Number(id.split('-')[1]);
const queuedIds = <R>(queue: Queue<R>): string[] => queue.requests.keys().sort();

/** Queues one request for the node and returns its outcome, whoever's update carried it. */
export async function submitDiskRequest<R extends QueueableRequest>(request: R, options: QueueOptions, processBatch: BatchProcessor<R>): Promise<DiskOutcome> {
  const queue = openQueue<R>(options);
  // Watching before queueing: a result written at once is not missed.
  const watch = watchDirs([queue.results.dir, options.dir]);
  try {
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
            await awaitBurst(queue, options);
            await runBatch(queue, processBatch);
          }
        } finally {
          lock.release();
        }
        continue;
      }
      const left = options.deadline - Date.now();
      if (left <= 0) {
        queue.requests.delete(id);
        throw new DriverError(`gave up waiting for the update of ${options.describe}: other calls kept it busy; Kubernetes retries this call`);
      }
      await watch.changed(Math.min(left, SAFETY_RECHECK_MS));
    }
  } finally {
    watch.close();
  }
}

/**
 * The lock holder's wait before it drains the queue: until no request has come for quietMs, and
 * at least firstWaitMs after the oldest came, at most maxWaitMs after it and never past the
 * caller's deadline; then for as long as calls for the node have started without queueing yet
 * (up to maxArrivalMs). Requests that waited for the lock through an update are old enough to go
 * at once. The lock stays held meanwhile, so the queue's snapshot, the read and the update are one.
 */
async function awaitBurst<R>(queue: Queue<R>, options: QueueOptions): Promise<void> {
  const { firstWaitMs, quietMs, maxWaitMs, maxArrivalMs, arrivalPollMs } = BURST_TIMING;
  for (;;) {
    const now = Date.now();
    const ids = queuedIds(queue).filter((id) => now - arrivedAt(id) < ABANDONED_MS);
    if (ids.length === 0) return;
    const arrivals = ids.map(arrivedAt);
    const oldest = Math.min(...arrivals);
    const until = Math.min(Math.max(oldest + firstWaitMs, Math.max(...arrivals) + quietMs), oldest + maxWaitMs, options.deadline);
    if (until > now) {
      await sleep(Math.min(until - now, BURST_POLL_MS));
      continue;
    }
    if (options.arriving === undefined || now >= Math.min(oldest + maxArrivalMs, options.deadline)) return;
    const queuedPids = new Set(ids.map(submitterPid));
    if (!options.arriving().some((pid) => !queuedPids.has(pid))) return;
    await sleep(arrivalPollMs);
  }
}

function takeResult<R>(queue: Queue<R>, id: string): DiskOutcome | undefined {
  const result = queue.results.read(id);
  if (result !== undefined) queue.results.delete(id);
  return result?.outcome;
}

/** The lock holder's part: one update for everything queued. */
async function runBatch<R extends QueueableRequest>(queue: Queue<R>, processBatch: BatchProcessor<R>): Promise<void> {
  const now = Date.now();
  // Results nobody came for: their callers gave up long ago.
  for (const id of queue.results.keys()) {
    const writtenAt = queue.results.read(id)?.writtenAt;
    if (writtenAt !== undefined && now - writtenAt > ABANDONED_MS) queue.results.delete(id);
  }
  const pending = pendingRequests(queue, now);
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

/** The requests the batch carries, in arrival order; the rest (done, abandoned, orphaned) are cleared. */
function pendingRequests<R extends QueueableRequest>(queue: Queue<R>, now: number): { id: string; request: R }[] {
  const pending: { id: string; request: R }[] = [];
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
  return pending;
}

/** Why a queued request must not be executed, if it must not. */
function orphanReason<R>(queued: QueuedRequest<R>, now: number): string | undefined {
  // Requests queued by an older driver carry no submitter: their age alone decides.
  if (queued.submitter !== undefined && !isAlive(queued.submitter)) return 'is gone (killed or crashed)';
  // The leader's own request goes out even at its deadline: its call's signal bounds the update.
  const own = queued.submitter !== undefined && queued.submitter.pid === process.pid;
  if (!own && queued.deadline !== undefined && now > queued.deadline) return 'ran out of time';
  return undefined;
}

function describeRequest(request: QueueableRequest): string {
  return `${request.op} ${request.diskUri.split('/').pop()}`;
}
