// The azuredisk scene: a 5 GiB managed disk in the ARM simulator, attached by the controller-manager,
// found, formatted and mounted by the kubelet, written and read by a pod, then torn down; then the
// same disk in node mode, where the node attaches it itself. A loop device over a sparse file plays
// the disk, a fixture sysfs tree plays the VM's SCSI bus, and a simulated hypervisor hot-plugs the
// disk into that tree at its LUN when ARM says it is attached.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ArmSimulator } from '../test/arm-simulator/index.ts';
import { simulateAzureHost } from '../test/helpers/azure-host.ts';
import { baseOptions, goJson, mountOptions } from '../test/helpers/kubelet.ts';
import { createLoopPool, probe, type LoopDevice } from '../test/helpers/loop-devices.ts';
import { createScsiFixture, type ScsiFixture } from '../test/helpers/scsi-fixture.ts';
import { mountsUnder } from '../test/helpers/sandbox.ts';
import { action, alias, beginScene, check, driverCall, eventsHeader, note, skipped, standIn, type Story } from './show.ts';

const GiB = 1024 ** 3;
const NODE = 'node-1';
const PV = 'pv-data';
const DISK = 'disk-data';
const LEDGER = 'ledger.txt';
const CONTROLLER_POD = '7f0c6d3e-1111-4a4a-9c9c-000000000001';
const NODE_MODE_POD = '9a1e7c44-2222-4b4b-8d8d-000000000002';
const NODE_MODE_ENV = { FLEXVOLUME_AZUREDISK_MODE: 'node', FLEXVOLUME_NODE_NAME: NODE };

export interface AzurediskStage {
  story: Story;
  sim: ArmSimulator;
  updateLatencyMs: number;
  /** Whether this run may make loop devices and mounts. */
  privileged: boolean;
  /** Registers clean-up, run in reverse order at the end or on a signal. */
  onCleanup(step: () => void | Promise<void>): void;
}

export interface Disk {
  fixture: ScsiFixture;
  loop: LoopDevice;
}

/** A volume as the kubelet hands it to the driver for one pod: the attach and the mount options. */
export interface PodVolume {
  pv: string;
  pod: string;
  attachOptions: string;
  podOptions: string;
}

export async function azurediskScene(stage: AzurediskStage): Promise<void> {
  const { story, sim } = stage;
  beginScene(story, 'azuredisk, controller mode', `azuredisk: a pod on ${NODE} uses a 5 GiB managed disk (controller-manager attaches it)`);
  const diskURI = sim.addDisk({ name: DISK, sizeGB: 5, sku: 'Premium_LRS' });
  sim.addVM({ name: NODE });
  standIn(
    `Azure is the ARM simulator at ${sim.url}, with VM ${NODE} and managed disk ${DISK} (5 GiB) in resource group ${sim.resourceGroup}; ` +
      `a VM update takes ${stage.updateLatencyMs} ms there (tens of seconds in Azure)`,
  );

  const disk = stage.privileged ? plugDisk(stage, { name: DISK, sizeGiB: 5, vm: NODE, hostDir: 'host' }) : undefined;
  const attachOptions = goJson({ ...baseOptions({ volumeName: PV, fsType: 'ext4' }), diskName: DISK, diskURI });
  const azuredisk = { driver: 'azuredisk' } as const;

  eventsHeader();
  await driverCall(story, { ...azuredisk, from: 'kubelet', reason: 'ProbeDriver', args: ['init'], expect: { status: 'Success', capabilities: { attach: true } } });
  await driverCall(story, { ...azuredisk, from: 'kube-controller-manager', reason: 'GetVolumeName', args: ['getvolumename', attachOptions], expect: { status: 'Not supported' } });
  const attached = await driverCall(story, {
    ...azuredisk,
    from: 'kube-controller-manager',
    reason: 'SuccessfulAttachVolume',
    args: ['attach', attachOptions, NODE],
    expect: { status: 'Success' },
  });
  const lun = attached.device ?? '';
  await driverCall(story, { ...azuredisk, from: 'kube-controller-manager', reason: 'VerifyAttached', args: ['isattached', attachOptions, NODE], expect: { status: 'Success', attached: true } });
  check(story, sim.getVM(NODE)?.properties.storageProfile.dataDisks.some((entry) => entry.name === DISK && String(entry.lun) === lun) === true, `ARM shows ${DISK} on ${NODE} at LUN ${lun}`);

  const noDisk = stage.privileged
    ? 'there is no loop device to play the disk (see above)'
    : 'they need a loop device and mounts, which need root (run `sudo ./scripts/demo.sh` to see them)';
  if (disk === undefined) {
    skipped(`waitforattach, mountdevice, the bind mount, the pod writing and reading, unmount and unmountdevice: ${noDisk}`);
  } else {
    const podOptions = goJson(mountOptions({ diskName: DISK, diskURI, 'kubernetes.io/fsType': 'ext4' }, { volumeName: PV, fsGroup: 2000 }));
    await nodeSide(stage, disk, { pv: PV, pod: CONTROLLER_POD, attachOptions, podOptions }, lun);
  }

  await driverCall(story, { ...azuredisk, from: 'kube-controller-manager', reason: 'SuccessfulDetachVolume', args: ['detach', PV, NODE], expect: { status: 'Success' } });
  await driverCall(story, { ...azuredisk, from: 'kube-controller-manager', reason: 'VerifyAttached', args: ['isattached', attachOptions, NODE], expect: { status: 'Success', attached: false } });
  check(story, (sim.getVM(NODE)?.properties.storageProfile.dataDisks ?? []).length === 0 && sim.getDisk(DISK)?.managedBy === undefined, `${NODE} has no data disks left and ${DISK} is Unattached`);

  beginScene(
    story,
    'azuredisk, node mode',
    `azuredisk in node mode: no controller-manager; the kubelet's mount attaches the disk (${Object.entries(NODE_MODE_ENV).map(([key, value]) => `${key}=${value}`).join(' ')})`,
  );
  eventsHeader();
  await driverCall(story, { ...azuredisk, from: 'kubelet', reason: 'ProbeDriver', args: ['init'], env: NODE_MODE_ENV, expect: { status: 'Success', capabilities: { attach: false } } });
  if (disk === undefined) {
    skipped(`mount and unmount in node mode: ${noDisk}`);
    return;
  }
  await nodeMode(stage, diskURI);
}

/** The loop device that plays a disk, and the hypervisor that hot-plugs it into a fixture sysfs of VM `vm`. */
export function plugDisk(stage: AzurediskStage, spec: { name: string; sizeGiB: number; vm: string; hostDir: string }): Disk | undefined {
  const pool = createLoopPool();
  stage.onCleanup(() => pool.detachAll());
  let loop: LoopDevice;
  try {
    loop = pool.create(spec.name, spec.sizeGiB * GiB);
  } catch (error) {
    skipped(`no loop device could be made (${(error as Error).message.trim()}); the node side needs one`);
    return undefined;
  }
  const fixture = createScsiFixture(path.join(stage.story.sandbox.dir, spec.hostDir));
  stage.onCleanup(() => fixture.cleanup());
  Object.assign(stage.story.sandbox.env, fixture.env);
  const host = simulateAzureHost({ sim: stage.sim, fixture, vmName: spec.vm, devices: new Map([[spec.name, loop.path]]) });
  stage.onCleanup(() => host.stop());
  standIn(
    `${spec.name} is ${loop.path} over a sparse ${spec.sizeGiB} GiB file, and ${spec.vm}'s SCSI bus the fixture tree $SANDBOX/${spec.hostDir}/sys ` +
      '(FLEXVOLUME_SYS_ROOT, FLEXVOLUME_DEV_ROOT), into which a simulated hypervisor hot-plugs each disk ARM attaches, at its LUN',
  );
  return { fixture, loop };
}

/**
 * The kubelet's part for an attached disk: wait for it, format and mount it once per node, bind-mount
 * it into the pod, which writes and reads a file; then all of it undone, up to (not including) detach.
 */
export async function nodeSide(stage: AzurediskStage, disk: Disk, volume: PodVolume, lun: string): Promise<void> {
  const { story } = stage;
  const { attachOptions, podOptions } = volume;
  const globalPath = story.sandbox.deviceMountPath('azuredisk', volume.pv);
  const podDir = story.sandbox.podVolumeDir('azuredisk', volume.pv, volume.pod);
  const azuredisk = { driver: 'azuredisk', from: 'kubelet' } as const;
  alias(story, '$GLOBAL', globalPath);
  alias(story, '$POD', podDir);

  const found = await driverCall(story, {
    ...azuredisk,
    reason: 'WaitForAttach',
    args: ['waitforattach', lun, attachOptions],
    expect: { status: 'Success', device: path.join(disk.fixture.devRoot, `disk/azure/scsi1/lun${lun}`) },
  });
  const device = found.device ?? '';
  check(story, fs.realpathSync(device) === disk.loop.path, `${device} leads to ${disk.loop.path}`);
  await action(story, { from: 'kubelet', reason: 'PrepareForMount', what: `mkdir -m 0750 -p ${globalPath}` }, () =>
    fs.mkdirSync(globalPath, { recursive: true, mode: 0o750 }),
  );
  await driverCall(story, { ...azuredisk, reason: 'MountDevice', args: ['mountdevice', globalPath, device, attachOptions], expect: { status: 'Success' } });
  check(story, probe(disk.loop.path).TYPE === 'ext4', `the blank disk was formatted: blkid says TYPE=${probe(disk.loop.path).TYPE ?? 'none'}`);
  await driverCall(story, { ...azuredisk, reason: 'SetUp', args: ['mount', podDir, podOptions], expect: { status: 'Not supported' } });
  note('Not supported: an attachable driver lets the kubelet bind-mount the global mount into the pod');
  await action(story, { from: 'kubelet', reason: 'BindMount', what: `mount --bind ${globalPath} ${podDir}` }, () => {
    fs.mkdirSync(podDir, { recursive: true, mode: 0o750 });
    run('mount', ['--bind', globalPath, podDir]);
  });
  const text = `entry 1, written by pod ${volume.pod} at ${new Date().toISOString()}\n`;
  await action(story, { from: 'pod', reason: 'Write', what: `echo '${text.trim()}' > ${path.join(podDir, LEDGER)}` }, () =>
    fs.writeFileSync(path.join(podDir, LEDGER), text),
  );
  const read = await action(story, { from: 'pod', reason: 'Read', what: `cat ${path.join(podDir, LEDGER)}` }, () =>
    fs.readFileSync(path.join(podDir, LEDGER), 'utf8'),
  );
  check(story, read === text, 'the pod read back what it wrote');
  await driverCall(story, { ...azuredisk, reason: 'TearDown', args: ['unmount', podDir], expect: { status: 'Not supported' } });
  await action(story, { from: 'kubelet', reason: 'CleanupMountPoint', what: `umount ${podDir} && rmdir ${podDir}` }, () => {
    run('umount', [podDir]);
    fs.rmdirSync(podDir);
  });
  await driverCall(story, { ...azuredisk, reason: 'UnmountDevice', args: ['unmountdevice', globalPath], expect: { status: 'Success' } });
  check(story, mountsUnder(story.sandbox.dir).length === 0, 'nothing of the volume is mounted any more');
}

async function nodeMode(stage: AzurediskStage, diskURI: string): Promise<void> {
  const { story, sim } = stage;
  const podDir = story.sandbox.podVolumeDir('azuredisk', PV, NODE_MODE_POD);
  const podOptions = goJson(mountOptions({ diskName: DISK, diskURI, 'kubernetes.io/fsType': 'ext4' }, { volumeName: PV, fsGroup: 2000 }));
  const nodeMode = { driver: 'azuredisk', from: 'kubelet', env: NODE_MODE_ENV } as const;
  alias(story, '$POD', podDir);

  await action(story, { from: 'kubelet', reason: 'PrepareForMount', what: `mkdir -m 0750 -p ${podDir}` }, () =>
    fs.mkdirSync(podDir, { recursive: true, mode: 0o750 }),
  );
  await driverCall(story, { ...nodeMode, reason: 'SetUp', args: ['mount', podDir, podOptions], expect: { status: 'Success' } });
  check(story, sim.getVM(NODE)?.properties.storageProfile.dataDisks.some((entry) => entry.name === DISK) === true, `the node attached ${DISK} to its own VM`);
  const ledger = await action(story, { from: 'pod', reason: 'Read', what: `cat ${path.join(podDir, LEDGER)}` }, () =>
    fs.readFileSync(path.join(podDir, LEDGER), 'utf8'),
  );
  check(story, ledger.startsWith('entry 1'), 'the new pod finds the ledger the first pod wrote: the data survived detach and attach');
  await driverCall(story, { ...nodeMode, reason: 'TearDown', args: ['unmount', podDir], expect: { status: 'Success' } });
  check(
    story,
    (sim.getVM(NODE)?.properties.storageProfile.dataDisks ?? []).length === 0 && mountsUnder(story.sandbox.dir).length === 0 && !fs.existsSync(podDir),
    'the last pod gone, the node unmounted and detached the disk itself and removed the pod directory',
  );
}

function run(command: string, args: string[]): void {
  const result = spawnSync(command, args, { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')}: ${result.stderr.trim() || `exit ${result.status}`}`);
}
