// Watches and informers through the real client-node: ADDED/MODIFIED/DELETED, resuming, 410 Gone
// and the relist it forces, bookmarks, selectors per event.
import { CoreV1Api, KubeConfig, makeInformer, type V1PersistentVolumeClaim } from '@kubernetes/client-node';
import { startKubeApiServer, type KubeApiServer } from './index.ts';
import { waitFor } from './support.ts';

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

/** A started informer that has seen claim `a` arrive over its watch. */
async function informerAfterClaimA() {
  const informer = claimInformer();
  await informer.start();
  await core.createNamespacedPersistentVolumeClaim({ namespace: 'default', body: claim('a') });
  await waitFor('the first claim', () => informer.get('a', 'default'));
  return informer;
}

test('after expireHistory the informer relists (410 Gone) and still converges', async () => {
  const informer = await informerAfterClaimA();
  try {
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

/** Raw watch lines, for what client-node does not show (bookmarks, per-event selectors, stream end). */
async function watchLines(path: string, until: (lines: Array<{ type: string; object: Record<string, any> }>) => boolean, timeoutMs = 5000) {
  const https = await import('node:https');
  const fs = await import('node:fs');
  const { CA_CERT_PATH } = await import('./index.ts');
  return new Promise<{ lines: Array<{ type: string; object: Record<string, any> }>; ended: boolean }>((resolve, reject) => {
    const lines: Array<{ type: string; object: Record<string, any> }> = [];
    let buffer = '';
    const timer = setTimeout(() => {
      request.destroy();
      resolve({ lines, ended: false });
    }, timeoutMs);
    const request = https.get(`${api.url}${path}`, { ca: fs.readFileSync(CA_CERT_PATH), headers: { authorization: `Bearer ${api.token}` } }, (response) => {
      response.on('data', (chunk: Buffer) => {
        buffer += chunk.toString('utf8');
        const parts = buffer.split('\n');
        buffer = parts.pop() ?? '';
        for (const part of parts) if (part) lines.push(JSON.parse(part));
        if (until(lines)) {
          clearTimeout(timer);
          request.destroy();
          resolve({ lines, ended: false });
        }
      });
      response.on('end', () => {
        clearTimeout(timer);
        resolve({ lines, ended: true });
      });
    });
    request.on('error', (error) => (error.message === 'socket hang up' ? undefined : reject(error)));
  });
}

test('bookmarks come when allowed, carrying only a resourceVersion', async () => {
  const created = await core.createNamespacedPersistentVolumeClaim({ namespace: 'default', body: claim('a') });
  const { lines } = await watchLines(`${CLAIMS_PATH}?watch=true&allowWatchBookmarks=true&resourceVersion=${created.metadata?.resourceVersion}`, (seen) => seen.some((line) => line.type === 'BOOKMARK'));
  const bookmark = lines.find((line) => line.type === 'BOOKMARK');
  expect(bookmark?.object).toEqual({ kind: 'PersistentVolumeClaim', apiVersion: 'v1', metadata: { resourceVersion: expect.stringMatching(/^\d+$/) } });
  const { lines: without } = await watchLines(`${CLAIMS_PATH}?watch=true&resourceVersion=${created.metadata?.resourceVersion}`, () => false, 300);
  expect(without).toEqual([]);
});

test('a watch from a forgotten resourceVersion gets ERROR 410 Expired and the stream ends', async () => {
  const created = await core.createNamespacedPersistentVolumeClaim({ namespace: 'default', body: claim('a') });
  api.expireHistory();
  const { lines, ended } = await watchLines(`${CLAIMS_PATH}?watch=true&resourceVersion=${created.metadata?.resourceVersion}`, () => false);
  expect(ended).toBe(true);
  expect(lines).toEqual([{ type: 'ERROR', object: expect.objectContaining({ kind: 'Status', status: 'Failure', reason: 'Expired', code: 410 }) }]);
});

test('a label-selected watch sees an object leave the selection as DELETED; timeoutSeconds ends it', async () => {
  const created = await core.createNamespacedPersistentVolumeClaim({ namespace: 'default', body: claim('a', { tier: 'gold' }) });
  const watching = watchLines(`${CLAIMS_PATH}?watch=true&labelSelector=tier%3Dgold&timeoutSeconds=1&resourceVersion=${created.metadata?.resourceVersion}`, () => false);
  await waitFor('the watch', () => api.openWatches() === 1);
  await core.patchNamespacedPersistentVolumeClaim({ name: 'a', namespace: 'default', body: [{ op: 'replace', path: '/metadata/labels/tier', value: 'silver' }] });
  await core.patchNamespacedPersistentVolumeClaim({ name: 'a', namespace: 'default', body: [{ op: 'replace', path: '/metadata/labels/tier', value: 'gold' }] });
  const { lines, ended } = await watching;
  expect(ended).toBe(true);
  expect(lines.map((line) => `${line.type} ${line.object.metadata.labels.tier}`)).toEqual(['DELETED silver', 'ADDED gold']);
});

test('resourceVersion 0 starts with ADDED for every object; the legacy /watch/ path works', async () => {
  await core.createNamespacedPersistentVolumeClaim({ namespace: 'default', body: claim('a') });
  await core.createNamespacedPersistentVolumeClaim({ namespace: 'default', body: claim('b') });
  const { lines } = await watchLines('/api/v1/watch/namespaces/default/persistentvolumeclaims?resourceVersion=0', (seen) => seen.length >= 2);
  expect(lines.map((line) => `${line.type} ${line.object.metadata.name}`)).toEqual(['ADDED a', 'ADDED b']);
  expect(lines[0]?.object.kind).toBe('PersistentVolumeClaim');
});

test('dropWatches ends streams and the informer resumes without a relist', async () => {
  const informer = await informerAfterClaimA();
  try {
    const lists = api.count((request) => !request.watch && request.method === 'GET');
    api.dropWatches();
    await waitFor('the reconnect', () => api.openWatches() === 1 && api.count({ watch: true }) === 2, 10000);
    await core.createNamespacedPersistentVolumeClaim({ namespace: 'default', body: claim('b') });
    await waitFor('b', () => informer.get('b', 'default'));
    expect(api.count((request) => !request.watch && request.method === 'GET')).toBe(lists);
  } finally {
    await informer.stop();
  }
});

test('history is kept per resource: churn elsewhere does not expire a watch, churn here does', async () => {
  await api.close();
  api = await startKubeApiServer({ binder: false, historyLimit: 3 });
  config.loadFromFile(api.kubeconfigPath);
  core = config.makeApiClient(CoreV1Api);
  const created = await core.createNamespacedPersistentVolumeClaim({ namespace: 'default', body: claim('a') });
  for (let index = 0; index < 5; index += 1) await core.createNamespacedSecret({ namespace: 'default', body: { metadata: { name: `s${index}` } } });
  const afterSecrets = await watchLines(`${CLAIMS_PATH}?watch=true&resourceVersion=${created.metadata?.resourceVersion}`, () => false, 200);
  expect(afterSecrets).toEqual({ lines: [], ended: false });
  for (let index = 0; index < 4; index += 1) await core.createNamespacedPersistentVolumeClaim({ namespace: 'default', body: claim(`c${index}`) });
  const afterClaims = await watchLines(`${CLAIMS_PATH}?watch=true&resourceVersion=${created.metadata?.resourceVersion}`, () => false);
  expect(afterClaims.lines.map((line) => line.type)).toEqual(['ERROR']);
  expect(afterClaims.lines[0]?.object.code).toBe(410);
});
