// Where the stand-in's own API and binder tests run: the stand-in by default, or the real API server
// (and kube-controller-manager) FLEXVOLUME_E2E_KUBECONFIG names, so that what the stand-in claims about
// the real one is checked against one. There each test gets its own namespace and uniquely named
// cluster-scoped objects, removed afterwards; tests of the stand-in's hooks are skipped.
import { randomBytes } from 'node:crypto';
import { CoreV1Api, EventsV1Api, KubeConfig, PatchStrategy, StorageV1Api, setHeaderOptions } from '@kubernetes/client-node';
import { REAL_CLUSTER_KUBECONFIG } from '../helpers/cluster.ts';
import { startKubeApiServer, type KubeApiServer } from './index.ts';

export interface Target {
  config: KubeConfig;
  core: CoreV1Api;
  storage: StorageV1Api;
  events: EventsV1Api;
  namespace: string;
  /** Present only on the stand-in. */
  standIn: KubeApiServer | undefined;
  /** A name for a cluster-scoped object (PV, StorageClass) unique to this test, removed at close. */
  unique(base: string): string;
  /** Removes this cluster-scoped object at close too (a PV named after a claim's uid). */
  track(name: string): void;
  close(): Promise<void>;
}

/**
 * Opens a target before each test and closes it after, failing the test if the stand-in's binder
 * had a write refused; `use` receives each test's target.
 */
export function forEachTest(use: (target: Target) => void): void {
  let current: Target | undefined;
  beforeEach(async () => {
    current = await openTarget();
    use(current);
  });
  afterEach(async () => {
    const binderErrors = current?.standIn?.binderErrors() ?? [];
    await current?.close();
    expect(binderErrors).toEqual([]);
  });
}

/** Tests of what only the stand-in has (faults, the request log, its command line). */
export const standInOnly = REAL_CLUSTER_KUBECONFIG === undefined ? test : test.skip;

function clients(config: KubeConfig): Pick<Target, 'config' | 'core' | 'storage' | 'events'> {
  return { config, core: config.makeApiClient(CoreV1Api), storage: config.makeApiClient(StorageV1Api), events: config.makeApiClient(EventsV1Api) };
}

export async function openTarget(): Promise<Target> {
  const config = new KubeConfig();
  if (REAL_CLUSTER_KUBECONFIG === undefined) {
    const standIn = await startKubeApiServer();
    config.loadFromFile(standIn.kubeconfigPath);
    return { ...clients(config), namespace: 'default', standIn, unique: (base) => base, track: () => undefined, close: () => standIn.close() };
  }
  config.loadFromFile(REAL_CLUSTER_KUBECONFIG);
  const api = clients(config);
  const run = randomBytes(3).toString('hex');
  const namespace = `stand-in-check-${run}`;
  await api.core.createNamespace({ body: { metadata: { name: namespace } } });
  const names = new Set<string>();
  return {
    ...api,
    namespace,
    standIn: undefined,
    unique: (base) => {
      const name = `${base}-${run}`;
      names.add(name);
      return name;
    },
    track: (name) => names.add(name),
    close: async () => {
      const merge = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
      const ignore = () => undefined;
      // Finalizers a test left would keep the namespace Terminating for ever.
      for (const claim of (await api.core.listNamespacedPersistentVolumeClaim({ namespace })).items) {
        await api.core.patchNamespacedPersistentVolumeClaim({ name: claim.metadata?.name ?? '', namespace, body: { metadata: { finalizers: null } } }, merge).catch(ignore);
      }
      for (const name of names) {
        await api.core.patchPersistentVolume({ name, body: { metadata: { finalizers: null } } }, merge).catch(ignore);
        await api.core.deletePersistentVolume({ name }).catch(ignore);
        await api.storage.deleteStorageClass({ name }).catch(ignore);
      }
      await api.core.deleteNamespace({ name: namespace }).catch(ignore);
    },
  };
}
