// The ARM clients (Microsoft.Compute here, Microsoft.Storage for the provisioner), with the request policy this driver needs in place of the SDK's
// retry policy: the host-wide throttle gate is consulted before every attempt, a 429 closes it and
// fails the call (never retried in-process), 408 and 5xx are retried a bounded number of times, and
// every attempt is bounded in time.
import { setTimeout as sleep } from 'node:timers/promises';
import { ComputeManagementClient } from '@azure/arm-compute';
import type { TokenCredential } from '@azure/identity';
import type { Pipeline, PipelinePolicy, PipelineRequest, PipelineResponse } from '@azure/core-rest-pipeline';
import { log } from '../system/log.ts';
import type { ArmEndpoints } from './cloud-config.ts';
import { requestClassOf, retryAfterMs, ThrottledError, type ThrottleGate } from './throttle-gate.ts';

/** What every ARM client of this driver (Compute, and the provisioner's Storage) is made from. */
export interface ArmClientOptions {
  credential: TokenCredential;
  subscriptionId: string;
  endpoints: ArmEndpoints;
  gate: ThrottleGate;
  userAgent: string;
}

interface ArmClient {
  pipeline: Pipeline;
}

/** An SDK client for the cloud's endpoint, with armRequestPolicy in place of the SDK's retries. */
export function createArmClient<Client extends ArmClient>(
  Management: new (credential: TokenCredential, subscriptionId: string, settings: object) => Client,
  options: ArmClientOptions,
): Client {
  const client = new Management(options.credential, options.subscriptionId, {
    endpoint: options.endpoints.resourceManager,
    credentials: { scopes: [options.endpoints.scope] },
    userAgentOptions: { userAgentPrefix: options.userAgent },
  });
  client.pipeline.removePolicy({ name: 'defaultRetryPolicy' });
  client.pipeline.addPolicy(armRequestPolicy(options.gate), { phase: 'Retry' });
  return client;
}

/** cloud-provider-azure's azclient: 3 retries of 408 and 5xx (pkg/azclient/utils/options.go). */
const MAX_RETRIES = 3;
const FIRST_BACKOFF_MS = 1000;
/** A server asking for a longer pause than this gets a failure instead; the caller retries later. */
const MAX_RETRY_WAIT_MS = 20_000;
/** One HTTP exchange; long-running operations are many short exchanges. */
const ATTEMPT_TIMEOUT_MS = 60_000;

const RETRIED_STATUSES = new Set([408, 500, 502, 503, 504]);
const TRANSIENT_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'ETIMEDOUT', 'EPIPE', 'EAI_AGAIN', 'ENOTFOUND', 'REQUEST_SEND_ERROR']);

export function createComputeClient(options: ArmClientOptions): ComputeManagementClient {
  return createArmClient(ComputeManagementClient, options);
}

function describeRequest(method: string, url: string): string {
  return `${method} ${new URL(url).pathname}`;
}

function headerOf(response: PipelineResponse): (name: string) => string | undefined {
  return (name) => response.headers.get(name);
}

function isTransient(error: unknown): boolean {
  const { code, name } = error as { code?: string; name?: string };
  return name === 'AbortError' || (code !== undefined && TRANSIENT_CODES.has(code));
}

/** The pipeline's wrapAbortSignalLikePolicy has made the caller's signal a real AbortSignal. */
function abortSignalOf(request: PipelineRequest): AbortSignal | undefined {
  return request.abortSignal as AbortSignal | undefined;
}

function armRequestPolicy(gate: ThrottleGate): PipelinePolicy {
  return {
    name: 'flexvolumeArmRequestPolicy',
    async sendRequest(request, next) {
      const kind = requestClassOf(request.method);
      const operation = describeRequest(request.method, request.url);
      for (let attempt = 0; ; attempt++) {
        gate.check(kind);
        request.timeout = ATTEMPT_TIMEOUT_MS;
        let response: PipelineResponse;
        try {
          response = await next(request);
        } catch (error) {
          // The caller's signal is the call's deadline: once it fired, nothing is retried.
          if (request.abortSignal?.aborted || attempt >= MAX_RETRIES || !isTransient(error)) throw error;
          const wait = FIRST_BACKOFF_MS * 2 ** attempt;
          log(`${operation}: ${(error as Error).message}; retry ${attempt + 1} of ${MAX_RETRIES} in ${wait} ms`);
          await sleep(wait, undefined, { signal: abortSignalOf(request) });
          continue;
        }
        if (response.status === 429) {
          const until = gate.close(kind, retryAfterMs(headerOf(response)), operation);
          throw new ThrottledError(
            `Azure Resource Manager answered 429 (too many requests) to ${operation}; ` +
              `every ${kind} from this host now waits until ${new Date(until).toISOString()}; Kubernetes retries the call later`,
          );
        }
        if (!RETRIED_STATUSES.has(response.status) || attempt >= MAX_RETRIES) return response;
        const wait = retryAfterMs(headerOf(response)) ?? FIRST_BACKOFF_MS * 2 ** attempt;
        if (wait > MAX_RETRY_WAIT_MS) return response;
        log(`${operation}: HTTP ${response.status}; retry ${attempt + 1} of ${MAX_RETRIES} in ${wait} ms`);
        await sleep(wait, undefined, { signal: abortSignalOf(request) });
      }
    },
  };
}
