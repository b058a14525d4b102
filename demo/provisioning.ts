// The provisioning scene: the seed's story from `kubectl create -f` to a pod's file and back. The
// built provisioner (bin/flexvolume provisioner, as its Deployment runs it) watches the stand-in
// API server, whose binder plays the PV controller; a StorageClass and a PVC become a managed disk
// in the ARM simulator and a Bound PV; the kubelet's calls for a pod use that PV's own options on
// the demo's disk machinery; deleting the PVC releases the PV and the provisioner deletes both.
import { KubeConfig, KubernetesObjectApi, Watch, type KubernetesObject } from '@kubernetes/client-node';
import { parse as parseYaml } from 'yaml';
import { FAST_FLAGS, FAST_LEASE, startProvisioner, startStandIn, waitFor, type ProvisionerProcess, type TestCluster } from '../test/helpers/cluster.ts';
import { baseOptions, goJson, mountOptions } from '../test/helpers/kubelet.ts';
import { nodeSide, plugDisk, type AzurediskStage } from './azuredisk.ts';
import { action, alias, beginScene, check, driverCall, eventsHeader, listing, note, skipped, standIn } from './show.ts';

const NODE = 'node-2';
const POD = '3c5b9e21-3333-4c4c-8e8e-000000000003';
const CLASS_YAML = `apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata: {name: managed-premium}
provisioner: azure/azuredisk
parameters: {skuName: Premium_LRS, tags: team=demo}
reclaimPolicy: Delete`;
const CLAIM_YAML = `apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: data, namespace: default}
spec:
  storageClassName: managed-premium
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 2500Mi}}`;
/** The tag by which the provisioner finds a claim's disk again after a crash. */
const CLAIM_TAG = 'kubernetes.io-created-for-pvc-uid';

type Json = Record<string, any>;

interface Stage extends AzurediskStage {
  cluster: TestCluster;
  api: KubernetesObjectApi;
  provisioner: ProvisionerProcess;
  /** How many of the provisioner's log lines were shown so far. */
  logShown: number;
}

export async function provisioningScene(base: AzurediskStage): Promise<void> {
  const { story } = base;
  beginScene(story, 'provisioning, azuredisk', 'provisioning: a StorageClass and a PVC become a managed disk and a Bound PV; a pod uses it; deleting the PVC deletes both');
  const cluster = await startStandIn();
  base.onCleanup(() => cluster.close());
  standIn(
    `Kubernetes is the stand-in API server at ${cluster.standIn?.url ?? ''} (no kube-apiserver can be installed on this machine): ` +
      "the real wire format for the resources the provisioner uses, and a binder playing kube-controller-manager's PV controller",
  );
  alias(story, '$KUBECONFIG', cluster.kubeconfigPath);
  const config = new KubeConfig();
  config.loadFromFile(cluster.kubeconfigPath);
  const api = KubernetesObjectApi.makeApiClient(config);

  const stage: Stage = { ...base, cluster, api, provisioner: startProvisioner({ cluster, sim: base.sim }), logShown: 0 };
  base.onCleanup(() => stage.provisioner.kill());
  await startedProvisioner(stage);
  const volume = await provisioned(stage);
  await podUses(stage, volume);
  await deleted(stage, volume, config);
  await action(story, { from: 'kubelet', reason: 'Killing', what: "SIGTERM to the provisioner's pod, as at a rolling update" }, async () => {
    const code = await stage.provisioner.stop();
    if (code !== 0) throw new Error(`the provisioner exited with ${code}`);
  });
  showLog(stage);
}

async function startedProvisioner(stage: Stage): Promise<void> {
  const { story, provisioner } = stage;
  const args = provisioner.child.spawnargs.slice(1);
  const tuned = new Set([...FAST_FLAGS, ...FAST_LEASE]);
  const own = args.filter((arg, index) => !tuned.has(arg) && !tuned.has(args[index - 1] ?? ''));
  alias(story, '$STATE', args[args.indexOf('--state-dir') + 1]?.replace(/\/state$/, '') ?? '');
  eventsHeader();
  await action(story, { from: 'provisioner', reason: 'Started', what: `$ bin/flexvolume ${own.join(' ')}` }, () => provisioner.waitForLine(/caches synced/));
  note("(plus retries from 200 ms and a 3 s Lease, for the demo's pace; by default they are 15 s each)");
  showLog(stage);
}

/** The user's two commands, and what came of them: a Bound PV and a disk in Azure. */
async function provisioned(stage: Stage): Promise<Json> {
  const { story, sim } = stage;
  await apply(stage, 'storageclass.yaml', CLASS_YAML);
  const claim = (await apply(stage, 'pvc.yaml', CLAIM_YAML)) as Json;
  const uid = String(claim.metadata.uid);
  const volume = await action(story, { from: 'kubectl', reason: 'WaitForBound', what: 'kubectl wait pvc/data --for=jsonpath={.status.phase}=Bound' }, () =>
    waitFor('pvc/data Bound', async () => {
      const current = (await stage.cluster.get('pvc', 'data', 'default')) as Json | undefined;
      return current?.status?.phase === 'Bound' ? ((await stage.cluster.get('pv', current.spec.volumeName)) as Json | undefined) : undefined;
    }),
  );
  showLog(stage);
  const name = String(volume.metadata.name);
  check(story, name === `pvc-${uid}`, `pvc/data is Bound to ${name} (pvc-<uid of the claim>), ${volume.spec.capacity?.storage} (2500Mi rounded up to GiB)`);
  note(`the PV's flexVolume: ${JSON.stringify(volume.spec.flexVolume).replace(/\/subscriptions\/[^"]*\//, '…/')}`);
  const found = sim.provisioning.base.findDisk(sim.resourceGroup, name);
  const disk = (found === undefined ? undefined : sim.provisioning.diskView(found)) as Json | undefined;
  check(
    story,
    disk?.sku?.name === 'Premium_LRS' && disk.properties?.diskSizeGB === 3 && disk.tags?.team === 'demo' && disk.tags?.[CLAIM_TAG] === uid,
    `the ARM simulator has disk ${disk?.name ?? '(none)'}: ${disk?.properties?.diskSizeGB} GiB, ${disk?.sku?.name}, tags ${JSON.stringify(disk?.tags ?? {})}`,
  );
  return volume;
}

async function apply(stage: Stage, file: string, yaml: string): Promise<KubernetesObject> {
  listing(stage.story, yaml);
  return action(stage.story, { from: 'kubectl', reason: 'Created', what: `kubectl create -f ${file}` }, () => stage.api.create(parseYaml(yaml) as KubernetesObject));
}

/** The kubelet's and controller-manager's calls for a pod on NODE, built from the PV as they build them. */
async function podUses(stage: Stage, volume: Json): Promise<void> {
  const { story, sim } = stage;
  const pv = String(volume.metadata.name);
  const options = volume.spec.flexVolume.options as Record<string, string>;
  const fsType = String(volume.spec.flexVolume.fsType ?? '');
  const attachOptions = goJson({ ...baseOptions({ volumeName: pv, fsType, readOnly: volume.spec.flexVolume.readOnly === true }), ...options });
  sim.addVM({ name: NODE });
  const disk = stage.privileged ? plugDisk(stage, { name: pv, sizeGiB: Number(sim.getDisk(pv)?.properties.diskSizeGB), vm: NODE, hostDir: 'host-2' }) : undefined;
  const azuredisk = { driver: 'azuredisk', from: 'kube-controller-manager' } as const;
  const attached = await driverCall(story, { ...azuredisk, reason: 'SuccessfulAttachVolume', args: ['attach', attachOptions, NODE], expect: { status: 'Success' } });
  const lun = attached.device ?? '';
  if (disk === undefined) {
    const why = stage.privileged ? 'there is no loop device to play the disk (see above)' : 'they need a loop device and mounts, which need root (run `sudo ./scripts/demo.sh` to see them)';
    skipped(`waitforattach, mountdevice, the bind mount, the pod writing and reading, unmount and unmountdevice: ${why}`);
  } else {
    const podOptions = goJson(mountOptions({ ...options, 'kubernetes.io/fsType': fsType }, { volumeName: pv, fsGroup: 2000 }));
    await nodeSide(stage, disk, { pv, pod: POD, attachOptions, podOptions }, lun);
  }
  await driverCall(story, { ...azuredisk, reason: 'SuccessfulDetachVolume', args: ['detach', pv, NODE], expect: { status: 'Success' } });
  check(story, (sim.getVM(NODE)?.properties.storageProfile.dataDisks ?? []).length === 0 && sim.getDisk(pv)?.managedBy === undefined, `${NODE} has no data disks left and ${pv} is Unattached`);
}

/** `kubectl delete pvc data`, watched as `kubectl get pv -w` shows it: the PV Released, then gone with its disk. */
async function deleted(stage: Stage, volume: Json, config: KubeConfig): Promise<void> {
  const { story, sim } = stage;
  const pv = String(volume.metadata.name);
  const phases: string[] = [];
  const watching = await new Watch(config).watch(
    '/api/v1/persistentvolumes',
    { fieldSelector: `metadata.name=${pv}`, resourceVersion: String(volume.metadata.resourceVersion) },
    (type: string, object: Json) => phases.push(type === 'DELETED' ? 'deleted' : String(object.status?.phase)),
    () => undefined,
  );
  try {
    await action(story, { from: 'kubectl', reason: 'Deleted', what: 'kubectl delete pvc data' }, () =>
      stage.api.delete({ apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: { name: 'data', namespace: 'default' } }),
    );
    await action(story, { from: 'kubectl', reason: 'WaitForDeletion', what: `kubectl wait pv/${pv} --for=delete` }, () =>
      waitFor(`PV ${pv} deleted`, () => phases.includes('deleted')),
    );
  } finally {
    watching.abort();
  }
  showLog(stage);
  const seen = phases.filter((phase, index) => phase !== phases[index - 1]);
  check(story, seen.includes('Released') && seen.at(-1) === 'deleted', `kubectl get pv -w: ${['Bound', ...seen].join(' → ')}`);
  check(story, sim.getDisk(pv) === undefined, `the ARM simulator has no disk ${pv} any more`);
}

/** The provisioner's log lines since the last look, without their timestamps. */
function showLog(stage: Stage): void {
  const lines = stage.provisioner.lines.slice(stage.logShown);
  stage.logShown = stage.provisioner.lines.length;
  if (lines.length > 0) listing(stage.story, lines.map((line) => `| ${line.replace(/^\S+ provisioner(\[\d+\])? /, '')}`).join('\n'));
}
