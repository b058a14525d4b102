// A stand-in Kubernetes API server for the provisioner's tests: HTTPS on 127.0.0.1, the real wire
// format and conventions for the resources the provisioner uses, bearer-token auth, a request log,
// injected faults, and (by default) a binder playing kube-controller-manager. Test fixture only.
import * as fs from 'node:fs';
import type * as http from 'node:http';
import * as https from 'node:https';
import * as os from 'node:os';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { stringify as toYaml } from 'yaml';
import { Binder } from './binder.ts';
import { ApiError, statusForCode, unauthorized, pathNotFound } from './errors.ts';
import { type ObjectAccess, objectAccess } from './object-access.ts';
import { type ApiReply, type ApiRequest, documentFor, parseRoute, serveResource } from './routes.ts';
import { ObjectStore } from './store.ts';
import { WatchHub } from './watch.ts';

export { ANN_BETA_STORAGE_PROVISIONER, ANN_BIND_COMPLETED, ANN_BOUND_BY_CONTROLLER, ANN_SELECTED_NODE, ANN_STORAGE_PROVISIONER } from './binder.ts';
export { PVC_PROTECTION_FINALIZER, PV_PROTECTION_FINALIZER } from './strategies.ts';
export type { KubeObject, ObjectAccess, ResourceName } from './object-access.ts';

export interface KubeApiServerOptions {
  /** 0 (the default) picks a free port. */
  port?: number;
  /** The bearer token every request must carry; random by default. */
  token?: string;
  /** Play kube-controller-manager (PV controller, expand controller, pvc/pv-protection); default true. */
  binder?: boolean;
  /** How long after a change the binder acts; default 5 ms. */
  binderDelayMs?: number;
  /** Period of BOOKMARK events on watches that allow them; default 1000 ms (the real server: about a minute). */
  bookmarkIntervalMs?: number;
  /** Changes kept for watches to resume from; default 1000. */
  historyLimit?: number;
}

export interface LoggedRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  contentType: string;
  /** 0 while the answer is pending; 200 for a watch once its stream has started. */
  status: number;
  /** Arrival, ms since the epoch. */
  time: number;
  watch: boolean;
  /** The `Warning` headers of the answer (unknown fields dropped). */
  warnings: string[];
}

export interface RequestFilter {
  method?: string;
  /** Case-insensitive substring of the path. */
  pathIncludes?: string;
  status?: number;
  contentType?: string;
  watch?: boolean;
}

export interface KubeFault {
  method?: string;
  /** Case-insensitive substring of the request path. */
  pathIncludes?: string;
  status: number;
  message?: string;
  /** Matching requests it applies to; default 1. */
  times?: number;
}

export interface KubeApiServer {
  /** `https://127.0.0.1:<port>`, no trailing slash; the certificate is CA_CERT_PATH's. */
  url: string;
  token: string;
  /** A kubeconfig file (current context: this server with its CA, the bearer token, namespace default). */
  kubeconfigPath: string;
  /** Every request, oldest first (live array). */
  requests: LoggedRequest[];
  count(filter?: RequestFilter | ((request: LoggedRequest) => boolean)): number;
  objects: ObjectAccess;
  injectFault(fault: KubeFault): void;
  /** Forgets the watch history and ends every watch: a client resuming from an older resourceVersion gets 410 Gone. */
  expireHistory(): void;
  /** Ends every open watch; clients reconnect from their last resourceVersion. */
  dropWatches(): void;
  /** Open watch streams. */
  openWatches(): number;
  /** The binder's failed writes (empty when it is off or all went well). */
  binderErrors(): string[];
  close(): Promise<void>;
}

/** The ARM simulator's self-signed certificate for 127.0.0.1: client-node refuses plain HTTP, as it should. */
export const CA_CERT_PATH = fileURLToPath(new URL('../arm-simulator/tls/cert.pem', import.meta.url));
const KEY_PATH = fileURLToPath(new URL('../arm-simulator/tls/key.pem', import.meta.url));

const UNAUTHENTICATED_PATHS = new Set(['/healthz', '/livez', '/readyz', '/version']);

export async function startKubeApiServer(options: KubeApiServerOptions = {}): Promise<KubeApiServer> {
  const token = options.token ?? randomBytes(16).toString('hex');
  const binderEnabled = options.binder ?? true;
  const store = new ObjectStore({ historyLimit: options.historyLimit ?? 1000, protectionFinalizers: binderEnabled });
  const watches = new WatchHub(store, options.bookmarkIntervalMs ?? 1000);
  const binder = binderEnabled ? new Binder(store, options.binderDelayMs ?? 5) : undefined;
  const faults: Array<KubeFault & { remaining: number }> = [];
  const requests: LoggedRequest[] = [];
  let url = '';

  const takeFault = (method: string, requestPath: string): KubeFault | undefined => {
    const fault = faults.find(
      (candidate) =>
        candidate.remaining > 0 &&
        (candidate.method === undefined || candidate.method.toUpperCase() === method) &&
        (candidate.pathIncludes === undefined || requestPath.toLowerCase().includes(candidate.pathIncludes.toLowerCase())),
    );
    if (fault) fault.remaining -= 1;
    return fault;
  };

  const answer = (request: ApiRequest, authorization: string | undefined, res: http.ServerResponse): ApiReply | undefined => {
    if (request.path === '/healthz' || request.path === '/livez' || request.path === '/readyz') return { status: 200, body: 'ok' };
    if (!UNAUTHENTICATED_PATHS.has(request.path) && authorization !== `Bearer ${token}`) throw unauthorized();
    const fault = takeFault(request.method, request.path);
    if (fault) throw statusForCode(fault.status, fault.message);
    const document = documentFor(request.path, url.replace(/^https:\/\//, ''));
    if (document) return document;
    const route = parseRoute(request.path);
    if (!route) throw pathNotFound();
    return serveResource({ store, watches }, route, request, res);
  };

  const handle = async (message: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    const parsed = new URL(message.url ?? '/', 'http://127.0.0.1');
    const chunks: Buffer[] = [];
    for await (const chunk of message) chunks.push(chunk as Buffer);
    const request: ApiRequest = {
      method: message.method ?? 'GET',
      path: parsed.pathname,
      query: parsed.searchParams,
      contentType: message.headers['content-type'] ?? '',
      body: Buffer.concat(chunks).toString('utf8'),
    };
    const entry: LoggedRequest = {
      method: request.method,
      path: request.path,
      query: Object.fromEntries(request.query),
      contentType: request.contentType,
      status: 0,
      time: Date.now(),
      watch: request.path.includes('/watch/') || ['true', '1'].includes(request.query.get('watch') ?? ''),
      warnings: [],
    };
    requests.push(entry);
    let reply: ApiReply | undefined;
    try {
      reply = answer(request, message.headers.authorization, res);
    } catch (error) {
      reply = error instanceof ApiError ? errorReply(error) : errorReply(statusForCode(500, `stand-in bug: ${String(error)}`));
    }
    if (reply === undefined) {
      entry.status = 200;
      return;
    }
    entry.status = reply.status;
    if (reply.warnings) entry.warnings = reply.warnings;
    send(res, reply);
  };

  const server = https.createServer({ cert: fs.readFileSync(CA_CERT_PATH), key: fs.readFileSync(KEY_PATH) }, (message, res) => {
    handle(message, res).catch(() => res.destroy());
  });
  server.listen(options.port ?? 0, '127.0.0.1');
  await once(server, 'listening');
  url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const kubeconfigDir = fs.mkdtempSync(path.join(os.tmpdir(), 'kube-apiserver-'));
  const kubeconfigPath = path.join(kubeconfigDir, 'kubeconfig');
  fs.writeFileSync(kubeconfigPath, kubeconfig(url, token), { mode: 0o600 });

  return {
    url,
    token,
    kubeconfigPath,
    requests,
    count: (filter = {}) => requests.filter(typeof filter === 'function' ? filter : (entry) => matchesFilter(entry, filter)).length,
    objects: objectAccess(store),
    injectFault: (fault) => {
      faults.push({ ...fault, remaining: fault.times ?? 1 });
    },
    expireHistory: () => {
      store.expireHistory();
      watches.dropAll();
    },
    dropWatches: () => watches.dropAll(),
    openWatches: () => watches.openCount,
    binderErrors: () => [...(binder?.errors ?? [])],
    close: async () => {
      binder?.stop();
      watches.dropAll();
      // Clients keep connections alive; closing them is what lets `close` finish now.
      const closed = once(server, 'close');
      server.close();
      server.closeAllConnections();
      await closed;
      fs.rmSync(kubeconfigDir, { recursive: true, force: true });
    },
  };
}

/** A refusal as its Status; throttling also says when to come back, as API Priority and Fairness does. */
function errorReply(error: ApiError): ApiReply {
  const retryAfter = error.details?.retryAfterSeconds;
  return { status: error.code, body: error.toStatus(), ...(retryAfter !== undefined ? { headers: { 'retry-after': String(retryAfter) } } : {}) };
}

function send(res: http.ServerResponse, reply: ApiReply): void {
  const isText = typeof reply.body === 'string';
  const payload = isText ? (reply.body as string) : JSON.stringify(reply.body);
  res.writeHead(reply.status, {
    'content-type': isText ? 'text/plain; charset=utf-8' : 'application/json',
    'content-length': Buffer.byteLength(payload),
    'cache-control': 'no-cache, private',
    ...reply.headers,
  });
  res.end(payload);
}

function kubeconfig(server: string, token: string): string {
  return toYaml({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'stand-in', cluster: { server, 'certificate-authority-data': fs.readFileSync(CA_CERT_PATH).toString('base64') } }],
    users: [{ name: 'stand-in-user', user: { token } }],
    contexts: [{ name: 'stand-in', context: { cluster: 'stand-in', user: 'stand-in-user', namespace: 'default' } }],
    'current-context': 'stand-in',
  });
}

function matchesFilter(entry: LoggedRequest, filter: RequestFilter): boolean {
  return (
    (filter.method === undefined || entry.method === filter.method.toUpperCase()) &&
    (filter.pathIncludes === undefined || entry.path.toLowerCase().includes(filter.pathIncludes.toLowerCase())) &&
    (filter.status === undefined || entry.status === filter.status) &&
    (filter.contentType === undefined || entry.contentType.startsWith(filter.contentType)) &&
    (filter.watch === undefined || entry.watch === filter.watch)
  );
}
