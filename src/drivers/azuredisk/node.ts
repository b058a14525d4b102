// The node side of azuredisk: find the attached disk by its LUN, format it only when it is truly
// blank, mount it at the kubelet's global path, grow its filesystem, unmount it. `mount` and
// `unmount` stay Not supported: the kubelet bind-mounts the global path into each pod itself.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { CallArgs, DriverCalls } from '../../flexvolume/driver.ts';
import { DriverError } from '../../flexvolume/errors.ts';
import { parseDriverOptions } from '../../flexvolume/options.ts';
import { realPathOf } from '../../flexvolume/paths.ts';
import { success, type Reply } from '../../flexvolume/reply.ts';
import type { Settings } from '../../settings.ts';
import {
  checkFilesystem,
  filesystemSizeBytes,
  findWrittenRegions,
  formatDevice,
  growFilesystem,
  isReadOnlyDevice,
  kernelDeviceSize,
  listSignatures,
  metadataRegions,
  openBlockDevice,
  probeSignatures,
  rescanDeviceSize,
  withFormatSlot,
  type BlockDevice,
  type DeviceNumber,
} from '../../system/block-device.ts';
import { entryPath } from '../../system/entry-path.ts';
import { withLock } from '../../system/lock.ts';
import { log } from '../../system/log.ts';
import { cleanupMountPoint, ensureMountPoint, mount } from '../../system/mount.ts';
import { findMount, readMountTable, type MountEntry } from '../../system/mount-table.ts';
import { applyReadOnly, formatMountOption, mergeMountOptions, type MountOption } from '../network-mount.ts';
import { findDiskByLun, lunIn, parseLun, waitForDisk, type DiscoveryRoots } from './lun-discovery.ts';
import { azurediskOptions, requestedFilesystem, type AzurediskOptions, type Filesystem } from './options.ts';

/** Notices a new disk within about this long; reading sysfs and /dev this often costs next to nothing. */
const POLL_MS = 100;
/** Rescanning every SCSI host is the expensive part, so it happens rarely while polling. */
const RESCAN_EVERY_MS = 5000;
/** mkfs is CPU- and I/O-heavy; more than this many at once only slows every one of them down. */
const CONCURRENT_FORMATS = 2;
/** A format or grow of a large disk may take minutes; a lock held longer than this is a stuck call. */
const DEVICE_LOCK_TIMEOUT_MS = 10 * 60_000;
const UNMOUNT_TIMEOUT_MS = 60_000;
/** Azure grows disks in whole GiB; a filesystem within this of its device's size already fills it. */
const GROWTH_THRESHOLD_BYTES = 16 * 1024 * 1024;

export type NodeCalls = Pick<DriverCalls, 'waitforattach' | 'mountdevice' | 'unmountdevice' | 'expandfs'>;

interface NodeContext {
  settings: Settings;
  roots: DiscoveryRoots;
  lockDir: string;
}

/**
 * The device the kubelet hands back: normally the stable path waitforattach answered, but a
 * kubelet that fell back to attach's answer passes the bare LUN, and old ones a udev link that
 * may be named differently on this node.
 */
function resolveDevice(context: NodeContext, devicePath: string): BlockDevice {
  if (path.isAbsolute(devicePath) && (lunIn(devicePath) === undefined || fs.existsSync(devicePath))) return openBlockDevice(devicePath);
  const lun = parseLun(devicePath);
  const lookup = findDiskByLun(lun, context.roots);
  if ('missing' in lookup) throw new DriverError(`the data disk at LUN ${lun} is not on this node: ${lookup.missing}`);
  return openBlockDevice(lookup.found.stablePath);
}

function mountsOf(device: DeviceNumber, table: MountEntry[] = readMountTable()): MountEntry[] {
  return table.filter((entry) => entry.majorMinor === device);
}

function withDeviceLock<T>(context: NodeContext, device: BlockDevice, work: () => Promise<T>): Promise<T> {
  return withLock(`azuredisk-device-${device.number}`, { dir: context.lockDir, timeoutMs: DEVICE_LOCK_TIMEOUT_MS }, work);
}

/** Every check, before a read-write mount: a device the kernel will not write cannot be repaired, formatted or used. */
function refuseReadOnlyDevice(context: NodeContext, device: BlockDevice): void {
  if (!isReadOnlyDevice(context.settings.sysRoot, device)) return;
  throw new DriverError(
    `${device.path} is read-only on this node (the kernel refuses writes to it: blockdev --getro ${device.path} prints 1), ` +
      'but the volume is mounted read-write, so it was neither checked nor formatted nor mounted. Check how the disk is attached ' +
      `(a disk attached read-only, or set read-only with blockdev --setro) or mark the volume readOnly`,
  );
}

/** How many findings a Failure lists; the rest are counted. */
const FINDINGS_SHOWN = 3;

/**
 * blkid saw nothing, which is not yet "blank": a filesystem whose primary superblock is damaged,
 * an interrupted mkfs, or a format blkid does not know leave data that wipefs or the metadata
 * regions show. Answers how many regions read as zeros when the disk is blank.
 */
async function refuseUnlessBlank(context: NodeContext, device: BlockDevice): Promise<number> {
  const regions = metadataRegions(kernelDeviceSize(context.settings.sysRoot, device));
  const [signatures, written] = await Promise.all([listSignatures(device.path), findWrittenRegions(device.path, regions)]);
  const findings = [
    ...signatures.map((signature) => `wipefs sees a ${signature} signature (inspect: wipefs --no-act ${device.path})`),
    ...written.map(({ region, offset }) => `data at byte ${offset}, in ${region.what} (inspect: ${region.inspect(device.path)})`),
  ];
  if (findings.length === 0) return regions.length;
  const more = findings.length > FINDINGS_SHOWN ? `; and ${findings.length - FINDINGS_SHOWN} more places` : '';
  throw new DriverError(
    `${device.path} has no filesystem blkid recognises, but it is not blank: ${findings.slice(0, FINDINGS_SHOWN).join('; ')}${more}. ` +
      'It was not formatted, in case it holds data (a damaged filesystem, an interrupted mkfs, a format blkid does not know). ' +
      `Inspect it as shown and repair it by hand; if its content may be erased, zero it (blkdiscard -z ${device.path}) and retry`,
  );
}

/**
 * What mountdevice found and did before mounting: a fresh filesystem, an existing one that fsck
 * passed (and that nothing else has mounted), or an existing one left as it was (read-only, or
 * in use elsewhere).
 */
type Prepared = 'formatted' | 'repaired' | 'untouched';

/**
 * Makes sure the device carries the requested filesystem, formatting it only when every check
 * agrees that it is blank, and repairs it before a read-write mount. Anything unexpected on the
 * disk is a Failure that leaves the disk exactly as it was.
 */
async function prepareFilesystem(context: NodeContext, device: BlockDevice, fsType: Filesystem, readOnly: boolean): Promise<Prepared> {
  if (!readOnly) refuseReadOnlyDevice(context, device);
  const found = await probeSignatures(device.path);
  if (found.partitionTable !== undefined) {
    throw new DriverError(
      `${device.path} has a ${found.partitionTable} partition table; azuredisk uses whole disks and will neither format nor mount it. ` +
        `If the partitions hold data, copy it off; if the disk may be erased, zero it (blkdiscard -z ${device.path}) and retry`,
    );
  }
  if (found.type === undefined) {
    const checked = await refuseUnlessBlank(context, device);
    if (readOnly) {
      throw new DriverError(
        `${device.path} has no filesystem and the volume is read-only; a read-only volume is never formatted. ` +
          'Mount it read-write once so it is formatted, or check that this is the right disk',
      );
    }
    log(`${device.path} is blank (blkid, wipefs and ${checked} metadata regions agree); formatting as ${fsType}`);
    await withFormatSlot({ lockDir: context.lockDir, slots: CONCURRENT_FORMATS, timeoutMs: DEVICE_LOCK_TIMEOUT_MS }, () =>
      formatDevice(device.path, fsType),
    );
    return 'formatted';
  }
  if (found.type !== fsType) {
    throw new DriverError(
      `the volume is configured as ${fsType} but ${device.path} holds ${found.type}; it was left untouched. ` +
        `Set fsType: ${found.type} in the PV to use the data on it`,
    );
  }
  if (readOnly) return 'untouched';
  // fsck refuses a mounted filesystem, and one mounted elsewhere is in use and consistent enough.
  const elsewhere = mountsOf(device.number);
  if (elsewhere.length > 0) {
    log(`${device.path} is already mounted at ${elsewhere.map((entry) => entry.mountPoint).join(', ')}; skipping fsck`);
    return 'untouched';
  }
  const outcome = await checkFilesystem(device.path, 'repair');
  log(`fsck -a ${device.path}: ${outcome.meaning} (exit ${outcome.exitCode})`);
  if (!outcome.clean) {
    throw new DriverError(
      `fsck -a found problems on ${device.path} it could not repair (${outcome.meaning}, exit ${outcome.exitCode}); ` +
        'the disk was not mounted. Run fsck on it by hand; see the driver log for fsck output',
    );
  }
  return 'repaired';
}

/**
 * Grows the filesystem to fill its device when the device is clearly larger: after a disk was
 * grown while detached (Azure's usual way), or restored from a snapshot into a bigger disk. A
 * smaller gap is rounding, such as a last block group too small to keep.
 */
async function growToFillDevice(context: NodeContext, device: BlockDevice, fsType: string, mountPoint: string | undefined): Promise<void> {
  // The kernel's size from sysfs is what blockdev --getsize64 asks it, without a process to run.
  const deviceBytes = kernelDeviceSize(context.settings.sysRoot, device);
  const filesystemBytes = await filesystemSizeBytes(device.path, fsType);
  if (filesystemBytes + GROWTH_THRESHOLD_BYTES > deviceBytes) {
    log(`${fsType} on ${device.path} spans ${filesystemBytes} of its ${deviceBytes} bytes; nothing to grow`);
    return;
  }
  log(`${fsType} on ${device.path} spans ${filesystemBytes} of its ${deviceBytes} bytes; growing it`);
  if (mountPoint === undefined) {
    const check = await checkFilesystem(device.path, 'full-repair');
    if (!check.clean) {
      throw new DriverError(
        `fsck -f found problems on ${device.path} it could not repair (${check.meaning}, exit ${check.exitCode}) before growing it; ` +
          'run fsck on it by hand',
      );
    }
  }
  await growFilesystem({ device: device.path, fsType, mountPoint });
}

/** `defaults`, `nouuid` for xfs (so a snapshot mounts beside its source), the user's options, `ro` when read-only. */
export function blockMountOptions(fsType: Filesystem, user: readonly MountOption[], readOnly: boolean): string[] {
  const defaults: MountOption[] = [{ name: 'defaults', value: undefined }];
  if (fsType === 'xfs') defaults.push({ name: 'nouuid', value: undefined });
  return applyReadOnly(mergeMountOptions(defaults, user), readOnly).map(formatMountOption);
}

async function mountDevice(context: NodeContext, args: CallArgs['mountdevice'], disk: AzurediskOptions): Promise<Reply> {
  const { deviceMountPath, devicePath, options } = args;
  const fsType = requestedFilesystem(options, disk);
  const device = resolveDevice(context, devicePath);
  const target = deviceMountPath.path;
  return withDeviceLock(context, device, async () => {
    const existing = findMount(target);
    if (existing !== undefined) {
      if (existing.majorMinor === device.number) {
        log(`${target} is already mounted from ${device.path}`);
        return success({ message: 'already mounted' });
      }
      throw new DriverError(
        `${target} is already mounted from ${existing.source} (device ${existing.majorMinor}), not from ${devicePath} ` +
          `(${device.path}, device ${device.number}); unmount it first`,
      );
    }
    const prepared = await prepareFilesystem(context, device, fsType, options.readOnly);
    // ext grows before the mount, which needs no online-resize privilege; xfs grows only mounted.
    if (prepared === 'repaired' && fsType !== 'xfs') await growToFillDevice(context, device, fsType, undefined);
    ensureMountPoint(target);
    await mount({
      source: device.path,
      target,
      fsType,
      options: blockMountOptions(fsType, disk.mountOptions ?? [], options.readOnly),
      timeoutMs: context.settings.mountTimeoutMs,
    });
    if (prepared === 'repaired' && fsType === 'xfs') await growToFillDevice(context, device, fsType, target);
    return success();
  });
}

/** When the kubelet has no device path (a reconstructed volume), the mount at the volume path names it. */
function deviceMountedAt(volumePath: string): BlockDevice {
  const table = readMountTable();
  const entry = findMount(volumePath, table);
  const fromDevice = entry && mountsOf(entry.majorMinor, table).find((mounted) => mounted.source.startsWith('/dev/'));
  if (fromDevice === undefined) throw new DriverError(`no device was given and nothing from a block device is mounted at ${volumePath}`);
  return openBlockDevice(fromDevice.source);
}

async function expandFilesystem(context: NodeContext, args: CallArgs['expandfs']): Promise<Reply> {
  const { devicePath, newSizeBytes } = args;
  // The mount table shows the real path: under a symlinked kubelet root it differs from the one passed.
  // A block filesystem answers the walk at once, unlike a hung network share.
  const volumePath = realPathOf(args.volumePath);
  const device = devicePath === '' ? deviceMountedAt(volumePath) : resolveDevice(context, devicePath);
  return withDeviceLock(context, device, async () => {
    const mounts = mountsOf(device.number);
    // The kubelet passes the pod's volume dir, which is not mounted yet when it expands at mount time.
    const mounted = mounts.find((entry) => entry.mountPoint === volumePath) ?? mounts.find((entry) => entry.root === '/') ?? mounts[0];
    if (mounted === undefined) {
      throw new DriverError(`${device.path} is not mounted on this node; its filesystem is grown once mountdevice has mounted it`);
    }
    rescanDeviceSize(context.settings.sysRoot, device.name);
    const size = kernelDeviceSize(context.settings.sysRoot, device);
    if (size < newSizeBytes) {
      throw new DriverError(
        `${device.path} is ${size} bytes after a rescan, less than the requested ${newSizeBytes}: the disk has not grown on this node. ` +
          'Resize the disk in Azure first (a disk that does not support live resize must be detached to grow), then the kubelet retries',
      );
    }
    const { type } = await probeSignatures(device.path);
    if (type === undefined) throw new DriverError(`${device.path} has no filesystem to grow`);
    await growToFillDevice(context, device, type, mounted.mountPoint);
    return success();
  });
}

export function createNodeCalls(settings: Settings): NodeCalls {
  const context: NodeContext = {
    settings,
    roots: { sysRoot: settings.sysRoot, devRoot: settings.devRoot },
    lockDir: entryPath(settings.stateDir, 'locks'),
  };
  return {
    async waitforattach({ devicePath }: CallArgs['waitforattach']): Promise<Reply> {
      const lun = parseLun(devicePath);
      const found = await waitForDisk(lun, context.roots, {
        timeoutMs: settings.waitForAttachTimeoutMs,
        pollMs: POLL_MS,
        rescanEveryMs: RESCAN_EVERY_MS,
      });
      return success({ device: found.stablePath });
    },

    async mountdevice(args: CallArgs['mountdevice']): Promise<Reply> {
      const disk = parseDriverOptions(azurediskOptions, args.options.user);
      return mountDevice(context, args, disk);
    },

    async unmountdevice({ deviceMountPath }: CallArgs['unmountdevice']): Promise<Reply> {
      await cleanupMountPoint(deviceMountPath.path, { timeoutMs: UNMOUNT_TIMEOUT_MS });
      return success();
    },

    async expandfs(args: CallArgs['expandfs']): Promise<Reply> {
      return expandFilesystem(context, args);
    },
  };
}
