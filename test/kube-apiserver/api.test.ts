// The stand-in checked through the real @kubernetes/client-node: what it sends and expects is
// the point, so the assertions look at wire-level shapes (Status objects, resourceVersions, codes).
import { CoreV1Api, KubeConfig, StorageV1Api, type V1PersistentVolumeClaim } from '@kubernetes/client-node';
import { startKubeApiServer, type KubeApiServer } from './index.ts';
import { rawRequest } from './raw-http.ts';

let api: KubeApiServer;
let core: CoreV1Api;
let storage: StorageV1Api;

beforeEach(async () => {
  api = await startKubeApiServer({ binder: false });
  const config = new KubeConfig();
  config.loadFromFile(api.kubeconfigPath);
  core = config.makeApiClient(CoreV1Api);
  storage = config.makeApiClient(StorageV1Api);
});

afterEach(async () => {
  await api.close();
});

function claim(name: string, size = '1Gi'): V1PersistentVolumeClaim {
  return { metadata: { name }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: size } }, storageClassName: 'fast' } };
}

/** The Status body of a refused call, whatever shape client-node hands the error in. */
async function refusal(call: Promise<unknown>): Promise<{ code: number; body: Record<string, unknown> }> {
  try {
    await call;
  } catch (error) {
    const { code, body } = error as { code: number; body: unknown };
    return { code, body: (typeof body === 'string' ? JSON.parse(body) : body) as Record<string, unknown> };
  }
  throw new Error('the call succeeded');
}

describe('objects', () => {
  test('create gives uid, creationTimestamp and a resourceVersion from one global counter; 201', async () => {
    const first = await core.createNamespacedPersistentVolumeClaimWithHttpInfo({ namespace: 'default', body: claim('a') });
    expect(first.httpStatusCode).toBe(201);
    const created = first.data;
    expect(created.metadata?.uid).toMatch(/^[0-9a-f-]{36}$/);
    expect(created.metadata?.creationTimestamp).toBeInstanceOf(Date);
    expect(created.status?.phase).toBe('Pending');
    expect(created.spec?.volumeMode).toBe('Filesystem');
    const secret = await core.createNamespacedSecret({ namespace: 'default', body: { metadata: { name: 's' }, stringData: { key: 'value' } } });
    expect(Number(secret.metadata?.resourceVersion)).toBeGreaterThan(Number(created.metadata?.resourceVersion));
  });

  test('a second create is 409 AlreadyExists with the real Status shape', async () => {
    await core.createNamespacedPersistentVolumeClaim({ namespace: 'default', body: claim('a') });
    const { code, body } = await refusal(core.createNamespacedPersistentVolumeClaim({ namespace: 'default', body: claim('a') }));
    expect(code).toBe(409);
    expect(body).toEqual({
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: 'persistentvolumeclaims "a" already exists',
      reason: 'AlreadyExists',
      details: { name: 'a', kind: 'persistentvolumeclaims' },
      code: 409,
    });
  });

  test('a group resource names its group in errors; a missing object is 404 NotFound', async () => {
    const { code, body } = await refusal(storage.readStorageClass({ name: 'nope' }));
    expect(code).toBe(404);
    expect(body).toMatchObject({ reason: 'NotFound', message: 'storageclasses.storage.k8s.io "nope" not found', details: { name: 'nope', group: 'storage.k8s.io', kind: 'storageclasses' }, code: 404 });
  });

  test('an update with a stale resourceVersion is 409 Conflict; with the current one it succeeds', async () => {
    const created = await core.createNamespacedPersistentVolumeClaim({ namespace: 'default', body: claim('a') });
    const fresh = { ...created, metadata: { ...created.metadata, labels: { step: 'one' } } };
    const updated = await core.replaceNamespacedPersistentVolumeClaim({ name: 'a', namespace: 'default', body: fresh });
    expect(updated.metadata?.labels).toEqual({ step: 'one' });
    expect(updated.metadata?.resourceVersion).not.toBe(created.metadata?.resourceVersion);
    const stale = { ...created, metadata: { ...created.metadata, labels: { step: 'two' } } };
    const { code, body } = await refusal(core.replaceNamespacedPersistentVolumeClaim({ name: 'a', namespace: 'default', body: stale }));
    expect(code).toBe(409);
    expect(body).toMatchObject({
      reason: 'Conflict',
      message: 'Operation cannot be fulfilled on persistentvolumeclaims "a": the object has been modified; please apply your changes to the latest version and try again',
    });
  });

  test('an update that changes nothing keeps the resourceVersion', async () => {
    const created = await core.createNamespacedPersistentVolumeClaim({ namespace: 'default', body: claim('a') });
    const again = await core.replaceNamespacedPersistentVolumeClaim({ name: 'a', namespace: 'default', body: created });
    expect(again.metadata?.resourceVersion).toBe(created.metadata?.resourceVersion);
  });

  test('list carries the collection resourceVersion and items without kind; selectors filter', async () => {
    await core.createNamespacedPersistentVolumeClaim({ namespace: 'default', body: { ...claim('a'), metadata: { name: 'a', labels: { app: 'x' } } } });
    await core.createNamespacedPersistentVolumeClaim({ namespace: 'default', body: { ...claim('b'), metadata: { name: 'b', labels: { app: 'y' } } } });
    const response = await rawRequest(api, 'GET', '/api/v1/namespaces/default/persistentvolumeclaims?labelSelector=app%20in%20(x,z)');
    const list = response.json() as unknown as { kind: string; metadata: { resourceVersion: string }; items: Array<Record<string, unknown>> };
    expect(list.kind).toBe('PersistentVolumeClaimList');
    expect(list.items.map((item) => (item.metadata as { name: string }).name)).toEqual(['a']);
    expect(list.items[0]).not.toHaveProperty('kind');
    const byName = await core.listPersistentVolumeClaimForAllNamespaces({ fieldSelector: 'metadata.name=b' });
    expect(byName.items.map((item) => item.metadata?.name)).toEqual(['b']);
    expect(Number(byName.metadata?.resourceVersion)).toBeGreaterThan(0);
  });

  test('requests without the bearer token are 401 Unauthorized', async () => {
    const response = await rawRequest(api, 'GET', '/api/v1/namespaces/default/persistentvolumeclaims', { token: null });
    expect(response.status).toBe(401);
    expect(response.json()).toMatchObject({ kind: 'Status', reason: 'Unauthorized', code: 401 });
    const wrong = await rawRequest(api, 'GET', '/api/v1/nodes', { token: 'wrong' });
    expect(wrong.status).toBe(401);
    const config = new KubeConfig();
    config.loadFromFile(api.kubeconfigPath);
    const wrongToken = new KubeConfig();
    wrongToken.loadFromOptions({ clusters: config.clusters, contexts: config.contexts, currentContext: config.currentContext, users: [{ name: config.users[0]?.name ?? '', token: 'wrong' }] });
    const { code } = await refusal(wrongToken.makeApiClient(CoreV1Api).listNode());
    expect(code).toBe(401);
  });

  test('Secret stringData is folded into base64 data and not stored', async () => {
    const secret = await core.createNamespacedSecret({ namespace: 'default', body: { metadata: { name: 's' }, type: 'azure/azurefile', stringData: { azurestorageaccountkey: 'k3y' } } });
    expect(secret.data).toEqual({ azurestorageaccountkey: Buffer.from('k3y').toString('base64') });
    expect(secret.stringData).toBeUndefined();
    expect(api.objects.get('secrets', 's', 'default')).not.toHaveProperty('stringData');
  });
});
