// Watches and informers through the real client-node: ADDED/MODIFIED/DELETED, resuming, 410 Gone
// and the relist it forces, bookmarks, selectors per event.
import { CoreV1Api, KubeConfig, makeInformer, type V1PersistentVolumeClaim } from '@kubernetes/client-node';
import { startKubeApiServer, type KubeApiServer } from './index.ts';
import { waitFor } from './wait.ts';

let api: KubeApiServer;
let config: KubeConfig;
let core: CoreV1Api;

beforeEach(async () => {
  api = await startKubeApiServer({ binder: false, bookmarkIntervalMs: 50 });
  config = new KubeConfig();
  config.loadFromFile(api.kubeconfigPath);
  core = config.makeApiClient(CoreV1Api);
});

afterEach(async () => {
  await api.close();
});

function claim(name: string, labels: Record<string, string> = {}): V1PersistentVolumeClaim {
  return { metadata: { name, labels }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } } };
}

const CLAIMS_PATH = '/api/v1/namespaces/default/persistentvolumeclaims';

function claimInformer(labelSelector?: string) {
  return makeInformer(config, CLAIMS_PATH, () => core.listNamespacedPersistentVolumeClaim({ namespace: 'default', ...(labelSelector ? { labelSelector } : {}) }), labelSelector);
}

test('an informer sees ADDED, MODIFIED and DELETED in order', async () => {
  await core.createNamespacedPersistentVolumeClaim({ namespace: 'default', body: claim('before') });
  const seen: string[] = [];
  const informer = claimInformer();
  informer.on('add', (obj) => seen.push(`add ${obj.metadata?.name}`));
  informer.on('update', (obj) => seen.push(`update ${obj.metadata?.name} ${JSON.stringify(obj.metadata?.labels ?? {})}`));
  informer.on('delete', (obj) => seen.push(`delete ${obj.metadata?.name}`));
  await informer.start();
  try {
    await waitFor('the listed claim', () => seen.includes('add before'));
    await core.createNamespacedPersistentVolumeClaim({ namespace: 'default', body: claim('a') });
    await core.patchNamespacedPersistentVolumeClaim({ name: 'a', namespace: 'default', body: [{ op: 'add', path: '/metadata/labels/x', value: 'y' }] });
    await core.deleteNamespacedPersistentVolumeClaim({ name: 'a', namespace: 'default' });
    await waitFor('the delete', () => seen.includes('delete a'));
    expect(seen).toEqual(['add before', 'add a', 'update a {"x":"y"}', 'delete a']);
    expect(api.count({ watch: true })).toBe(1);
  } finally {
    await informer.stop();
  }
});

test('after expireHistory the informer relists (410 Gone) and still converges', async () => {
  const informer = claimInformer();
  await informer.start();
  try {
    await core.createNamespacedPersistentVolumeClaim({ namespace: 'default', body: claim('a') });
    await waitFor('the first claim', () => informer.get('a', 'default'));
    const listsBefore = api.count((request) => request.method === 'GET' && !request.watch && request.path === CLAIMS_PATH);
    api.expireHistory();
    // Written while no watch is open: only the relist can bring it.
    await core.createNamespacedPersistentVolumeClaim({ namespace: 'default', body: claim('b') });
    await waitFor('the claim created during the gap', () => informer.get('b', 'default'), 10000);
    expect(api.count((request) => request.method === 'GET' && !request.watch && request.path === CLAIMS_PATH)).toBe(listsBefore + 1);
  } finally {
    await informer.stop();
  }
});
