// Block devices: what is on them (blkid, wipefs), checking and repairing (fsck), formatting
// (mkfs), size and growth (blockdev, sysfs rescan, resize2fs, xfs_growfs). Each tool is one small
// function; none of them decides policy such as when a disk may be formatted.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { DriverError } from '../flexvolume/errors.ts';
import { lastLine, run, runChecked } from './exec.ts';
import { tryAcquireLock, type Lock } from './lock.ts';
import { log } from './log.ts';

/** `major:minor` as /proc/self/mountinfo writes it. */
export type DeviceNumber = string;

export interface BlockDevice {
  /** The canonical node, e.g. `/dev/sdc`, with every symlink resolved. */
  path: string;
  /** The kernel's name for it, e.g. `sdc`: the directory name under /sys/class/block. */
  name: string;
  number: DeviceNumber;
}

/** Resolves a device path (a udev link, usually) to the block device it names. */
export function openBlockDevice(devicePath: string): BlockDevice {
  let resolved: string;
  let stat: fs.BigIntStats;
  try {
    resolved = fs.realpathSync(devicePath);
    stat = fs.statSync(resolved, { bigint: true });
  } catch (error) {
    throw new DriverError(`device ${devicePath} does not exist on this node (${(error as NodeJS.ErrnoException).code}); is the disk attached?`);
  }
  if (!stat.isBlockDevice()) throw new DriverError(`${devicePath} (${resolved}) is not a block device`);
  return { path: resolved, name: path.basename(resolved), number: deviceNumberOf(stat.rdev) };
}

/** Linux's dev_t layout (glibc gnu_dev_major/minor). */
export function deviceNumberOf(rdev: bigint): DeviceNumber {
  const major = ((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & 0xfffff000n);
  const minor = (rdev & 0xffn) | ((rdev >> 12n) & 0xffffff00n);
  return `${major}:${minor}`;
}

export interface Signatures {
  /** Filesystem (or other content) type, e.g. `ext4`, `xfs`, `swap`, `LVM2_member`. */
  type: string | undefined;
  /** Partition table type, e.g. `dos`, `gpt`. */
  partitionTable: string | undefined;
}

/**
 * What blkid finds on the device, probing the device itself rather than its cache. Exit 2 is
 * blkid's "nothing found"; every other failure is an error, never "blank".
 */
export async function probeSignatures(device: string): Promise<Signatures> {
  const result = await run('blkid', ['-p', '-s', 'TYPE', '-s', 'PTTYPE', '-o', 'export', device], { timeoutMs: 60_000 });
  if (result.exitCode === 2) return { type: undefined, partitionTable: undefined };
  if (result.exitCode !== 0 || result.timedOut) {
    throw new DriverError(`blkid could not read ${device} (exit ${result.exitCode}): ${lastLine(result)}`);
  }
  const fields = new Map(
    result.stdout.split('\n').map((line) => {
      const equals = line.indexOf('=');
      return [line.slice(0, equals), line.slice(equals + 1)] as const;
    }),
  );
  return { type: fields.get('TYPE') || undefined, partitionTable: fields.get('PTTYPE') || undefined };
}

/** Every signature wipefs sees (it lists more than blkid's probe reports); [] when none. */
export async function listSignatures(device: string): Promise<string[]> {
  const result = await runChecked('wipefs', ['--no-act', '--output', 'TYPE', '--noheadings', device], { timeoutMs: 60_000 });
  return result.stdout
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '');
}

/** `check` only reports; `repair` fixes what is safe without a person; `full-repair` also checks a clean filesystem. */
export type FsckMode = 'check' | 'repair' | 'full-repair';

const FSCK_FLAGS: Record<FsckMode, string[]> = { check: ['-n'], repair: ['-a'], 'full-repair': ['-f', '-a'] };

export interface FsckOutcome {
  exitCode: number;
  /** fsck(8)'s exit bits 1 (corrected) and 2 (corrected, reboot advised) only. */
  clean: boolean;
  meaning: string;
}

const FSCK_BITS: Array<[number, string]> = [
  [1, 'errors corrected'],
  [2, 'errors corrected, reboot advised'],
  [4, 'errors left uncorrected'],
  [8, 'operational error'],
  [16, 'usage or syntax error'],
  [32, 'checking canceled'],
  [128, 'shared-library error'],
];

export function fsckMeaning(exitCode: number): FsckOutcome {
  const meanings = FSCK_BITS.filter(([bit]) => (exitCode & bit) !== 0).map(([, text]) => text);
  return { exitCode, clean: (exitCode & ~3) === 0, meaning: meanings.length === 0 ? 'no errors' : meanings.join(', ') };
}

export async function checkFilesystem(device: string, mode: FsckMode): Promise<FsckOutcome> {
  const result = await run('fsck', [...FSCK_FLAGS[mode], device], { timeoutMs: 30 * 60_000 });
  if (result.timedOut) throw new DriverError(`fsck of ${device} did not finish within 30 minutes`);
  return fsckMeaning(result.exitCode);
}

const MKFS: Record<string, (device: string) => [string, string[]]> = {
  // -m0: no blocks reserved for root on a data disk. Inode tables initialise lazily in the
  // background, so a large disk formats in seconds instead of minutes.
  ext4: (device) => ['mkfs.ext4', ['-F', '-m0', device]],
  ext3: (device) => ['mkfs.ext3', ['-F', '-m0', device]],
  xfs: (device) => ['mkfs.xfs', ['-f', device]],
};

export async function formatDevice(device: string, fsType: string): Promise<void> {
  const command = MKFS[fsType];
  if (command === undefined) throw new DriverError(`formatting as ${fsType} is not supported`);
  const [tool, args] = command(device);
  await runChecked(tool, args, { timeoutMs: 30 * 60_000 });
}

export async function deviceSizeBytes(device: string): Promise<number> {
  const result = await runChecked('blockdev', ['--getsize64', device], { timeoutMs: 30_000 });
  const size = Number(result.stdout.trim());
  if (!Number.isSafeInteger(size)) throw new DriverError(`blockdev reported a size of '${result.stdout.trim()}' for ${device}`);
  return size;
}

function numberAfter(text: string, label: RegExp): number {
  const match = label.exec(text);
  return match ? Number(match[1]) : NaN;
}

/** The size the filesystem itself spans, read from its superblock; mounted or not. */
export async function filesystemSizeBytes(device: string, fsType: string): Promise<number> {
  let bytes: number;
  if (fsType === 'xfs') {
    const { stdout } = await runChecked('xfs_db', ['-r', '-c', 'sb 0', '-c', 'print dblocks blocksize', device], { timeoutMs: 60_000 });
    bytes = numberAfter(stdout, /^dblocks = (\d+)$/m) * numberAfter(stdout, /^blocksize = (\d+)$/m);
  } else if (fsType.startsWith('ext')) {
    const { stdout } = await runChecked('dumpe2fs', ['-h', device], { timeoutMs: 60_000 });
    bytes = numberAfter(stdout, /^Block count:\s+(\d+)$/m) * numberAfter(stdout, /^Block size:\s+(\d+)$/m);
  } else {
    throw new DriverError(`the size of a ${fsType} filesystem cannot be read`);
  }
  if (!Number.isSafeInteger(bytes)) throw new DriverError(`could not read the size of the ${fsType} filesystem on ${device}; see the driver log`);
  return bytes;
}

/**
 * Asks the kernel to re-read the size of a SCSI disk that was grown in Azure. Devices without a
 * SCSI parent (NVMe, loop) have no rescan file and learn their size by other means.
 */
export function rescanDeviceSize(sysRoot: string, name: string): boolean {
  const file = path.join(sysRoot, 'class/block', name, 'device/rescan');
  try {
    fs.writeFileSync(file, '1');
    return true;
  } catch (error) {
    log(`no size rescan for ${name}: ${(error as NodeJS.ErrnoException).code} on ${file}`);
    return false;
  }
}

export interface GrowRequest {
  device: string;
  fsType: string;
  /**
   * Where the filesystem is mounted, or undefined when it is not: ext grows either way (offline
   * only after a full fsck, which resize2fs insists on), xfs only through its mount point.
   */
  mountPoint: string | undefined;
}

/** Grows the filesystem to fill its device. */
export async function growFilesystem(request: GrowRequest): Promise<void> {
  switch (request.fsType) {
    case 'ext3':
    case 'ext4':
      await runChecked('resize2fs', [request.device], { timeoutMs: 30 * 60_000 });
      return;
    case 'xfs':
      if (request.mountPoint === undefined) throw new DriverError('an xfs filesystem grows only while mounted');
      await runChecked('xfs_growfs', ['-d', request.mountPoint], { timeoutMs: 30 * 60_000 });
      return;
    default:
      throw new DriverError(`growing a ${request.fsType} filesystem is not supported`);
  }
}

export interface FormatSlotOptions {
  lockDir: string;
  slots: number;
  timeoutMs: number;
}

const SLOT_POLL_MS = 200;

/**
 * Runs `work` while holding one of a few node-wide format slots, so a node attaching many new
 * disks at once does not run every mkfs in parallel on the same disks and CPUs.
 */
export async function withFormatSlot<T>(options: FormatSlotOptions, work: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + options.timeoutMs;
  let slot: Lock | undefined;
  while (slot === undefined) {
    for (let index = 0; index < options.slots && slot === undefined; index++) {
      slot = tryAcquireLock(`format-slot-${index}`, options.lockDir);
    }
    if (slot !== undefined) break;
    if (Date.now() > deadline) {
      throw new DriverError(`${options.slots} other formats have been running on this node for over ${options.timeoutMs / 1000} s; it will be retried`);
    }
    await sleep(SLOT_POLL_MS);
  }
  try {
    return await work();
  } finally {
    slot.release();
  }
}
