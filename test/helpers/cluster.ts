// The Kubernetes API the provisioner's tests run against: the stand-in API server (with its binder
// playing kube-controller-manager), or, when FLEXVOLUME_E2E_KUBECONFIG names a kubeconfig, that
// real cluster. Tests create, read and delete objects through the same calls either way; what only
// the stand-in can do (fault injection, request counts) sits behind `standIn`.
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createInterface } from 'node:readline';
import { parseAllDocuments } from 'yaml';
import { setTimeout as sleep } from 'node:timers/promises';
import { KubeConfig, KubernetesObjectApi, type KubernetesObject } from '@kubernetes/client-node';
import { startKubeApiServer, type KubeApiServer, type KubeObject } from '../kube-apiserver/index.ts';
import type { ArmSimulator } from '../arm-simulator/index.ts';
import { SEA } from './sandbox.ts';

export const REAL_CLUSTER_KUBECONFIG = process.env.FLEXVOLUME_E2E_KUBECONFIG;

const KINDS: Record<string, { apiVersion: string; kind: string; namespaced: boolean }> = {
  pvc: { apiVersion: 'v1', kind: 'PersistentVolumeClaim', namespaced: true },
  pv: { apiVersion: 'v1', kind: 'PersistentVolume', namespaced: false },
  storageclass: { apiVersion: 'storage.k8s.io/v1', kind: 'StorageClass', namespaced: false },
  node: { apiVersion: 'v1', kind: 'Node', namespaced: false },
  secret: { apiVersion: 'v1', kind: 'Secret', namespaced: true },
  event: { apiVersion: 'v1', kind: 'Event', namespaced: true },
  lease: { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', namespaced: true },
  namespace: { apiVersion: 'v1', kind: 'Namespace', namespaced: false },
};
export type Kind = keyof typeof KINDS;

export interface TestCluster {
  kubeconfigPath: string;
  /** Where the test's claims, Secrets and the Lease live. */
  namespace: string;
  /** Present only on the stand-in API server. */
  standIn: KubeApiServer | undefined;
  create(object: KubeObject): Promise<KubeObject>;
  get(kind: Kind, name: string, namespace?: string): Promise<KubeObject | undefined>;
  list(kind: Kind, namespace?: string): Promise<KubeObject[]>;
  /** Replaces the object (its resourceVersion, if set, must be current). */
  update(object: KubeObject): Promise<KubeObject>;
  delete(kind: Kind, name: string, namespace?: string): Promise<void>;
  close(): Promise<void>;
}

export async function startCluster(): Promise<TestCluster> {
  return REAL_CLUSTER_KUBECONFIG === undefined ? startStandIn() : connectRealCluster(REAL_CLUSTER_KUBECONFIG);
}

export async function startStandIn(): Promise<TestCluster> {
  const server = await startKubeApiServer();
  const clone = <T>(value: T): T => structuredClone(value);
  return {
    kubeconfigPath: server.kubeconfigPath,
    namespace: 'default',
    standIn: server,
    create: async (object) => clone(server.objects.create(clone(object))),
    get: async (kind, name, namespace) => clone(server.objects.get(kind, name, namespace)),
    list: async (kind, namespace) => clone(server.objects.list(kind, namespace)),
    update: async (object) => clone(server.objects.update(clone(object))),
    delete: async (kind, name, namespace) => {
      try {
        server.objects.delete(kind, name, namespace);
      } catch (error) {
        if (!/not found/i.test((error as Error).message)) throw error;
      }
    },
    close: () => server.close(),
  };
}

async function connectRealCluster(kubeconfigPath: string): Promise<TestCluster> {
  const config = new KubeConfig();
  config.loadFromFile(kubeconfigPath);
  const api = KubernetesObjectApi.makeApiClient(config);
  const namespace = `flexvolume-e2e-${Math.random().toString(36).slice(2, 8)}`;
  await api.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } });
  const header = (kind: Kind, name: string, ns?: string) => {
    const { apiVersion, kind: k, namespaced } = KINDS[kind] as (typeof KINDS)[Kind];
    return { apiVersion, kind: k, metadata: { name, ...(namespaced && { namespace: ns ?? namespace }) } };
  };
  const asObject = (object: KubernetesObject) => JSON.parse(JSON.stringify(object)) as KubeObject;
  /** Cluster-scoped objects outlive the test namespace: they are deleted one by one at the end. */
  const created: KubeObject[] = [];
  return {
    kubeconfigPath,
    namespace,
    standIn: undefined,
    create: async (object) => {
      const made = asObject(await api.create(object as KubernetesObject));
      created.push(made);
      return made;
    },
    get: async (kind, name, ns) => {
      try {
        return asObject(await api.read(header(kind, name, ns)));
      } catch (error) {
        if ((error as { code?: number }).code === 404) return undefined;
        throw error;
      }
    },
    list: async (kind, ns) => {
      const { apiVersion, kind: k, namespaced } = KINDS[kind] as (typeof KINDS)[Kind];
      return (await api.list(apiVersion, k, namespaced ? (ns ?? namespace) : undefined)).items.map(asObject);
    },
    update: async (object) => asObject(await api.replace(object as KubernetesObject)),
    delete: async (kind, name, ns) => {
      try {
        await api.delete(header(kind, name, ns));
      } catch (error) {
        if ((error as { code?: number }).code !== 404) throw error;
      }
    },
    close: async () => {
      for (const object of created.reverse()) {
        const metadata = object.metadata as { name?: string; namespace?: string } | undefined;
        if (metadata?.namespace === undefined) await api.delete(object as KubernetesObject).catch(() => undefined);
      }
      await api.delete({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } }).catch(() => undefined);
    },
  };
}

/** Polls `read` until it returns something other than undefined/false. */
export async function waitFor<T>(what: string, read: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(50);
  }
}

// What the provisioner tests do to a cluster as a user or the kubelet would, and what they wait for.
type Json = Record<string, any>;

/** Whatever the provisioner asked of the API server, install/provisioner.yaml's RBAC must allow. */
export function expectRequestsWithinRbac(cluster: TestCluster): void {
  // Only the stand-in records requests; a real cluster enforces the RBAC itself.
  if (cluster.standIn) expect(requestsOutsideRbac(cluster.standIn.requests)).toEqual([]);
}

export async function createStorageClass(cluster: TestCluster, name: string, provisioner: string, spec: Json = {}): Promise<string> {
  await cluster.create({ apiVersion: 'storage.k8s.io/v1', kind: 'StorageClass', metadata: { name }, provisioner, reclaimPolicy: 'Delete', ...spec });
  return name;
}

export async function createClaim(cluster: TestCluster, name: string, spec: Json): Promise<Json> {
  return (await cluster.create({ apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: { name, namespace: cluster.namespace }, spec })) as Json;
}

/** The PV a claim is bound to, once it is Bound. */
export async function boundVolume(cluster: TestCluster, pvc: Json): Promise<Json> {
  return waitFor(`claim ${pvc.metadata.name} Bound`, async () => {
    const current = (await cluster.get('pvc', pvc.metadata.name, cluster.namespace)) as Json | undefined;
    return current?.status?.phase === 'Bound' ? ((await cluster.get('pv', current.spec.volumeName)) as Json) : undefined;
  });
}

/** A claim's size raised, as a user edits it. */
export async function growClaim(cluster: TestCluster, pvc: Json, storage: string): Promise<void> {
  const current = (await cluster.get('pvc', pvc.metadata.name, cluster.namespace)) as Json;
  current.spec.resources.requests.storage = storage;
  await cluster.update(current);
}

export async function eventsOf(cluster: TestCluster, name: string): Promise<Json[]> {
  return ((await cluster.list('event', cluster.namespace)) as Json[]).filter((event) => event.involvedObject?.name === name);
}

export async function waitForEvent(cluster: TestCluster, name: string, reason: string): Promise<Json> {
  return waitFor(`event ${reason} on ${name}`, async () => (await eventsOf(cluster, name)).find((event) => event.reason === reason));
}

export interface ProvisionerProcess {
  child: ChildProcess;
  identity: string;
  /** Every stdout line so far. */
  lines: string[];
  metricsUrl: Promise<string>;
  waitForLine(pattern: RegExp, timeoutMs?: number): Promise<string>;
  /** SIGTERM, then the exit code. */
  stop(): Promise<number | null>;
  /** SIGKILL: a crash at whatever point it was. */
  kill(): Promise<void>;
}

export interface ProvisionerRun {
  cluster: TestCluster;
  sim: ArmSimulator;
  identity?: string;
  args?: string[];
  env?: NodeJS.ProcessEnv;
  /** The executable: the standalone binary by default. */
  executable?: string;
}

/** Test-speed waits: retries from 200 ms, the Lease in seconds rather than 15. */
export const FAST_FLAGS = ['--retry-base-ms', '200', '--retry-max-ms', '2000', '--save-interval-ms', '100', '--resync-ms', '2000'];
export const FAST_LEASE = ['--lease-duration-ms', '3000', '--renew-deadline-ms', '2000', '--retry-period-ms', '300'];

let runs = 0;

/** Runs the BUILT provisioner as a process, as its Deployment does, against the cluster and the ARM simulator. */
export function startProvisioner(run: ProvisionerRun): ProvisionerProcess {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'provisioner-'));
  const azureConfig = path.join(dir, 'azure.json');
  fs.writeFileSync(azureConfig, JSON.stringify(run.sim.cloudConfig()), { mode: 0o600 });
  const identity = run.identity ?? `provisioner-${++runs}`;
  const args = [
    'provisioner',
    '--kubeconfig', run.cluster.kubeconfigPath,
    '--namespace', run.cluster.namespace,
    '--identity', identity,
    '--azure-config', azureConfig,
    '--listen', '127.0.0.1:0',
    '--state-dir', path.join(dir, 'state'),
    '--mount-dir', path.join(dir, 'mounts'),
    ...FAST_FLAGS,
    ...FAST_LEASE,
    ...(run.args ?? []),
  ];
  const child = spawn(run.executable ?? SEA, args, {
    env: { ...process.env, NODE_EXTRA_CA_CERTS: run.sim.caCertPath, ...run.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  const listeners = new Set<() => void>();
  const onLine = (line: string) => {
    lines.push(line);
    if (process.env.PROVISIONER_TEST_LOG) process.stderr.write(`[${identity}] ${line}\n`);
    for (const listener of listeners) listener();
  };
  createInterface({ input: child.stdout! }).on('line', onLine);
  createInterface({ input: child.stderr! }).on('line', (line) => onLine(`(stderr) ${line}`));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  void exited.then(() => fs.rmSync(dir, { recursive: true, force: true }));
  const waitForLine = (pattern: RegExp, timeoutMs = 20_000) =>
    new Promise<string>((resolve, reject) => {
      const check = () => {
        const found = lines.find((line) => pattern.test(line));
        if (found === undefined) return;
        clearTimeout(timer);
        listeners.delete(check);
        resolve(found);
      };
      const timer = setTimeout(() => {
        listeners.delete(check);
        reject(new Error(`no line matching ${pattern} within ${timeoutMs} ms; output:\n${lines.join('\n')}`));
      }, timeoutMs);
      listeners.add(check);
      check();
    });
  return {
    child,
    identity,
    lines,
    metricsUrl: waitForLine(/serving \/healthz and \/metrics on /).then((line) => `http://${/ on (\S+)$/.exec(line)?.[1] ?? ''}`),
    waitForLine,
    stop: async () => {
      if (child.exitCode === null) child.kill('SIGTERM');
      return exited;
    },
    kill: async () => {
      if (child.exitCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}

interface RbacRule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
  resourceNames?: string[];
}

/** The ClusterRole's and the Role's rules of install/provisioner.yaml. */
export function manifestRules(): { cluster: RbacRule[]; namespaced: RbacRule[] } {
  const text = fs.readFileSync(path.join(path.dirname(SEA), '../install/provisioner.yaml'), 'utf8');
  const documents = yamlParse(text) as Array<{ kind: string; rules?: RbacRule[] }>;
  return {
    cluster: documents.find((document) => document.kind === 'ClusterRole')?.rules ?? [],
    namespaced: documents.find((document) => document.kind === 'Role')?.rules ?? [],
  };
}

function yamlParse(text: string): unknown[] {
  return parseAllDocuments(text).map((document) => document.toJS());
}

const API_PATH = /^\/(?:api\/v1|apis\/([^/]+)\/[^/]+)(?:\/namespaces\/([^/]+))?\/([^/]+)(?:\/([^/]+))?(?:\/(status))?$/;

/** The (group, resource, verb) of each request the provisioner sent that the manifest's RBAC does not allow. */
export function requestsOutsideRbac(requests: ReadonlyArray<{ method: string; path: string; query: Record<string, string>; watch: boolean }>): string[] {
  const { cluster, namespaced } = manifestRules();
  const refused: string[] = [];
  for (const request of requests) {
    const match = API_PATH.exec(request.path);
    if (!match) continue;
    const [, group = '', namespace, resource = '', name] = match;
    const verb = { GET: name ? 'get' : request.watch ? 'watch' : 'list', POST: 'create', PUT: 'update', PATCH: 'patch', DELETE: 'delete' }[request.method] ?? request.method;
    const allows = (rule: RbacRule) =>
      rule.apiGroups.includes(group) && rule.resources.includes(resource) && rule.verbs.includes(verb) && (rule.resourceNames === undefined || (name !== undefined && rule.resourceNames.includes(name)));
    const allowed = cluster.some(allows) || (namespace === 'kube-system' || resource === 'leases' ? namespaced.some(allows) : false);
    if (!allowed) refused.push(`${verb} ${group}/${resource}${name ? `/${name}` : ''}`);
  }
  return [...new Set(refused)];
}
