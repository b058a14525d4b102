// The binder playing kube-controller-manager, observed through the real client-node as the
// provisioner will observe it: hand-over annotations and event, binding, Released, FlexVolume resize.
// With FLEXVOLUME_E2E_KUBECONFIG the same tests watch a real kube-controller-manager do it (target.ts).
import type { CoreV1Api, V1PersistentVolume, V1PersistentVolumeClaim } from '@kubernetes/client-node';
import { ANN_BETA_STORAGE_PROVISIONER, ANN_SELECTED_NODE, ANN_STORAGE_PROVISIONER } from './index.ts';
import { refusal, waitFor } from './support.ts';
import { forEachTest, type Target } from './target.ts';

/** No real provisioner answers to it, on the stand-in or a real cluster. */
const PROVISIONER = 'example.com/stand-in-check';

let target: Target;
let ns: string;
let core: CoreV1Api;

forEachTest((opened) => {
  target = opened;
  ({ core, namespace: ns } = opened);
});

/** Creates a class of PROVISIONER and answers its (unique) name. */
async function createClass(base: string, extra: Record<string, unknown> = {}): Promise<string> {
  const name = target.unique(base);
  await target.storage.createStorageClass({ body: { metadata: { name }, provisioner: PROVISIONER, ...extra } });
  return name;
}

function claim(name: string, className: string, size = '5Gi'): V1PersistentVolumeClaim {
  return { metadata: { name }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: size } }, storageClassName: className } };
}

/** The PV a provisioner writes for a claim. */
function provisionedVolume(forClaim: V1PersistentVolumeClaim, size = '5Gi'): V1PersistentVolume {
  const name = `pvc-${forClaim.metadata?.uid}`;
  target.track(name);
  return {
    metadata: { name, annotations: { 'pv.kubernetes.io/provisioned-by': PROVISIONER } },
    spec: {
      capacity: { storage: size },
      accessModes: ['ReadWriteOnce'],
      persistentVolumeReclaimPolicy: 'Delete',
      storageClassName: forClaim.spec?.storageClassName ?? '',
      claimRef: { kind: 'PersistentVolumeClaim', apiVersion: 'v1', namespace: ns, name: forClaim.metadata?.name ?? '', uid: forClaim.metadata?.uid ?? '' },
      flexVolume: { driver: 'azure/azuredisk', options: { diskName: 'd' } },
    },
  };
}

async function readClaim(name: string): Promise<V1PersistentVolumeClaim> {
  return core.readNamespacedPersistentVolumeClaim({ name, namespace: ns });
}

async function volumeGone(name: string): Promise<boolean> {
  try {
    await core.readPersistentVolume({ name });
    return false;
  } catch (error) {
    if ((error as { code?: number }).code === 404) return true;
    throw error;
  }
}

test('a claim of an external provisioner gets both provisioner annotations and an ExternalProvisioning event', async () => {
  const disk = await createClass('disk');
  const created = await core.createNamespacedPersistentVolumeClaim({ namespace: ns, body: claim('data', disk) });
  // Asynchronous, like the controller: the create's own answer is untouched.
  expect(created.metadata?.annotations ?? {}).not.toHaveProperty(ANN_STORAGE_PROVISIONER);
  const annotated = await waitFor('the hand-over', async () => {
    const current = await readClaim('data');
    return current.metadata?.annotations?.[ANN_STORAGE_PROVISIONER] ? current : undefined;
  });
  expect(annotated.metadata?.annotations).toMatchObject({ [ANN_STORAGE_PROVISIONER]: PROVISIONER, [ANN_BETA_STORAGE_PROVISIONER]: PROVISIONER });
  const events = await waitFor('the event', async () => {
    const list = await core.listNamespacedEvent({ namespace: ns, fieldSelector: 'involvedObject.name=data,reason=ExternalProvisioning' });
    return list.items.length > 0 ? list.items : undefined;
  });
  expect(events[0]?.message).toContain(`external provisioner '${PROVISIONER}'`);
  expect(events[0]?.involvedObject.uid).toBe(created.metadata?.uid);
});

test('a PV whose claimRef names the claim is bound both ways', async () => {
  const disk = await createClass('disk');
  const created = await core.createNamespacedPersistentVolumeClaim({ namespace: ns, body: claim('data', disk) });
  const volume = await core.createPersistentVolume({ body: provisionedVolume(created) });
  const bound = await waitFor('the claim Bound', async () => {
    const current = await readClaim('data');
    return current.status?.phase === 'Bound' ? current : undefined;
  });
  expect(bound.spec?.volumeName).toBe(volume.metadata?.name);
  expect(bound.status?.capacity).toEqual({ storage: '5Gi' });
  expect(bound.status?.accessModes).toEqual(['ReadWriteOnce']);
  expect(bound.metadata?.annotations).toMatchObject({ 'pv.kubernetes.io/bind-completed': 'yes', 'pv.kubernetes.io/bound-by-controller': 'yes' });
  const pv = await core.readPersistentVolume({ name: volume.metadata?.name ?? '' });
  expect(pv.status?.phase).toBe('Bound');
});

test('a WaitForFirstConsumer claim is handed over only once a node is selected', async () => {
  const late = await createClass('late', { volumeBindingMode: 'WaitForFirstConsumer' });
  await core.createNamespacedPersistentVolumeClaim({ namespace: ns, body: claim('data', late) });
  await waitFor('the WaitForFirstConsumer event', async () => (await core.listNamespacedEvent({ namespace: ns, fieldSelector: 'reason=WaitForFirstConsumer' })).items.length > 0);
  expect((await readClaim('data')).metadata?.annotations ?? {}).not.toHaveProperty(ANN_STORAGE_PROVISIONER);
  await core.patchNamespacedPersistentVolumeClaim({ name: 'data', namespace: ns, body: [{ op: 'add', path: '/metadata/annotations', value: { [ANN_SELECTED_NODE]: 'node-1' } }] });
  await waitFor('the hand-over', async () => (await readClaim('data')).metadata?.annotations?.[ANN_STORAGE_PROVISIONER] === PROVISIONER);
});

test('deleting the claim makes its PV Released', async () => {
  const disk = await createClass('disk');
  const created = await core.createNamespacedPersistentVolumeClaim({ namespace: ns, body: claim('data', disk) });
  const volume = await core.createPersistentVolume({ body: provisionedVolume(created) });
  await waitFor('Bound', async () => (await readClaim('data')).status?.phase === 'Bound');
  await core.deleteNamespacedPersistentVolumeClaim({ name: 'data', namespace: ns });
  const released = await waitFor('Released', async () => {
    const pv = await core.readPersistentVolume({ name: volume.metadata?.name ?? '' });
    return pv.status?.phase === 'Released' ? pv : undefined;
  });
  expect(released.spec?.claimRef?.uid).toBe(created.metadata?.uid);
  expect((await refusal(readClaim('data'))).code).toBe(404);
});

async function boundClaim(className: string, size = '5Gi'): Promise<{ claimName: string; volumeName: string }> {
  const created = await core.createNamespacedPersistentVolumeClaim({ namespace: ns, body: claim('data', className, size) });
  const volume = await core.createPersistentVolume({ body: provisionedVolume(created, size) });
  await waitFor('Bound', async () => (await readClaim('data')).status?.phase === 'Bound');
  return { claimName: 'data', volumeName: volume.metadata?.name ?? '' };
}

function requestPatch(size: string) {
  return [{ op: 'replace', path: '/spec/resources/requests/storage', value: size }];
}

test('growing a bound FlexVolume claim raises the PV capacity at once and marks FileSystemResizePending', async () => {
  const disk = await createClass('disk', { allowVolumeExpansion: true });
  const { volumeName } = await boundClaim(disk);
  await core.patchNamespacedPersistentVolumeClaim({ name: 'data', namespace: ns, body: requestPatch('8Gi') });
  const pv = await waitFor('the PV capacity', async () => {
    const current = await core.readPersistentVolume({ name: volumeName });
    return current.spec?.capacity?.storage === '8Gi' ? current : undefined;
  });
  expect(pv.status?.phase).toBe('Bound');
  expect(pv.metadata?.annotations?.['volume.alpha.kubernetes.io/pre-resize-capacity']).toBe('5Gi');
  const resized = await waitFor('the condition', async () => {
    const current = await readClaim('data');
    return current.status?.conditions?.some((condition) => condition.type === 'FileSystemResizePending') ? current : undefined;
  });
  // The claim's size is the kubelet's to report, once expandfs succeeds.
  expect(resized.status?.capacity).toEqual({ storage: '5Gi' });
  expect(resized.status?.conditions?.find((condition) => condition.type === 'FileSystemResizePending')?.status).toBe('True');
  expect(resized.status?.allocatedResources).toEqual({ storage: '8Gi' });
  expect(resized.status?.allocatedResourceStatuses).toEqual({ storage: 'NodeResizePending' });
  expect(resized.metadata?.annotations?.['volume.kubernetes.io/storage-resizer']).toBe('azure/azuredisk');
  const events = await core.listNamespacedEvent({ namespace: ns, fieldSelector: 'involvedObject.name=data' });
  const reasons = events.items.map((event) => event.reason);
  expect(reasons).not.toContain('ExternalExpanding');
  expect(reasons).not.toContain('Resizing');
});

test('growing a claim whose class does not allow expansion is 403; shrinking below the capacity is 422', async () => {
  const fixed = await createClass('fixed');
  await boundClaim(fixed);
  const grow = await refusal(core.patchNamespacedPersistentVolumeClaim({ name: 'data', namespace: ns, body: requestPatch('8Gi') }));
  expect(grow.code).toBe(403);
  expect(grow.body.message).toBe('persistentvolumeclaims "data" is forbidden: only dynamically provisioned pvc can be resized and the storageclass that provisions the pvc must support resize');
  const shrink = await refusal(core.patchNamespacedPersistentVolumeClaim({ name: 'data', namespace: ns, body: requestPatch('4Gi') }));
  expect(shrink.code).toBe(422);
  expect(shrink.body).toMatchObject({ reason: 'Invalid', message: 'PersistentVolumeClaim "data" is invalid: spec.resources.requests.storage: Forbidden: field can not be less than status.capacity' });
});

test('a PV too small for the claim it names is not bound: the claim goes on to its provisioner', async () => {
  const disk = await createClass('disk');
  const created = await core.createNamespacedPersistentVolumeClaim({ namespace: ns, body: claim('data', disk, '10Gi') });
  const volume = await core.createPersistentVolume({ body: provisionedVolume(created, '5Gi') });
  await waitFor('the hand-over', async () => (await readClaim('data')).metadata?.annotations?.[ANN_STORAGE_PROVISIONER] === PROVISIONER);
  expect((await readClaim('data')).status?.phase).toBe('Pending');
  expect((await core.readPersistentVolume({ name: volume.metadata?.name ?? '' })).status?.phase).toBe('Pending');
});

test('protection finalizers: a deleted PV that is no longer Bound goes; the claim goes at once', async () => {
  const disk = await createClass('disk');
  const { volumeName } = await boundClaim(disk);
  expect((await readClaim('data')).metadata?.finalizers).toEqual(['kubernetes.io/pvc-protection']);
  await core.deleteNamespacedPersistentVolumeClaim({ name: 'data', namespace: ns });
  await waitFor('Released', async () => (await core.readPersistentVolume({ name: volumeName })).status?.phase === 'Released');
  const deleting = await core.deletePersistentVolume({ name: volumeName });
  expect(deleting.metadata?.finalizers).toEqual(['kubernetes.io/pv-protection']);
  await waitFor('the PV gone', () => volumeGone(volumeName));
});

test('the binder never acts inside the request: a claim created then read at once is not yet annotated', async () => {
  const disk = await createClass('disk');
  const created = await core.createNamespacedPersistentVolumeClaim({ namespace: ns, body: claim('data', disk) });
  expect(created.metadata?.annotations).toBeUndefined();
  expect(created.status?.phase).toBe('Pending');
});

test('a Bound PV deleted first stays until its claim goes, then is Released and removed', async () => {
  const disk = await createClass('disk');
  const { volumeName } = await boundClaim(disk);
  await core.deletePersistentVolume({ name: volumeName });
  await new Promise((resolve) => setTimeout(resolve, 100));
  expect((await core.readPersistentVolume({ name: volumeName })).status?.phase).toBe('Bound');
  await core.deleteNamespacedPersistentVolumeClaim({ name: 'data', namespace: ns });
  await waitFor('the PV gone', () => volumeGone(volumeName));
});
