// ARM throttling (429) is answered by waiting, not by retrying: every retry counts against the same
// quota and prolongs the storm (kubernetes #77108). Each call is its own process, so the wait is a
// file in the state dir that every process on the host consults before sending; reads (GET, HEAD)
// and writes have separate quotas in ARM and separate gates here.
import { DriverError } from '../flexvolume/errors.ts';
import { log } from '../system/log.ts';
import { RecordStore } from '../system/state.ts';

export type RequestClass = 'read' | 'write';

interface GateRecord {
  /** ms since the epoch. */
  until: number;
  /** The request that was answered 429, for the operator. */
  operation: string;
}

/** ARM always says how long to wait; this is for the rare answer that does not. */
const DEFAULT_WAIT_MS = 10_000;
/** A garbled Retry-After must not silence the host for days. */
const MAX_WAIT_MS = 30 * 60_000;

export class ThrottledError extends DriverError {
  override name = 'ThrottledError';
}

export function requestClassOf(method: string): RequestClass {
  return method === 'GET' || method === 'HEAD' ? 'read' : 'write';
}

export class ThrottleGate {
  private readonly store: RecordStore<GateRecord>;

  constructor(dir: string) {
    this.store = new RecordStore(dir);
  }

  /** Throws while ARM has asked this host to hold back requests of this class. */
  check(kind: RequestClass, now = Date.now()): void {
    const gate = this.store.read(kind);
    if (gate === undefined || gate.until <= now) return;
    throw new ThrottledError(
      `Azure Resource Manager is throttling ${kind}s from this host (429 on ${gate.operation}); ` +
        `no ${kind} is sent until ${new Date(gate.until).toISOString()} (${Math.ceil((gate.until - now) / 1000)} s from now), ` +
        'so this call did not contact Azure; Kubernetes retries it later',
    );
  }

  /** Closes the gate for `waitMs` (or longer if it already is); returns when it opens again. */
  close(kind: RequestClass, waitMs: number | undefined, operation: string, now = Date.now()): number {
    const until = now + Math.min(Math.max(waitMs ?? DEFAULT_WAIT_MS, 0), MAX_WAIT_MS);
    const current = this.store.read(kind);
    if (current !== undefined && current.until >= until) return current.until;
    this.store.write(kind, { until, operation });
    log(`ARM throttled ${operation}: ${kind}s from this host wait until ${new Date(until).toISOString()}`);
    return until;
  }
}

/**
 * How long a response asks the client to wait: `retry-after-ms` / `x-ms-retry-after-ms` (ms), or
 * `Retry-After` as seconds or an HTTP date. undefined when the response does not say.
 */
export function retryAfterMs(header: (name: string) => string | undefined, now = Date.now()): number | undefined {
  for (const name of ['retry-after-ms', 'x-ms-retry-after-ms']) {
    const value = Number(header(name));
    if (header(name) !== undefined && Number.isFinite(value) && value >= 0) return value;
  }
  const retryAfter = header('retry-after')?.trim();
  if (retryAfter === undefined || retryAfter === '') return undefined;
  if (/^\d+$/.test(retryAfter)) return Number(retryAfter) * 1000;
  const date = Date.parse(retryAfter);
  return Number.isNaN(date) ? undefined : Math.max(date - now, 0);
}
