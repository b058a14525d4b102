// The stand-in checked through the real @kubernetes/client-node: what it sends and expects is
// the point, so the assertions look at wire-level shapes (Status objects, resourceVersions, codes).
// With FLEXVOLUME_E2E_KUBECONFIG they run against that real API server instead (see target.ts),
// which checks the stand-in's claims; the tests of its own hooks are then skipped.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import { CoreV1Api, KubeConfig, KubernetesObjectApi, PatchStrategy, StorageV1Api, setHeaderOptions, type V1PersistentVolumeClaim } from '@kubernetes/client-node';
import type { KubeApiServer } from './index.ts';
import { rawRequest } from './raw-http.ts';
import { refusal, waitFor } from './support.ts';
import { forEachTest, standInOnly, type Target } from './target.ts';

let target: Target;
let core: CoreV1Api;
let storage: StorageV1Api;
let ns: string;

forEachTest((opened) => {
  target = opened;
  ({ core, storage, namespace: ns } = opened);
});

/** The stand-in, in the tests that only it can pass (standInOnly). */
function standIn(): KubeApiServer {
  if (!target.standIn) throw new Error('this test needs the stand-in');
  return target.standIn;
}

function claim(name: string, size = '1Gi'): V1PersistentVolumeClaim {
  return { metadata: { name }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: size } }, storageClassName: 'fast' } };
}

describe('objects', () => {
  test('create gives uid, creationTimestamp and a resourceVersion from one global counter; 201', async () => {
    const first = await core.createNamespacedPersistentVolumeClaimWithHttpInfo({ namespace: ns, body: claim('a') });
    expect(first.httpStatusCode).toBe(201);
    const created = first.data;
    expect(created.metadata?.uid).toMatch(/^[0-9a-f-]{36}$/);
    expect(created.metadata?.creationTimestamp).toBeInstanceOf(Date);
    expect(created.status?.phase).toBe('Pending');
    expect(created.spec?.volumeMode).toBe('Filesystem');
    const secret = await core.createNamespacedSecret({ namespace: ns, body: { metadata: { name: 's' }, stringData: { key: 'value' } } });
    expect(Number(secret.metadata?.resourceVersion)).toBeGreaterThan(Number(created.metadata?.resourceVersion));
  });

  test('a second create is 409 AlreadyExists with the real Status shape', async () => {
    await core.createNamespacedPersistentVolumeClaim({ namespace: ns, body: claim('a') });
    const { code, body } = await refusal(core.createNamespacedPersistentVolumeClaim({ namespace: ns, body: claim('a') }));
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
    const name = target.unique('nope');
    const { code, body } = await refusal(storage.readStorageClass({ name }));
    expect(code).toBe(404);
    expect(body).toMatchObject({ reason: 'NotFound', message: `storageclasses.storage.k8s.io "${name}" not found`, details: { name, group: 'storage.k8s.io', kind: 'storageclasses' }, code: 404 });
  });

  test('an update with a stale resourceVersion is 409 Conflict; with the current one it succeeds', async () => {
    const created = await core.createNamespacedPersistentVolumeClaim({ namespace: ns, body: claim('a') });
    const fresh = { ...created, metadata: { ...created.metadata, labels: { step: 'one' } } };
    const updated = await core.replaceNamespacedPersistentVolumeClaim({ name: 'a', namespace: ns, body: fresh });
    expect(updated.metadata?.labels).toEqual({ step: 'one' });
    expect(updated.metadata?.resourceVersion).not.toBe(created.metadata?.resourceVersion);
    const stale = { ...created, metadata: { ...created.metadata, labels: { step: 'two' } } };
    const { code, body } = await refusal(core.replaceNamespacedPersistentVolumeClaim({ name: 'a', namespace: ns, body: stale }));
    expect(code).toBe(409);
    expect(body).toMatchObject({
      reason: 'Conflict',
      message: 'Operation cannot be fulfilled on persistentvolumeclaims "a": the object has been modified; please apply your changes to the latest version and try again',
    });
  });

  test('an update that changes nothing keeps the resourceVersion', async () => {
    const created = await core.createNamespacedPersistentVolumeClaim({ namespace: ns, body: claim('a') });
    const again = await core.replaceNamespacedPersistentVolumeClaim({ name: 'a', namespace: ns, body: created });
    expect(again.metadata?.resourceVersion).toBe(created.metadata?.resourceVersion);
  });

  test('list carries the collection resourceVersion and items without kind; selectors filter', async () => {
    await core.createNamespacedPersistentVolumeClaim({ namespace: ns, body: { ...claim('a'), metadata: { name: 'a', labels: { app: 'x' } } } });
    await core.createNamespacedPersistentVolumeClaim({ namespace: ns, body: { ...claim('b'), metadata: { name: 'b', labels: { app: 'y' } } } });
    const response = await rawRequest(target.config, 'GET', `/api/v1/namespaces/${ns}/persistentvolumeclaims?labelSelector=app%20in%20(x,z)`);
    const list = response.json() as unknown as { kind: string; metadata: { resourceVersion: string }; items: Array<Record<string, unknown>> };
    expect(list.kind).toBe('PersistentVolumeClaimList');
    expect(list.items.map((item) => (item.metadata as { name: string }).name)).toEqual(['a']);
    expect(list.items[0]).not.toHaveProperty('kind');
    const byName = await core.listPersistentVolumeClaimForAllNamespaces({ fieldSelector: 'metadata.name=b' });
    expect(byName.items.map((item) => item.metadata?.name)).toEqual(['b']);
    expect(Number(byName.metadata?.resourceVersion)).toBeGreaterThan(0);
  });

  standInOnly('requests without the bearer token are 401 Unauthorized', async () => {
    const response = await rawRequest(target.config, 'GET', `/api/v1/namespaces/${ns}/persistentvolumeclaims`, { token: null });
    expect(response.status).toBe(401);
    expect(response.json()).toMatchObject({ kind: 'Status', reason: 'Unauthorized', code: 401 });
    const wrong = await rawRequest(target.config, 'GET', '/api/v1/nodes', { token: 'wrong' });
    expect(wrong.status).toBe(401);
    const config = target.config;
    const wrongToken = new KubeConfig();
    wrongToken.loadFromOptions({ clusters: config.clusters, contexts: config.contexts, currentContext: config.currentContext, users: [{ name: config.users[0]?.name ?? '', token: 'wrong' }] });
    const { code } = await refusal(wrongToken.makeApiClient(CoreV1Api).listNode());
    expect(code).toBe(401);
  });

  test('Secret stringData is folded into base64 data and not stored', async () => {
    const secret = await core.createNamespacedSecret({ namespace: ns, body: { metadata: { name: 's' }, type: 'azure/azurefile', stringData: { azurestorageaccountkey: 'k3y' } } });
    expect(secret.data).toEqual({ azurestorageaccountkey: Buffer.from('k3y').toString('base64') });
    expect(secret.stringData).toBeUndefined();
    expect(await core.readNamespacedSecret({ name: 's', namespace: ns })).not.toHaveProperty('stringData');
  });
});

describe('status subresource', () => {
  test('the main resource ignores status changes; /status ignores spec changes (metadata ones apply, as for real PVCs)', async () => {
    const created = await core.createNamespacedPersistentVolumeClaim({ namespace: ns, body: claim('a') });
    const viaMain = await core.replaceNamespacedPersistentVolumeClaim({
      name: 'a',
      namespace: ns,
      body: { ...created, metadata: { ...created.metadata, labels: { via: 'main' } }, status: { phase: 'Bound' } },
    });
    expect(viaMain.status?.phase).toBe('Pending');
    expect(viaMain.metadata?.labels).toEqual({ via: 'main' });
    const viaStatus = await core.replaceNamespacedPersistentVolumeClaimStatus({
      name: 'a',
      namespace: ns,
      body: { ...viaMain, metadata: { ...viaMain.metadata, labels: { via: 'status' } }, spec: { ...viaMain.spec, volumeName: 'sneaky' }, status: { phase: 'Bound', capacity: { storage: '1024Mi' } } },
    });
    expect(viaStatus.status).toEqual({ phase: 'Bound', capacity: { storage: '1Gi' } });
    expect(viaStatus.spec?.volumeName).toBeUndefined();
    expect(viaStatus.metadata?.labels).toEqual({ via: 'status' });
  });

  test('a status patch changes status only', async () => {
    await core.createNamespacedPersistentVolumeClaim({ namespace: ns, body: claim('a') });
    const patched = await core.patchNamespacedPersistentVolumeClaimStatus(
      { name: 'a', namespace: ns, body: { status: { phase: 'Lost' }, spec: { volumeName: 'x' } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    expect(patched.status?.phase).toBe('Lost');
    expect(patched.spec?.volumeName).toBeUndefined();
  });
});

describe('patch', () => {
  const merge = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
  const strategic = setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch);

  test('merge patch: maps merge, null deletes, lists replace', async () => {
    await core.createNamespacedPersistentVolumeClaim({ namespace: ns, body: { ...claim('a'), metadata: { name: 'a', labels: { keep: '1', drop: '2' }, finalizers: ['x/one'] } } });
    const patched = await core.patchNamespacedPersistentVolumeClaim({ name: 'a', namespace: ns, body: { metadata: { labels: { drop: null, add: '3' }, finalizers: ['x/two'] } } }, merge);
    expect(patched.metadata?.labels).toEqual({ keep: '1', add: '3' });
    expect(patched.metadata?.finalizers).toEqual(['x/two']);
    if (target.standIn) expect(target.standIn.count({ method: 'PATCH', contentType: 'application/merge-patch+json' })).toBe(1);
  });

  test('strategic merge patch: finalizers merge as a set, $deleteFromPrimitiveList removes, conditions merge by type', async () => {
    await core.createNamespacedPersistentVolumeClaim({ namespace: ns, body: { ...claim('a'), metadata: { name: 'a', finalizers: ['x/one'] } } });
    const added = await core.patchNamespacedPersistentVolumeClaim({ name: 'a', namespace: ns, body: { metadata: { finalizers: ['x/two'] } } }, strategic);
    // kubernetes.io/pvc-protection is StorageObjectInUseProtection's, added on create.
    expect(added.metadata?.finalizers).toEqual(['x/one', 'kubernetes.io/pvc-protection', 'x/two']);
    const removed = await core.patchNamespacedPersistentVolumeClaim({ name: 'a', namespace: ns, body: { metadata: { '$deleteFromPrimitiveList/finalizers': ['x/one'] } } }, strategic);
    expect(removed.metadata?.finalizers).toEqual(['kubernetes.io/pvc-protection', 'x/two']);
    const conditions = [{ type: 'Resizing', status: 'True' }, { type: 'FileSystemResizePending', status: 'False' }];
    await core.patchNamespacedPersistentVolumeClaimStatus({ name: 'a', namespace: ns, body: { status: { conditions } } }, strategic);
    const merged = await core.patchNamespacedPersistentVolumeClaimStatus(
      { name: 'a', namespace: ns, body: { status: { conditions: [{ type: 'FileSystemResizePending', status: 'True' }, { type: 'Resizing', $patch: 'delete' }] } } },
      strategic,
    );
    expect(merged.status?.conditions?.map((condition) => [condition.type, condition.status])).toEqual([['FileSystemResizePending', 'True']]);
  });

  test('JSON patch (client-node default): ops apply in order, a failed test is 422 and changes nothing', async () => {
    const created = await core.createNamespacedPersistentVolumeClaim({ namespace: ns, body: claim('a') });
    const patched = await core.patchNamespacedPersistentVolumeClaim({
      name: 'a',
      namespace: ns,
      body: [
        { op: 'add', path: '/metadata/annotations', value: { 'a/b': 'c' } },
        { op: 'replace', path: '/metadata/annotations/a~1b', value: 'd' },
      ],
    });
    expect(patched.metadata?.annotations).toEqual({ 'a/b': 'd' });
    if (target.standIn) expect(target.standIn.count({ method: 'PATCH', contentType: 'application/json-patch+json' })).toBe(1);
    const { code, body } = await refusal(
      core.patchNamespacedPersistentVolumeClaim({ name: 'a', namespace: ns, body: [{ op: 'test', path: '/metadata/uid', value: 'other' }, { op: 'remove', path: '/metadata/annotations' }] }),
    );
    expect(code).toBe(422);
    expect(body).toMatchObject({ kind: 'Status', reason: 'Invalid' });
    expect((await core.readNamespacedPersistentVolumeClaim({ name: 'a', namespace: ns })).metadata?.annotations).toEqual({ 'a/b': 'd' });
    expect(created.metadata?.uid).toBeDefined();
  });

  test('a patch naming a stale resourceVersion is 409 Conflict', async () => {
    const created = await core.createNamespacedPersistentVolumeClaim({ namespace: ns, body: claim('a') });
    await core.patchNamespacedPersistentVolumeClaim({ name: 'a', namespace: ns, body: { metadata: { labels: { a: 'b' } } } }, merge);
    const { code } = await refusal(
      core.patchNamespacedPersistentVolumeClaim({ name: 'a', namespace: ns, body: { metadata: { resourceVersion: created.metadata?.resourceVersion, labels: { a: 'c' } } } }, merge),
    );
    expect(code).toBe(409);
  });

  standInOnly('server-side apply is refused with 415', async () => {
    await core.createNamespacedPersistentVolumeClaim({ namespace: ns, body: claim('a') });
    const reply = await rawRequest(target.config, 'PATCH', `/api/v1/namespaces/${ns}/persistentvolumeclaims/a`, { body: '{}', contentType: 'application/apply-patch+yaml' });
    expect(reply.status).toBe(415);
  });
});

describe('deletion', () => {
  test('finalizers hold a deleted object until they are removed; none may be added meanwhile', async () => {
    await core.createNamespacedPersistentVolumeClaim({ namespace: ns, body: { ...claim('a'), metadata: { name: 'a', finalizers: ['example.com/hold'] } } });
    const deleting = await core.deleteNamespacedPersistentVolumeClaim({ name: 'a', namespace: ns });
    expect(deleting.metadata?.deletionTimestamp).toBeInstanceOf(Date);
    expect((await core.readNamespacedPersistentVolumeClaim({ name: 'a', namespace: ns })).metadata?.deletionTimestamp).toBeInstanceOf(Date);
    const { code } = await refusal(
      core.patchNamespacedPersistentVolumeClaim({ name: 'a', namespace: ns, body: { metadata: { finalizers: ['example.com/hold', 'example.com/more'] } } }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch)),
    );
    expect(code).toBe(422);
    await core.patchNamespacedPersistentVolumeClaim({ name: 'a', namespace: ns, body: [{ op: 'remove', path: '/metadata/finalizers' }] });
    expect((await refusal(core.readNamespacedPersistentVolumeClaim({ name: 'a', namespace: ns }))).code).toBe(404);
  });

  test('a Secret delete answers a Success Status; a wrong uid precondition is 409', async () => {
    await core.createNamespacedSecret({ namespace: ns, body: { metadata: { name: 's' } } });
    const { code } = await refusal(core.deleteNamespacedSecret({ name: 's', namespace: ns, body: { preconditions: { uid: 'not-it' } } }));
    expect(code).toBe(409);
    const reply = await rawRequest(target.config, 'DELETE', `/api/v1/namespaces/${ns}/secrets/s`);
    expect(reply.json()).toMatchObject({ kind: 'Status', status: 'Success', details: { name: 's', kind: 'secrets' } });
  });
});

describe('namespaces', () => {
  test('a deleted namespace is Terminating until its contents are gone, and refuses new ones meanwhile', async () => {
    const name = `doomed-${randomBytes(3).toString('hex')}`;
    await core.createNamespace({ body: { metadata: { name } } });
    await core.createNamespacedPersistentVolumeClaim({ namespace: name, body: { ...claim('held'), metadata: { name: 'held', finalizers: ['example.com/hold'] } } });
    await core.deleteNamespace({ name });
    const terminating = await core.readNamespace({ name });
    expect(terminating.status?.phase).toBe('Terminating');
    expect(terminating.metadata?.deletionTimestamp).toBeInstanceOf(Date);
    const refused = await refusal(core.createNamespacedSecret({ namespace: name, body: { metadata: { name: 's' } } }));
    expect(refused.code).toBe(403);
    expect(refused.body.message).toBe(`secrets "s" is forbidden: unable to create new content in namespace ${name} because it is being terminated`);
    await waitFor('the claim to be deleting', async () => Boolean((await core.readNamespacedPersistentVolumeClaim({ name: 'held', namespace: name })).metadata?.deletionTimestamp));
    await core.patchNamespacedPersistentVolumeClaim({ name: 'held', namespace: name, body: [{ op: 'remove', path: '/metadata/finalizers' }] });
    await waitFor('the namespace gone', async () => (await core.listNamespace()).items.every((namespace) => namespace.metadata?.name !== name), 60_000);
  });
});

describe('validation and admission', () => {
  test('a claim spec change other than the request is 422 Invalid; creating in a missing namespace is 404', async () => {
    await core.createNamespacedPersistentVolumeClaim({ namespace: ns, body: claim('a') });
    const { code, body } = await refusal(
      core.patchNamespacedPersistentVolumeClaim({ name: 'a', namespace: ns, body: { spec: { accessModes: ['ReadWriteMany'] } } }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch)),
    );
    expect(code).toBe(422);
    expect(body).toMatchObject({
      reason: 'Invalid',
      message: 'PersistentVolumeClaim "a" is invalid: spec: Forbidden: spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims',
      details: { name: 'a', kind: 'PersistentVolumeClaim', causes: [{ reason: 'FieldValueForbidden', field: 'spec' }] },
    });
    const nowhere = `nowhere-${randomBytes(3).toString('hex')}`;
    const missing = await refusal(core.createNamespacedPersistentVolumeClaim({ namespace: nowhere, body: claim('a') }));
    expect(missing.code).toBe(404);
    expect(missing.body.message).toBe(`namespaces "${nowhere}" not found`);
  });

  test('PV spec validation: enumerations, the volume source, node affinity terms', async () => {
    const name = target.unique('pv1');
    const volume = (spec: Record<string, unknown>) => ({
      metadata: { name },
      spec: { capacity: { storage: '1Gi' }, accessModes: ['ReadWriteOnce'], flexVolume: { driver: 'azure/azuredisk' }, ...spec },
    });
    const modes = await refusal(core.createPersistentVolume({ body: volume({ accessModes: ['RWO'] }) }));
    expect(modes.body.message).toBe(`PersistentVolume "${name}" is invalid: spec.accessModes: Unsupported value: "RWO": supported values: "ReadOnlyMany", "ReadWriteMany", "ReadWriteOnce", "ReadWriteOncePod"`);
    const affinity = await refusal(
      core.createPersistentVolume({ body: volume({ nodeAffinity: { required: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'topology.kubernetes.io/zone', operator: 'In', values: [] }] }] } } }) }),
    );
    expect(affinity.body.message).toBe(`PersistentVolume "${name}" is invalid: spec.nodeAffinity.required.nodeSelectorTerms[0].matchExpressions[0].values: Required value: must be specified when \`operator\` is 'In' or 'NotIn'`);
    const noDriver = await refusal(core.createPersistentVolume({ body: volume({ flexVolume: { options: {} } }) }));
    expect(noDriver.body.message).toBe(`PersistentVolume "${name}" is invalid: spec.flexVolume.driver: Required value`);
    const created = await core.createPersistentVolume({ body: volume({}) });
    expect(created.spec?.persistentVolumeReclaimPolicy).toBe('Retain');
  });

  test('StorageClass defaults and immutable parameters', async () => {
    const name = target.unique('sc');
    const created = await storage.createStorageClass({ body: { metadata: { name }, provisioner: 'example.com/stand-in-check', parameters: { skuName: 'Premium_LRS' } } });
    expect(created.reclaimPolicy).toBe('Delete');
    expect(created.volumeBindingMode).toBe('Immediate');
    const { code, body } = await refusal(storage.replaceStorageClass({ name, body: { ...created, parameters: { skuName: 'Standard_LRS' } } }));
    expect(code).toBe(422);
    expect(body.message).toBe(`StorageClass.storage.k8s.io "${name}" is invalid: parameters: Forbidden: updates to parameters are forbidden.`);
  });
});

describe('faults and discovery', () => {
  standInOnly('an injected fault answers the next matching request with the real Status, then goes', async () => {
    const api = standIn();
    api.injectFault({ method: 'POST', pathIncludes: '/persistentvolumeclaims', status: 429 });
    const { code, body } = await refusal(core.createNamespacedPersistentVolumeClaim({ namespace: ns, body: claim('a') }));
    expect(code).toBe(429);
    expect(body).toMatchObject({ kind: 'Status', reason: 'TooManyRequests', code: 429 });
    await core.createNamespacedPersistentVolumeClaim({ namespace: ns, body: claim('a') });
    expect(api.count({ method: 'POST', status: 201 })).toBe(1);
    api.injectFault({ pathIncludes: '/nodes', status: 429, times: 2 });
    for (const attempt of [1, 2]) {
      const throttled = await rawRequest(target.config, 'GET', '/api/v1/nodes');
      expect([attempt, throttled.status, throttled.headers['retry-after']]).toEqual([attempt, 429, '1']);
    }
    expect((await rawRequest(target.config, 'GET', '/api/v1/nodes')).status).toBe(200);
  });

  test('the generic KubernetesObjectApi finds resources through discovery', async () => {
    const objects = KubernetesObjectApi.makeApiClient(target.config);
    await objects.create({ apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: 'leader', namespace: ns }, spec: { holderIdentity: 'me', leaseDurationSeconds: 15 } });
    const lease = await objects.read({ apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: 'leader', namespace: ns } });
    expect((lease as { spec?: { holderIdentity?: string } }).spec?.holderIdentity).toBe('me');
    if (target.standIn) expect(target.standIn.count({ pathIncludes: '/apis/coordination.k8s.io/v1', method: 'GET' })).toBeGreaterThan(0);
  });

  test('an Event written through events.k8s.io/v1 reads back through core/v1, converted', async () => {
    await target.events.createNamespacedEvent({
      namespace: ns,
      body: {
        metadata: { name: 'e1' },
        eventTime: new Date(),
        reportingController: 'azure/azuredisk',
        reportingInstance: 'provisioner-0',
        action: 'Provisioning',
        reason: 'ProvisioningSucceeded',
        note: 'created disk',
        type: 'Normal',
        regarding: { kind: 'PersistentVolumeClaim', namespace: ns, name: 'a', uid: 'u1', apiVersion: 'v1' },
      },
    });
    const coreEvents = await core.listNamespacedEvent({ namespace: ns, fieldSelector: 'involvedObject.name=a' });
    expect(coreEvents.items).toHaveLength(1);
    expect(coreEvents.items[0]).toMatchObject({ message: 'created disk', reportingComponent: 'azure/azuredisk', involvedObject: { uid: 'u1' }, reason: 'ProvisioningSucceeded' });
  });
});

describe('command line', () => {
  standInOnly('main.ts serves a client in another process through the kubeconfig it prints', async () => {
    const root = fileURLToPath(new URL('../../', import.meta.url));
    const env = { ...process.env, NODE_OPTIONS: '' };
    const server = spawn(`${root}node_modules/.bin/node`, ['test/kube-apiserver/main.ts'], { cwd: root, env });
    try {
      let line = '';
      for await (const first of createInterface({ input: server.stdout })) {
        line = first;
        break;
      }
      const started = JSON.parse(line) as { kubeconfigPath: string };
      const config = new KubeConfig();
      config.loadFromFile(started.kubeconfigPath);
      const client = config.makeApiClient(CoreV1Api);
      const namespaces = await client.listNamespace();
      expect(namespaces.items.map((namespace) => namespace.metadata?.name)).toEqual(['default', 'kube-node-lease', 'kube-public', 'kube-system']);
    } finally {
      server.kill('SIGTERM');
    }
  });
});

describe('decoding', () => {
  test('a number where a string map wants a string is 400, as the Go decoder answers', async () => {
    const volume = {
      apiVersion: 'v1',
      kind: 'PersistentVolume',
      metadata: { name: target.unique('pv1') },
      spec: { capacity: { storage: '5Gi' }, accessModes: ['ReadWriteOnce'], flexVolume: { driver: 'azure/azuredisk', options: { lun: 3 } } },
    };
    const reply = await rawRequest(target.config, 'POST', '/api/v1/persistentvolumes', { body: volume });
    expect(reply.status).toBe(400);
    expect(reply.json()).toMatchObject({
      reason: 'BadRequest',
      message: 'PersistentVolume in version "v1" cannot be handled as a PersistentVolume: json: cannot unmarshal number into Go struct field FlexPersistentVolumeSource.spec.flexVolume.options of type string',
    });
    const badSize = await rawRequest(target.config, 'POST', '/api/v1/persistentvolumes', { body: { ...volume, spec: { ...volume.spec, capacity: { storage: '5 GB' }, flexVolume: { driver: 'd' } } } });
    expect(badSize.status).toBe(400);
    expect(String(badSize.json().message)).toContain('quantities must match the regular expression');
  });

  test('an unknown field is dropped with a Warning header, or refused with fieldValidation=Strict', async () => {
    const secret = { apiVersion: 'v1', kind: 'Secret', metadata: { name: 's', labelz: { a: 'b' } }, stringData: { k: 'v' }, strinData: { typo: 'x' } };
    const warned = await rawRequest(target.config, 'POST', `/api/v1/namespaces/${ns}/secrets`, { body: secret });
    expect(warned.status).toBe(201);
    expect(warned.headers.warning).toBe('299 - "unknown field \\"metadata.labelz\\"", 299 - "unknown field \\"strinData\\""');
    expect(warned.json()).not.toHaveProperty('strinData');
    if (target.standIn) expect(target.standIn.requests.find((request) => request.method === 'POST')?.warnings).toEqual(['unknown field "metadata.labelz"', 'unknown field "strinData"']);
    expect((await core.readNamespacedSecret({ name: 's', namespace: ns })).metadata).not.toHaveProperty('labelz');
    const strict = await rawRequest(target.config, 'POST', `/api/v1/namespaces/${ns}/secrets?fieldValidation=Strict`, { body: { ...secret, metadata: { name: 't' } } });
    expect(strict.status).toBe(400);
    expect(strict.json().message).toBe('Secret in version "v1" cannot be handled as a Secret: strict decoding error: unknown field "strinData"');
    const wrongType = await rawRequest(target.config, 'POST', '/apis/storage.k8s.io/v1/storageclasses', { body: { metadata: { name: target.unique('sc') }, provisioner: 'p', allowVolumeExpansion: 'true' } });
    expect(wrongType.json().message).toBe('StorageClass in version "v1" cannot be handled as a StorageClass: json: cannot unmarshal string into Go struct field StorageClass.allowVolumeExpansion of type bool');
  });

  test('times are written back as the server serializes them: Time in seconds, MicroTime in microseconds', async () => {
    const lease = { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: 'leader' }, spec: { holderIdentity: 'me', renewTime: '2026-12-01T19:00:00.123Z', leaseDurationSeconds: 15 } };
    const created = await rawRequest(target.config, 'POST', `/apis/coordination.k8s.io/v1/namespaces/${ns}/leases`, { body: lease });
    expect((created.json().spec as { renewTime: string }).renewTime).toBe('2026-12-01T19:00:00.123000Z');
    const event = { metadata: { name: 'e1' }, involvedObject: { kind: 'PersistentVolumeClaim', namespace: ns, name: 'a' }, reason: 'x', firstTimestamp: '2026-12-01T19:00:00.456Z' };
    const recorded = await rawRequest(target.config, 'POST', `/api/v1/namespaces/${ns}/events`, { body: event });
    expect(recorded.json().firstTimestamp).toBe('2026-12-01T19:00:00Z');
    const bad = await rawRequest(target.config, 'POST', `/apis/coordination.k8s.io/v1/namespaces/${ns}/leases`, { body: { ...lease, metadata: { name: 'bad' }, spec: { renewTime: 'yesterday' } } });
    expect(bad.status).toBe(400);
  });

  test('quantities are written back canonically', async () => {
    const created = await core.createNamespacedPersistentVolumeClaim({ namespace: ns, body: claim('a', '1024Mi') });
    expect(created.spec?.resources?.requests).toEqual({ storage: '1Gi' });
    const decimal = await core.createNamespacedPersistentVolumeClaim({ namespace: ns, body: claim('b', '1500M') });
    expect(decimal.spec?.resources?.requests).toEqual({ storage: '1500M' });
    const fraction = await core.createNamespacedPersistentVolumeClaim({ namespace: ns, body: claim('c', '1.5Gi') });
    expect(fraction.spec?.resources?.requests).toEqual({ storage: '1536Mi' });
  });
});

describe('metadata and collections', () => {
  test('a label value with a space is 422 Invalid; an annotation key with two slashes too', async () => {
    const { code, body } = await refusal(core.createNamespacedPersistentVolumeClaim({ namespace: ns, body: { ...claim('a'), metadata: { name: 'a', labels: { zone: 'west europe' } } } }));
    expect(code).toBe(422);
    expect(String(body.message)).toMatch(/^PersistentVolumeClaim "a" is invalid: metadata.labels: Invalid value: "west europe": a valid label must be an empty string/);
    const annotation = await refusal(core.createNamespacedSecret({ namespace: ns, body: { metadata: { name: 's', annotations: { 'a/b/c': 'x' } } } }));
    expect(annotation.code).toBe(422);
    const name = await refusal(core.createNamespacedSecret({ namespace: ns, body: { metadata: { name: 'Upper' } } }));
    expect(name.code).toBe(422);
  });

  test('deletecollection deletes what the selector picks and lists it', async () => {
    for (const name of ['e1', 'e2', 'e3']) {
      await core.createNamespacedEvent({ namespace: ns, body: { metadata: { name, labels: { batch: name === 'e3' ? 'keep' : 'drop' } }, involvedObject: { kind: 'PersistentVolumeClaim', name: 'x', namespace: ns }, reason: 'Test' } });
    }
    const reply = await rawRequest(target.config, 'DELETE', `/api/v1/namespaces/${ns}/events?labelSelector=batch%3Ddrop`);
    expect(reply.json()).toMatchObject({ kind: 'EventList', items: [{ metadata: { name: 'e1' } }, { metadata: { name: 'e2' } }] });
    expect((await core.listNamespacedEvent({ namespace: ns, labelSelector: 'batch' })).items.map((event) => event.metadata?.name)).toEqual(['e3']);
  });

  standInOnly('dryRun is refused, not performed', async () => {
    await core.createNamespacedSecret({ namespace: ns, body: { metadata: { name: 's' } } });
    const dry = await rawRequest(target.config, 'DELETE', `/api/v1/namespaces/${ns}/secrets/s?dryRun=All`);
    expect(dry.status).toBe(400);
    expect(await core.readNamespacedSecret({ name: 's', namespace: ns })).toBeDefined();
  });
});

describe('selectors', () => {
  test('every label selector operator, and an unsupported field label is 400', async () => {
    const labelled: Array<[string, Record<string, string>]> = [
      ['a', { tier: 'gold', zone: '1' }],
      ['b', { tier: 'silver' }],
      ['c', {}],
    ];
    for (const [name, labels] of labelled) await core.createNamespacedSecret({ namespace: ns, body: { metadata: { name, labels } } });
    const pick = async (labelSelector: string) => (await core.listNamespacedSecret({ namespace: ns, labelSelector })).items.map((item) => item.metadata?.name);
    expect(await pick('tier=gold')).toEqual(['a']);
    expect(await pick('tier==silver')).toEqual(['b']);
    expect(await pick('tier!=gold')).toEqual(['b', 'c']);
    expect(await pick('tier notin (gold,silver)')).toEqual(['c']);
    expect(await pick('zone')).toEqual(['a']);
    expect(await pick('!zone,tier')).toEqual(['b']);
    const { code, body } = await refusal(core.listNamespacedSecret({ namespace: ns, fieldSelector: 'spec.nodeName=x' }));
    expect(code).toBe(400);
    expect(body.message).toBe('field label not supported: spec.nodeName');
    const namespaces = await core.listNamespace({ labelSelector: 'kubernetes.io/metadata.name=kube-system' });
    expect(namespaces.items.map((item) => item.metadata?.name)).toEqual(['kube-system']);
  });
});

describe('events', () => {
  test('events.k8s.io/v1 Events are validated strictly; core/v1 ones by the legacy namespace rule', async () => {
    const { code, body } = await refusal(
      target.events.createNamespacedEvent({ namespace: ns, body: { metadata: { name: 'e1' }, reason: 'Provisioning', regarding: { kind: 'PersistentVolumeClaim', namespace: ns, name: 'a' } } as never }),
    );
    expect(code).toBe(422);
    expect((body.details as { causes: Array<{ field: string }> }).causes.map((cause) => cause.field)).toEqual(['reportingController', 'reportingInstance', 'action', 'eventTime', 'type']);
    const elsewhere = await refusal(
      core.createNamespacedEvent({ namespace: ns, body: { metadata: { name: 'e2' }, involvedObject: { kind: 'PersistentVolumeClaim', namespace: 'other', name: 'a' }, reason: 'x' } }),
    );
    expect(elsewhere.code).toBe(422);
    expect(elsewhere.body.message).toBe('Event "e2" is invalid: involvedObject.namespace: Invalid value: "other": does not match event.namespace');
    // An event about a cluster-scoped object lives in "default", as the recorders put it.
    const name = target.unique('e3');
    await core.createNamespacedEvent({ namespace: 'default', body: { metadata: { name }, involvedObject: { kind: 'PersistentVolume', name: 'pv-1' }, reason: 'VolumeFailedDelete' } });
    await core.deleteNamespacedEvent({ name, namespace: 'default' });
  });
});
