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
// A mount that attached the disk and then failed detaches it again (the kubelet never calls
// unmount for it); a disk that a killed call left attached is detached by a later call's sweep
// (stranded-disks.ts) once the grace period has passed and nothing on this node uses it.
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
import { entryPath } from '../../system/entry-path.ts';
import { withLock } from '../../system/lock.ts';
import { log } from '../../system/log.ts';
import { bindMount, cleanupMountPoint, ensureMountPoint } from '../../system/mount.ts';
import { findMount, readMountTable, type MountEntry } from '../../system/mount-table.ts';
import { parseDriverOptions } from '../../flexvolume/options.ts';
import { volumeRecords, type ControllerSide } from './controller.ts';
import { findLunOfDevice, lunIn } from './lun-discovery.ts';
import type { NodeCalls } from './node.ts';
import { azurediskOptions, type AzurediskOptions } from './options.ts';
import { attachmentFor, nodeAttachments, sweepStrandedDisks, usersOf, volumeLockName, type NodeAttachment } from './stranded-disks.ts';

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

/** The sweep's share of a call's time: a few seconds, whatever it finds. */
const SWEEP_BUDGET_MS = 4000;

/** What a failing mount did on its way, so it undoes exactly that. */
interface Progress {
  lun?: number;
  mounted: boolean;
}

export function createNodeModeCalls(
  settings: Settings,
  sides: { controller: ControllerSide; node: NodeCalls },
): Pick<DriverCalls, 'mount' | 'unmount'> {
  const lockDir = entryPath(settings.stateDir, 'locks');
  const roots = { sysRoot: settings.sysRoot, devRoot: settings.devRoot };
  const nodeName = settings.nodeName;
  const attachments = nodeAttachments(settings.stateDir);
  const volumes = volumeRecords(settings.stateDir);

  function withVolumeLock<T>(pod: PodVolumeDir, work: () => Promise<T>): Promise<T> {
    return withLock(volumeLockName(pod.volumeName), { dir: lockDir, timeoutMs: VOLUME_LOCK_TIMEOUT_MS }, work);
  }

  /**
   * Written before the attach, so that even a call killed during it leaves a record for the sweep,
   * and the PV → disk record detach reads (attach itself writes it only once it succeeds).
   */
  function recordAttachment(pod: PodVolumeDir, global: DeviceMountPath, disk: AzurediskOptions): NodeAttachment {
    const attachment = attachmentFor(global, disk.diskURI);
    attachments.write(pod.volumeName, attachment);
    if (volumes.read(pod.volumeName) === undefined) volumes.write(pod.volumeName, { diskUri: disk.diskURI, diskName: disk.diskName });
    return attachment;
  }

  /** Attach, wait for the device and mount it at the global path, unless that is done already. */
  async function stageVolume(global: DeviceMountPath, args: CallArgs['mount'], progress: Progress): Promise<MountEntry> {
    const staged = findMount(global.path);
    if (staged !== undefined) return staged;
    const pod = args.podVolumeDir;
    const attachment = recordAttachment(pod, global, parseDriverOptions(azurediskOptions, args.options.user));
    const options = { ...args.options, volumeName: pod.volumeName };
    const attached = required(await sides.controller.calls.attach!({ options, nodeName }), `attaching to node ${nodeName}`);
    progress.lun = lunIn(attached.device ?? '');
    if (progress.lun !== undefined) attachments.write(pod.volumeName, { ...attachment, lun: progress.lun });
    const found = required(await sides.node.waitforattach!({ devicePath: attached.device ?? '', options }), 'waiting for the disk');
    required(await sides.node.mountdevice!({ deviceMountPath: global, devicePath: found.device ?? '', options }), 'mounting the disk');
    progress.mounted = true;
    const mounted = findMount(global.path);
    if (mounted === undefined) throw new DriverError(`${global.path} is not mounted after mountdevice reported Success`);
    return mounted;
  }

  /**
   * Undoes what a failed mount did, unless something else on this node uses the disk: the kubelet
   * never calls unmount for a mount that failed, so a disk left attached here would be stranded.
   * Answers what became of the disk, for the Failure's message.
   */
  async function rollBack(pod: PodVolumeDir, global: DeviceMountPath, progress: Progress): Promise<string> {
    const attachment = attachments.read(pod.volumeName);
    const users = attachment === undefined ? [] : usersOf(pod.volumeName, attachment, roots).filter((user) => !(progress.mounted && user === global.path));
    if (users.length > 0) return `the disk stays attached: ${users.join(', ')} still use it`;
    try {
      if (progress.mounted) required(await sides.node.unmountdevice!({ deviceMountPath: global }), `unmounting ${global.path}`);
      required(await sides.controller.detachVolume({ volumeName: pod.volumeName, nodeName, ...(progress.lun === undefined ? {} : { lun: progress.lun }) }), 'detaching');
      attachments.delete(pod.volumeName);
      return 'the disk was detached from this node again';
    } catch (error) {
      return `undoing the attach failed too (${(error as Error).message}); a later call on this node detaches it`;
    }
  }

  /** Stages the volume if needed and binds it into the pod. */
  async function bindIntoPod(pod: PodVolumeDir, global: DeviceMountPath, args: CallArgs['mount'], progress: Progress): Promise<Reply> {
    const staged = await stageVolume(global, args, progress);
    const existing = findMount(pod.path);
    if (existing !== undefined) {
      if (existing.majorMinor === staged.majorMinor) return success({ message: 'already mounted' });
      throw new DriverError(`${pod.path} is already mounted from ${existing.source}, not from the disk at ${global.path}`);
    }
    ensureMountPoint(pod.path);
    await bindMount(global.path, pod.path, { readOnly: args.options.readOnly });
    log(`${pod.path} is bound to ${global.path} (${staged.source})`);
    return success();
  }

  async function mountVolume(args: CallArgs['mount']): Promise<Reply> {
    const pod = args.podVolumeDir;
    const global = deviceMountPathFor(pod, 'azuredisk');
    return withVolumeLock(pod, async () => {
      const progress: Progress = { mounted: false };
      try {
        return await bindIntoPod(pod, global, args, progress);
      } catch (error) {
        // Only a volume this call attached (or found attached but unstaged) is rolled back; one staged before stays.
        if (progress.lun === undefined) throw error;
        throw new DriverError(`${(error as Error).message}; ${await rollBack(pod, global, progress)}`);
      }
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
    const detached = required(await sides.controller.detachVolume({ volumeName: pod.volumeName, nodeName, ...(lun === undefined ? {} : { lun }) }), 'detaching');
    attachments.delete(pod.volumeName);
    return detached;
  }

  async function unmountVolume({ podVolumeDir: pod }: CallArgs['unmount']): Promise<Reply> {
    const global = deviceMountPathFor(pod, 'azuredisk');
    return withVolumeLock(pod, async () => {
      await cleanupMountPoint(pod.path, { timeoutMs: UNMOUNT_TIMEOUT_MS });
      return releaseVolume(pod, global);
    });
  }

  /** After the call's own work, whatever its outcome: other volumes' stranded disks. */
  async function thenSweep(pod: PodVolumeDir, work: () => Promise<Reply>): Promise<Reply> {
    try {
      return await work();
    } finally {
      await sweepStrandedDisks({
        stateDir: settings.stateDir,
        lockDir,
        roots,
        graceMs: settings.strandedDiskGraceMs,
        budgetMs: SWEEP_BUDGET_MS,
        except: pod.volumeName,
        detach: (volumeName, attachment) => sides.controller.detachVolume({ volumeName, nodeName, ...(attachment.lun === undefined ? {} : { lun: attachment.lun }) }),
      }).catch((error: unknown) => log(`sweep failed: ${(error as Error).message}`));
    }
  }

  return {
    mount: (args) => thenSweep(args.podVolumeDir, () => mountVolume(args)),
    unmount: (args) => thenSweep(args.podVolumeDir, () => unmountVolume(args)),
  };
}
