// Node mode's memory of the disks it attached to this node, and the sweep that detaches the ones
// nothing stages any more. The kubelet never calls `unmount` for a volume whose `mount` failed,
// and a call killed after its attach cannot roll back, so without the sweep such a disk would stay
// attached here and every other node would be refused it for good.
//
// A disk is swept only when all of these hold: its record is older than the grace period (the
// record is renewed whenever a mount of it begins), nobody holds its volume lock (a call in
// progress), nothing is mounted at its global path, no pod directory of the volume is mounted, and
// the device at its LUN is mounted nowhere on this node.
import { bootTimeMs } from '../../system/boot-time.ts';
import { entryPath } from '../../system/entry-path.ts';
import { log } from '../../system/log.ts';
import { openBlockDevice } from '../../system/block-device.ts';
import { tryAcquireLock, type Lock } from '../../system/lock.ts';
import { readMountTable, type MountEntry } from '../../system/mount-table.ts';
import { RecordStore } from '../../system/state.ts';
import type { DeviceMountPath } from '../../flexvolume/paths.ts';
import type { Reply } from '../../flexvolume/reply.ts';
import { findDiskByLun, type DiscoveryRoots } from './lun-discovery.ts';

/** A disk node mode attached, kept until it is detached again. */
export interface NodeAttachment {
  diskUri: string;
  /** The volume's global mount path, where mount stages the disk. */
  globalPath: string;
  /** `<kubelet root>/pods`, under which each pod's directory of the volume lives. */
  podsDir: string;
  /** `<vendor>~azuredisk`, the plugin directory name in a pod's volumes. */
  pluginDirName: string;
  /** When a mount of it last began (ms since the epoch): the grace period runs from here. */
  since: number;
  /** Where the disk sits once attached. */
  lun?: number;
}

export function nodeAttachments(stateDir: string): RecordStore<NodeAttachment> {
  return new RecordStore<NodeAttachment>(entryPath(stateDir, 'azuredisk', 'node-attached'));
}

export function attachmentFor(global: DeviceMountPath, diskUri: string): NodeAttachment {
  return {
    diskUri,
    globalPath: global.path,
    podsDir: entryPath(global.kubeletRoot, 'pods'),
    pluginDirName: `${global.vendor}~azuredisk`,
    since: Date.now(),
  };
}

/** The same name node mode's calls lock a volume under, so the sweep and a call exclude each other. */
export const volumeLockName = (volumeName: string): string => `azuredisk-volume-${volumeName}`;

function mountsOfDiskAt(lun: number, roots: DiscoveryRoots, table: MountEntry[]): MountEntry[] {
  const lookup = findDiskByLun(lun, roots);
  if (!('found' in lookup)) return [];
  const { number } = openBlockDevice(lookup.found.stablePath);
  return table.filter((entry) => entry.majorMinor === number);
}

/** What on this node still uses the volume's disk: mount points, none when it is stranded. */
export function usersOf(volumeName: string, attachment: NodeAttachment, roots: DiscoveryRoots, table = readMountTable()): string[] {
  const podDir = (entry: MountEntry) =>
    entry.mountPoint.startsWith(`${attachment.podsDir}/`) && entry.mountPoint.endsWith(`/volumes/${attachment.pluginDirName}/${volumeName}`);
  const direct = table.filter((entry) => entry.mountPoint === attachment.globalPath || podDir(entry));
  const device = attachment.lun === undefined ? [] : mountsOfDiskAt(attachment.lun, roots, table);
  return [...new Set([...direct, ...device].map((entry) => entry.mountPoint))];
}

export interface SweepOptions {
  stateDir: string;
  lockDir: string;
  roots: DiscoveryRoots;
  graceMs: number;
  budgetMs: number;
  /** The volume the current call works on, which it handles itself. */
  except: string;
  detach: (volumeName: string, attachment: NodeAttachment) => Promise<Reply>;
}

const SWEEP_LOCK = 'azuredisk-node-sweep';

/**
 * After a reboot every staged disk looks unused until the kubelet mounts its pods again: the grace
 * period then runs from the boot, so those disks are not detached only to be attached again.
 */
function graceStart(attachment: NodeAttachment): number {
  return Math.max(attachment.since, bootTimeMs() ?? 0);
}

type Swept = 'detached' | 'in use' | 'out of time';

/**
 * Detaches one stranded disk under its volume lock. A detach still running when the budget ends
 * keeps the lock: the call ends soon after, and only then may another call touch the volume.
 */
async function sweepOne(volumeName: string, attachment: NodeAttachment, lock: Lock, options: SweepOptions, deadline: number): Promise<Swept> {
  let timer: NodeJS.Timeout | undefined;
  let keepLock = false;
  try {
    if (usersOf(volumeName, attachment, options.roots).length > 0) return 'in use';
    log(`sweep: ${volumeName} (${attachment.diskUri}) was attached in node mode, its last mount began ${Math.round((Date.now() - attachment.since) / 1000)} s ago and nothing on this node uses it; detaching it`);
    const outOfTime = new Promise<'out of time'>((resolve) => {
      timer = setTimeout(() => resolve('out of time'), Math.max(0, deadline - Date.now()));
    });
    const detached = options.detach(volumeName, attachment).then((reply) => {
      if (reply.status !== 'Success') throw new Error(reply.message ?? reply.status);
      nodeAttachments(options.stateDir).delete(volumeName);
      return 'detached' as const;
    });
    const outcome = await Promise.race([detached, outOfTime]);
    if (outcome === 'out of time') {
      keepLock = true;
      detached.catch((error: unknown) => log(`sweep: detaching ${volumeName} failed: ${(error as Error).message}`));
    }
    return outcome;
  } finally {
    clearTimeout(timer);
    if (!keepLock) lock.release();
  }
}

/**
 * Detaches the disks this node attached in node mode that nothing stages any more, within a small
 * budget of the call's time; skipped while another process sweeps.
 */
export async function sweepStrandedDisks(options: SweepOptions): Promise<void> {
  const sweepLock = tryAcquireLock(SWEEP_LOCK, options.lockDir);
  if (sweepLock === undefined) return;
  const deadline = Date.now() + options.budgetMs;
  const attachments = nodeAttachments(options.stateDir);
  try {
    for (const volumeName of attachments.keys()) {
      if (Date.now() >= deadline) return;
      const attachment = attachments.read(volumeName);
      if (volumeName === options.except || attachment === undefined || Date.now() - graceStart(attachment) < options.graceMs) continue;
      const lock = tryAcquireLock(volumeLockName(volumeName), options.lockDir);
      if (lock === undefined) continue;
      try {
        const outcome = await sweepOne(volumeName, attachment, lock, options, deadline);
        log(`sweep: ${volumeName}: ${outcome}`);
        if (outcome === 'out of time') return;
      } catch (error) {
        log(`sweep: detaching ${volumeName} failed, to be retried by a later call: ${(error as Error).message}`);
      }
    }
  } finally {
    sweepLock.release();
  }
}
