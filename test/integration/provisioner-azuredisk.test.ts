// azure/azuredisk end to end: the built provisioner as a process, against the stand-in API server
// (or the cluster FLEXVOLUME_E2E_KUBECONFIG names) and the ARM simulator.
import { startArmSimulator, type ArmSimulator } from '../arm-simulator/index.ts';
import { BUILDS } from '../helpers/sandbox.ts';
import {
  boundVolume,
  createClaim,
  createStorageClass,
  eventsOf,
  expectRequestsWithinRbac,
  growClaim,
  startCluster,
  startProvisioner,
  waitFor,
  waitForEvent,
  type ProvisionerProcess,
  type TestCluster,
} from '../helpers/cluster.ts';

let cluster: TestCluster;
let sim: ArmSimulator;
let provisioner: ProvisionerProcess | undefined;
let counter = 0;

beforeEach(async () => {
  cluster = await startCluster();
  sim = await startArmSimulator();
});

afterEach(async () => {
  await provisioner?.stop();
  provisioner = undefined;
  expectRequestsWithinRbac(cluster);
  await sim.close();
  await cluster.close();
});

type Json = Record<string, any>;

function storageClass(spec: Json = {}): Promise<string> {
  return createStorageClass(cluster, `disk-${++counter}`, 'azure/azuredisk', spec);
}

function claim(className: string, spec: Json = {}): Promise<Json> {
  return createClaim(cluster, `data-${++counter}`, { storageClassName: className, accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1500Mi' } }, ...spec });
}

const uidOf = (object: Json): string => object.metadata.uid;




test.each(BUILDS)('$name: a claim of an azuredisk class gets a managed disk and a Bound PV the driver accepts; deleting the claim deletes both', async ({ file }) => {
  provisioner = startProvisioner({ cluster, sim, executable: file });
  const className = await storageClass({ parameters: { skuName: 'Premium_LRS', cachingMode: 'none', tags: 'team=storage' }, mountOptions: ['noatime', 'discard'] });
  const pvc = await claim(className);
  const volume = await boundVolume(cluster, pvc);
  const pvName = `pvc-${uidOf(pvc)}`;
  expect(volume.metadata.name).toBe(pvName);
  expect(volume.metadata.annotations['pv.kubernetes.io/provisioned-by']).toBe('azure/azuredisk');
  expect(volume.spec).toMatchObject({
    capacity: { storage: '2Gi' },
    accessModes: ['ReadWriteOnce'],
    persistentVolumeReclaimPolicy: 'Delete',
    storageClassName: className,
    claimRef: { namespace: cluster.namespace, name: pvc.metadata.name, uid: uidOf(pvc) },
    flexVolume: {
      driver: 'azure/azuredisk',
      options: {
        diskName: pvName,
        diskURI: `/subscriptions/${sim.subscriptionId}/resourceGroups/${sim.resourceGroup}/providers/Microsoft.Compute/disks/${pvName}`,
        cachingMode: 'none',
        mountOptions: 'noatime,discard',
      },
    },
  });
  expect(volume.spec.mountOptions).toBeUndefined();
  expect(volume.spec.nodeAffinity).toBeUndefined();
  const disk = sim.provisioning.diskView(sim.provisioning.base.findDisk(sim.resourceGroup, pvName)!) as Json;
  expect(disk).toMatchObject({ sku: { name: 'Premium_LRS' }, properties: { diskSizeGB: 2 }, tags: { team: 'storage', 'kubernetes.io-created-for-pvc-uid': uidOf(pvc) } });
  expect(disk.zones).toBeUndefined();
  await waitForEvent(cluster, pvc.metadata.name, 'ProvisioningSucceeded');
  expect((await eventsOf(cluster, pvc.metadata.name)).map((event) => event.reason)).toContain('Provisioning');

  await cluster.delete('pvc', pvc.metadata.name, cluster.namespace);
  await waitFor('the PV deleted', async () => (await cluster.get('pv', pvName)) === undefined);
  expect(sim.getDisk(pvName)).toBeUndefined();
});

test('a crash between creating the disk and saving the PV: the next run finds the disk by its name and tag and makes no second one', async () => {
  const standIn = cluster.standIn;
  if (standIn === undefined) return; // needs injected API failures
  // Saving the PV fails twice; the first run is killed after the first failure.
  standIn.injectFault({ method: 'POST', pathIncludes: '/api/v1/persistentvolumes', status: 500, times: 2 });
  provisioner = startProvisioner({ cluster, sim, args: ['--save-interval-ms', '2000'] });
  const className = await storageClass();
  const pvc = await claim(className);
  const pvName = `pvc-${uidOf(pvc)}`;
  await waitFor('the first failed save', () => standIn.count({ method: 'POST', pathIncludes: '/api/v1/persistentvolumes', status: 500 }) >= 1);
  expect(sim.getDisk(pvName)).toBeDefined();
  await provisioner.kill();

  provisioner = startProvisioner({ cluster, sim });
  const volume = await boundVolume(cluster, pvc);
  expect(volume.metadata.name).toBe(pvName);
  expect(sim.count({ method: 'PUT', pathIncludes: '/providers/Microsoft.Compute/disks/' })).toBe(1);
  expect(sim.provisioning.diskCount()).toBe(1);
});

test('a claim of a WaitForFirstConsumer class waits for its node, then gets a disk in that node zone and the matching node affinity', async () => {
  provisioner = startProvisioner({ cluster, sim });
  await cluster.create({ apiVersion: 'v1', kind: 'Node', metadata: { name: 'node-z2', labels: { 'topology.kubernetes.io/zone': `${sim.location}-2` } } });
  const className = await storageClass({ volumeBindingMode: 'WaitForFirstConsumer', parameters: { skuName: 'Premium_LRS' } });
  const pvc = await claim(className);
  const pvName = `pvc-${uidOf(pvc)}`;
  await provisioner.waitForLine(/caches synced/);
  // The claim is not ours until the scheduler picks a node.
  await new Promise((resolve) => setTimeout(resolve, 500));
  expect(sim.getDisk(pvName)).toBeUndefined();
  const current = (await cluster.get('pvc', pvc.metadata.name, cluster.namespace)) as Json;
  current.metadata.annotations = { ...current.metadata.annotations, 'volume.kubernetes.io/selected-node': 'node-z2' };
  await cluster.update(current);
  const volume = await boundVolume(cluster, pvc);
  expect(sim.provisioning.diskView(sim.provisioning.base.findDisk(sim.resourceGroup, pvName)!)).toMatchObject({ zones: ['2'] });
  expect(volume.spec.nodeAffinity).toEqual({
    required: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'topology.kubernetes.io/zone', operator: 'In', values: [`${sim.location}-2`] }] }] },
  });
  expect(volume.metadata.labels['topology.kubernetes.io/zone']).toBe(`${sim.location}-2`);

  // A zone-redundant disk in the same class shape gets no zone and no affinity.
  const zrs = await claim(await storageClass({ volumeBindingMode: 'WaitForFirstConsumer', parameters: { skuName: 'Premium_ZRS' } }));
  const zrsClaim = (await cluster.get('pvc', zrs.metadata.name, cluster.namespace)) as Json;
  zrsClaim.metadata.annotations = { ...zrsClaim.metadata.annotations, 'volume.kubernetes.io/selected-node': 'node-z2' };
  await cluster.update(zrsClaim);
  const zrsVolume = await boundVolume(cluster, zrs);
  expect(zrsVolume.spec.nodeAffinity).toBeUndefined();
  expect(sim.getDisk(zrsVolume.metadata.name)?.sku.name).toBe('Premium_ZRS');
});

describe('bad StorageClass parameters and claim shapes are answered with an event, and nothing is created', () => {
  const cases: Array<[string, Json, Json, RegExp]> = [
    ['an unknown parameter', { parameters: { skuname: 'Premium_LRS', diskSize: '5' } }, {}, /unknown option 'diskSize'/],
    ['an unknown SKU', { parameters: { skuName: 'Premium_XRS' } }, {}, /skuName.*must be a disk SKU/],
    ['disagreeing SKU aliases', { parameters: { skuName: 'Premium_LRS', storageaccounttype: 'Standard_LRS' } }, {}, /disagree/],
    ['a bad caching mode', { parameters: { cachingMode: 'WriteBack' } }, {}, /cachingMode/],
    ['IOPS on a SKU without them', { parameters: { skuName: 'Premium_LRS', diskIOPSReadWrite: '500' } }, {}, /UltraSSD_LRS and PremiumV2_LRS disks only/],
    ['zones with WaitForFirstConsumer', { volumeBindingMode: 'WaitForFirstConsumer', parameters: { zones: '1' } }, { selectedNode: true }, /cannot be used with volumeBindingMode WaitForFirstConsumer/],
    ['a non-zonal Ultra disk', { parameters: { skuName: 'UltraSSD_LRS' } }, {}, /must be zonal/],
    ['zones for a zone-redundant disk', { parameters: { skuName: 'StandardSSD_ZRS', zones: '1,2' } }, {}, /zone-redundant disks span the zones/],
    ['a bad filesystem', { parameters: { fsType: 'btrfs' } }, {}, /fsType/],
    ['a bad mount option', { mountOptions: ['a b'] }, {}, /mountOptions/],
    ['ReadWriteMany', {}, { accessModes: ['ReadWriteMany'] }, /support access modes ReadWriteOnce; the claim asks for ReadWriteMany/],
    ['Block mode', {}, { volumeMode: 'Block' }, /volumeMode Block is not supported/],
    ['a selector', {}, { selector: { matchLabels: { tier: 'db' } } }, /spec.selector cannot be provisioned dynamically/],
  ];
  test.each(cases)('%s', async (_what, classSpec, claimSpec, message) => {
    provisioner = startProvisioner({ cluster, sim });
    const className = await storageClass(classSpec);
    const { selectedNode, ...spec } = claimSpec;
    if (selectedNode) await cluster.create({ apiVersion: 'v1', kind: 'Node', metadata: { name: 'node-1' } });
    const pvc = await claim(className, spec);
    if (selectedNode) {
      const current = (await cluster.get('pvc', pvc.metadata.name, cluster.namespace)) as Json;
      current.metadata.annotations = { ...current.metadata.annotations, 'volume.kubernetes.io/selected-node': 'node-1' };
      await cluster.update(current);
    }
    const event = await waitForEvent(cluster, pvc.metadata.name, 'ProvisioningFailed');
    expect(event.type).toBe('Warning');
    expect(event.message).toMatch(message);
    expect(sim.count({ method: 'PUT' })).toBe(0);
    expect(await cluster.get('pv', `pvc-${uidOf(pvc)}`)).toBeUndefined();
  });
});

test('a Released volume whose disk is still attached waits, with an event, and is deleted once the disk is detached', async () => {
  provisioner = startProvisioner({ cluster, sim });
  sim.addVM({ name: 'node-1' });
  const pvc = await claim(await storageClass());
  const volume = await boundVolume(cluster, pvc);
  sim.attachDirectly('node-1', volume.metadata.name, 0);
  await cluster.delete('pvc', pvc.metadata.name, cluster.namespace);
  const event = await waitFor('VolumeFailedDelete', async () =>
    ((await cluster.list('event', 'default')) as Json[]).find((e) => e.involvedObject?.name === volume.metadata.name && e.reason === 'VolumeFailedDelete'),
  );
  expect(event.message).toMatch(/still attached to .*node-1; it is deleted once detached/);
  expect(sim.count({ method: 'DELETE' })).toBe(0);
  expect(await cluster.get('pv', volume.metadata.name)).toBeDefined();
  // The VM lets go of it (the controller-manager detaches): the next try deletes disk and PV.
  sim.provisioning.base.beginUpdate(sim.provisioning.base.vm(sim.resourceGroup, 'node-1'), [], 'machine');
  await waitFor('the PV deleted', async () => (await cluster.get('pv', volume.metadata.name)) === undefined);
  expect(sim.getDisk(volume.metadata.name)).toBeUndefined();
});


test('a claim asking for more grows its disk in Azure, as the kubelet expandfs needs', async () => {
  provisioner = startProvisioner({ cluster, sim });
  const pvc = await claim(await storageClass({ allowVolumeExpansion: true }), { resources: { requests: { storage: '4Gi' } } });
  const volume = await boundVolume(cluster, pvc);
  await growClaim(cluster, pvc, '10Gi');
  await waitFor('the disk grown', () => sim.getDisk(volume.metadata.name)?.properties.diskSizeGB === 10);
  const event = await waitForEvent(cluster, pvc.metadata.name, 'VolumeResizeSuccessful');
  expect(event.message).toMatch(/from 4 GiB to 10 GiB/);
  expect(sim.count({ method: 'PATCH', pathIncludes: '/disks/' })).toBe(1);
});

test('an attached disk Azure cannot grow online waits with an event saying so', async () => {
  provisioner = startProvisioner({ cluster, sim });
  sim.addVM({ name: 'node-1' });
  const className = await storageClass({ allowVolumeExpansion: true, parameters: { skuName: 'UltraSSD_LRS', zones: '1' } });
  const pvc = await claim(className, { resources: { requests: { storage: '4Gi' } } });
  const volume = await boundVolume(cluster, pvc);
  sim.attachDirectly('node-1', volume.metadata.name, 0);
  await growClaim(cluster, pvc, '8Gi');
  const event = await waitForEvent(cluster, pvc.metadata.name, 'VolumeResizePending');
  expect(event.message).toMatch(/cannot grow a UltraSSD_LRS disk while it is attached/);
  expect(sim.getDisk(volume.metadata.name)?.properties.diskSizeGB).toBe(4);
  expect(sim.count({ method: 'PATCH' })).toBe(0);
});

test('a hand-made azuredisk PV bound to a claim of an expandable class of ours is grown too', async () => {
  provisioner = startProvisioner({ cluster, sim });
  const className = await storageClass({ allowVolumeExpansion: true });
  const diskId = sim.addDisk({ name: 'handmade', sizeGB: 3 });
  await cluster.create({
    apiVersion: 'v1',
    kind: 'PersistentVolume',
    metadata: { name: 'handmade' },
    spec: {
      capacity: { storage: '3Gi' },
      accessModes: ['ReadWriteOnce'],
      persistentVolumeReclaimPolicy: 'Retain',
      storageClassName: className,
      flexVolume: { driver: 'azure/azuredisk', options: { diskName: 'handmade', diskURI: diskId } },
    },
  });
  const pvc = await claim(className, { volumeName: 'handmade', resources: { requests: { storage: '3Gi' } } });
  await boundVolume(cluster, pvc);
  await growClaim(cluster, pvc, '5Gi');
  await waitFor('the disk grown', () => sim.getDisk('handmade')?.properties.diskSizeGB === 5);
});

test('50 claims at once: all Bound, one disk and one create each, ARM requests counted per claim', async () => {
  provisioner = startProvisioner({ cluster, sim });
  const className = await storageClass();
  const claims = await Promise.all(Array.from({ length: 50 }, () => claim(className)));
  await Promise.all(claims.map((pvc) => boundVolume(cluster, pvc)));
  expect(sim.provisioning.diskCount()).toBe(50);
  expect(sim.count({ method: 'PUT', pathIncludes: '/disks/' })).toBe(50);
  // A read, the create, its poll(s) and the final read: the figure bench/provisioner.ts reports.
  expect(sim.count({ kind: 'arm' }) / 50).toBeLessThan(8);
  const volumes = (await cluster.list('pv')) as Json[];
  expect(new Set(volumes.map((volume) => volume.spec.claimRef.uid))).toEqual(new Set(claims.map(uidOf)));
});

test('Azure refusals become events and retries: a quota exceeded until it is raised, a 429, a 409 conflict', async () => {
  provisioner = startProvisioner({ cluster, sim });
  const className = await storageClass();
  sim.provisioning.diskQuota = 0;
  const pvc = await claim(className);
  const event = await waitForEvent(cluster, pvc.metadata.name, 'ProvisioningFailed');
  expect(event.message).toMatch(/exceeding approved Total Regional Disks quota/);
  sim.provisioning.diskQuota = undefined;
  await boundVolume(cluster, pvc);

  sim.injectFault({ method: 'PUT', pathIncludes: '/disks/', status: 429, retryAfterSeconds: 1 });
  sim.injectFault({ method: 'PUT', pathIncludes: '/disks/', status: 409, code: 'Conflict' });
  const throttled = await claim(className);
  await boundVolume(cluster, throttled);
  const reasons = (await eventsOf(cluster, throttled.metadata.name)).map((e) => e.reason);
  expect(reasons.filter((reason) => reason === 'ProvisioningFailed').length).toBeGreaterThanOrEqual(1);
  expect(sim.provisioning.diskCount()).toBe(2);
});

test('when Azure itself refuses to grow an attached disk, the claim waits with Azure words in the event', async () => {
  provisioner = startProvisioner({ cluster, sim });
  sim.addVM({ name: 'node-1' });
  const pvc = await claim(await storageClass({ allowVolumeExpansion: true, parameters: { skuName: 'Premium_LRS' } }), { resources: { requests: { storage: '4Gi' } } });
  const volume = await boundVolume(cluster, pvc);
  sim.attachDirectly('node-1', volume.metadata.name, 0);
  sim.injectFault({ method: 'PATCH', pathIncludes: '/disks/', status: 409, code: 'OperationNotAllowed', message: 'Disk resize of an attached disk is not supported for this VM size.', times: 100 });
  await growClaim(cluster, pvc, '8Gi');
  const event = await waitForEvent(cluster, pvc.metadata.name, 'VolumeResizePending');
  expect(event.message).toMatch(/Azure will not grow disk .* while it is attached \(Disk resize of an attached disk is not supported/);
  expect(sim.getDisk(volume.metadata.name)?.properties.diskSizeGB).toBe(4);
});
