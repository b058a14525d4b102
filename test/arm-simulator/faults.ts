// Injected failures: error answers (throttling, conflicts, outages), slow answers, and
// long-running operations that end Failed.
import type { SimResponse } from './http.ts';
import type { OperationError } from './state.ts';

export type FaultMethod = 'GET' | 'PUT' | 'PATCH' | 'POST' | 'DELETE';
export type FaultStatus = 408 | 409 | 429 | 500 | 503;

export interface Fault {
  method?: FaultMethod;
  /** Case-insensitive substring of the request path (the query is not searched). */
  pathIncludes?: string;
  /** Answer with this error instead of serving the request. */
  status?: FaultStatus;
  retryAfterSeconds?: number;
  retryAfterMs?: number;
  code?: string;
  message?: string;
  /** How many matching requests the fault applies to; default 1. */
  times?: number;
  /** Wait this long before answering (alone: a slow but otherwise normal answer). */
  delayMs?: number;
  /** Accept the write, then end its long-running operation Failed; the VM is left Failed. */
  failOperation?: boolean;
}

const DEFAULT_ERRORS: Record<FaultStatus, OperationError> = {
  408: { code: 'RequestTimeout', message: 'The request timed out.' },
  409: { code: 'Conflict', message: 'The request failed due to conflict with a concurrent request.' },
  429: { code: 'TooManyRequests', message: 'The request is being throttled as the limit has been reached for this operation group.' },
  500: { code: 'InternalServerError', message: 'An internal server error occurred.' },
  503: { code: 'ServiceUnavailable', message: 'The service is temporarily unavailable. Please retry later.' },
};

const DEFAULT_OPERATION_FAILURE: OperationError = {
  code: 'InternalExecutionError',
  message: 'An internal execution error occurred. Please retry later.',
};

interface ArmedFault {
  fault: Fault;
  remaining: number;
}

export class FaultList {
  private armed: ArmedFault[] = [];

  add(fault: Fault): void {
    if (fault.failOperation && fault.status !== undefined) throw new Error('a fault has either status or failOperation, not both');
    if (!fault.failOperation && fault.status === undefined && fault.delayMs === undefined) {
      throw new Error('a fault needs status, delayMs or failOperation');
    }
    this.armed.push({ fault, remaining: fault.times ?? 1 });
  }

  clear(): void {
    this.armed = [];
  }

  /** The first fault that applies to this request as it arrives (errors and delays), used up by one. */
  takeForRequest(method: string, path: string): Fault | undefined {
    return this.take(method, path, (fault) => !fault.failOperation);
  }

  /** Whether the operation this write just started must fail, and with what. */
  takeOperationFailure(method: string, path: string): OperationError | undefined {
    const fault = this.take(method, path, (f) => f.failOperation === true);
    if (!fault) return undefined;
    return { code: fault.code ?? DEFAULT_OPERATION_FAILURE.code, message: fault.message ?? DEFAULT_OPERATION_FAILURE.message };
  }

  private take(method: string, path: string, applies: (fault: Fault) => boolean): Fault | undefined {
    const found = this.armed.find(
      ({ fault }) =>
        applies(fault) &&
        (fault.method === undefined || fault.method === method) &&
        (fault.pathIncludes === undefined || path.toLowerCase().includes(fault.pathIncludes.toLowerCase())),
    );
    if (!found) return undefined;
    found.remaining--;
    if (found.remaining <= 0) this.armed = this.armed.filter((a) => a !== found);
    return found.fault;
  }
}

export function faultResponse(fault: Fault & { status: FaultStatus }): SimResponse {
  const defaults = DEFAULT_ERRORS[fault.status];
  return {
    status: fault.status,
    body: { error: { code: fault.code ?? defaults.code, message: fault.message ?? defaults.message } },
    headers: retryAfterHeaders(fault),
  };
}

function retryAfterHeaders(fault: Fault): Record<string, string> {
  if (fault.retryAfterMs !== undefined) {
    // Both forms: core-rest-pipeline prefers retry-after-ms; other clients only read Retry-After.
    return { 'retry-after-ms': String(fault.retryAfterMs), 'Retry-After': String(Math.ceil(fault.retryAfterMs / 1000)) };
  }
  if (fault.retryAfterSeconds !== undefined) return { 'Retry-After': String(fault.retryAfterSeconds) };
  // ARM always says when to come back after throttling.
  return fault.status === 429 ? { 'Retry-After': '1' } : {};
}
