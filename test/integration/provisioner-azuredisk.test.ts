// azure/azuredisk end to end: the built provisioner as a process, against the stand-in API server
// (or the cluster FLEXVOLUME_E2E_KUBECONFIG names) and the ARM simulator.
import { startArmSimulator, type ArmSimulator } from '../arm-simulator/index.ts';
import { startCluster, startProvisioner, waitFor, type ProvisionerProcess, type TestCluster } from '../helpers/cluster.ts';

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
  await sim.close();
  await cluster.close();
});

type Json = Record<string, any>;

async function storageClass(spec: Json = {}): Promise<string> {
  const name = `disk-${++counter}`;
  await cluster.create({ apiVersion: 'storage.k8s.io/v1', kind: 'StorageClass', metadata: { name }, provisioner: 'azure/azuredisk', reclaimPolicy: 'Delete', ...spec });
  return name;
}

async function claim(className: string, spec: Json = {}): Promise<Json> {
  return cluster.create({
    apiVersion: 'v1',
    kind: 'PersistentVolumeClaim',
    metadata: { name: `data-${++counter}`, namespace: cluster.namespace },
    spec: { storageClassName: className, accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1500Mi' } }, ...spec },
  }) as Promise<Json>;
}

const uidOf = (object: Json): string => object.metadata.uid;

async function boundVolume(pvc: Json): Promise<Json> {
  return waitFor(`claim ${pvc.metadata.name} Bound`, async () => {
    const current = (await cluster.get('pvc', pvc.metadata.name, cluster.namespace)) as Json | undefined;
    return current?.status?.phase === 'Bound' ? ((await cluster.get('pv', current.spec.volumeName)) as Json) : undefined;
  });
}

async function eventsOf(name: string): Promise<Json[]> {
  return ((await cluster.list('event', cluster.namespace)) as Json[]).filter((event) => event.involvedObject?.name === name);
}

async function waitForEvent(name: string, reason: string): Promise<Json> {
  return waitFor(`event ${reason} on ${name}`, async () => (await eventsOf(name)).find((event) => event.reason === reason));
}

test('a claim of an azuredisk class gets a managed disk and a Bound PV the driver accepts; deleting the claim deletes both', async () => {
  provisioner = startProvisioner({ cluster, sim });
  const className = await storageClass({ parameters: { skuName: 'Premium_LRS', cachingMode: 'none', tags: 'team=storage' }, mountOptions: ['noatime', 'discard'] });
  const pvc = await claim(className);
  const volume = await boundVolume(pvc);
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
  await waitForEvent(pvc.metadata.name, 'ProvisioningSucceeded');
  expect((await eventsOf(pvc.metadata.name)).map((event) => event.reason)).toContain('Provisioning');

  await cluster.delete('pvc', pvc.metadata.name, cluster.namespace);
  await waitFor('the PV deleted', async () => (await cluster.get('pv', pvName)) === undefined);
  expect(sim.getDisk(pvName)).toBeUndefined();
});
