// azuredisk in node mode, for clusters whose controller-manager cannot run a FlexVolume driver
// (AKS and other managed control planes): `init` answers attach false, so the kubelet calls only
// `mount` and `unmount`, and the node attaches the disk to its own VM.
//
// mount: attach (the controller side's code: LUN choice, per-VM lock, batching, throttling) →
// wait for the device → format if blank and mount once at the kubelet's global path → bind-mount
// into the pod. unmount: remove the pod's bind mount; when no other mount of the device is left on
// this node, unmount the global path and detach. Calls on one volume are serialized by a
// cross-process lock, so a mount racing an unmount never detaches a disk in use.
//
// State: the mount table and the VM model are the truth. The attach record (PV → disk) only
// saves a lookup: without it, the device mounted at the global path gives its LUN, and the VM
// model says which disk sits at that LUN.
import * as path from 'node:path';
import type { CallArgs, DriverCalls } from '../../flexvolume/driver.ts';
import { DriverError } from '../../flexvolume/errors.ts';
import { deviceMountPathFor, type DeviceMountPath, type PodVolumeDir } from '../../flexvolume/paths.ts';
import { success, type Reply } from '../../flexvolume/reply.ts';
import type { Settings } from '../../settings.ts';
import { withLock } from '../../system/lock.ts';
import { log } from '../../system/log.ts';
import { bindMount, cleanupMountPoint, ensureMountPoint } from '../../system/mount.ts';
import { findMount, readMountTable, type MountEntry } from '../../system/mount-table.ts';
import type { ControllerSide } from './controller.ts';
import { findLunOfDevice } from './lun-discovery.ts';
import type { NodeCalls } from './node.ts';

/** Longer than an attach may take (5 min) plus a format, so a waiter outlasts a slow holder. */
const VOLUME_LOCK_TIMEOUT_MS = 15 * 60_000;
const UNMOUNT_TIMEOUT_MS = 60_000;

function required(reply: Reply, what: string): Extract<Reply, { status: 'Success' }> {
  if (reply.status === 'Success') return reply;
  throw new DriverError(`${what}: ${reply.message ?? reply.status}`);
}

/** Other mounts of the device behind `global`: other pods' bind mounts, subpaths. */
function otherMountsOf(global: MountEntry, table: MountEntry[]): MountEntry[] {
  return table.filter((entry) => entry.majorMinor === global.majorMinor && entry.mountPoint !== global.mountPoint);
}

export function createNodeModeCalls(
  settings: Settings,
  sides: { controller: ControllerSide; node: NodeCalls },
): Pick<DriverCalls, 'mount' | 'unmount'> {
  const lockDir = path.join(settings.stateDir, 'locks');
  const roots = { sysRoot: settings.sysRoot, devRoot: settings.devRoot };
  const nodeName = settings.nodeName;

  function withVolumeLock<T>(pod: PodVolumeDir, work: () => Promise<T>): Promise<T> {
    return withLock(`azuredisk-volume-${pod.volumeName}`, { dir: lockDir, timeoutMs: VOLUME_LOCK_TIMEOUT_MS }, work);
  }

  /** Attach, wait for the device and mount it at the global path, unless that is done already. */
  async function stageVolume(global: DeviceMountPath, args: CallArgs['mount']): Promise<MountEntry> {
    const staged = findMount(global.path);
    if (staged !== undefined) return staged;
    const options = { ...args.options, volumeName: args.podVolumeDir.volumeName };
    const attached = required(await sides.controller.calls.attach!({ options, nodeName }), `attaching to node ${nodeName}`);
    const found = required(await sides.node.waitforattach!({ devicePath: attached.device ?? '', options }), 'waiting for the disk');
    required(await sides.node.mountdevice!({ deviceMountPath: global, devicePath: found.device ?? '', options }), 'mounting the disk');
    const mounted = findMount(global.path);
    if (mounted === undefined) throw new DriverError(`${global.path} is not mounted after mountdevice reported Success`);
    return mounted;
  }

  async function mount(args: CallArgs['mount']): Promise<Reply> {
    const pod = args.podVolumeDir;
    const global = deviceMountPathFor(pod, 'azuredisk');
    return withVolumeLock(pod, async () => {
      const staged = await stageVolume(global, args);
      const existing = findMount(pod.path);
      if (existing !== undefined) {
        if (existing.majorMinor === staged.majorMinor) return success({ message: 'already mounted' });
        throw new DriverError(`${pod.path} is already mounted from ${existing.source}, not from the disk at ${global.path}`);
      }
      ensureMountPoint(pod.path);
      await bindMount(global.path, pod.path, { readOnly: args.options.readOnly });
      log(`${pod.path} is bound to ${global.path} (${staged.source})`);
      return success();
    });
  }

  /** After the last user on this node: unmount the global path and detach the disk from this VM. */
  async function releaseVolume(pod: PodVolumeDir, global: DeviceMountPath): Promise<Reply> {
    const table = readMountTable();
    const staged = findMount(global.path, table);
    let lun: number | undefined;
    if (staged !== undefined) {
      const users = otherMountsOf(staged, table);
      if (users.length > 0) {
        log(`${pod.volumeName} is still used on this node by ${users.map((entry) => entry.mountPoint).join(', ')}; it stays attached`);
        return success();
      }
      lun = findLunOfDevice(path.basename(staged.source), roots);
      required(await sides.node.unmountdevice!({ deviceMountPath: global }), `unmounting ${global.path}`);
    }
    // Also when nothing was staged: a retry after a crash between the unmount and the detach.
    return required(await sides.controller.detachVolume({ volumeName: pod.volumeName, nodeName, ...(lun === undefined ? {} : { lun }) }), 'detaching');
  }

  async function unmount({ podVolumeDir: pod }: CallArgs['unmount']): Promise<Reply> {
    const global = deviceMountPathFor(pod, 'azuredisk');
    return withVolumeLock(pod, async () => {
      await cleanupMountPoint(pod.path, { timeoutMs: UNMOUNT_TIMEOUT_MS });
      return releaseVolume(pod, global);
    });
  }

  return { mount, unmount };
}
