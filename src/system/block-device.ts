// Block devices: what is on them (blkid, wipefs), checking and repairing (fsck), formatting
// (mkfs), size and growth (blockdev, sysfs rescan, resize2fs, xfs_growfs). Each tool is one small
// function; none of them decides policy such as when a disk may be formatted.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { DriverError } from '../flexvolume/errors.ts';
import { entryPath } from './entry-path.ts';
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
    resolved = fs.realpathSync.native(devicePath);
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

const KiB = 1024;
const MiB = 1024 * KiB;

/** A stretch of a device where filesystems, volume managers or partition tables keep metadata. */
export interface MetadataRegion {
  offset: number;
  length: number;
  what: string;
  /** The command that shows what is there. */
  inspect: (device: string) => string;
}

const hexdump = (offset: number) => (device: string) => `hexdump -C -s ${offset} -n 4096 ${device}`;

/** Groups 0, 1 and the powers of 3, 5 and 7: where sparse_super keeps backup superblocks. */
function sparseGroups(below: number): number[] {
  const groups = new Set<number>([1]);
  for (const base of [3, 5, 7]) for (let group = base; group < below; group *= base) groups.add(group);
  return [...groups].filter((group) => group < below);
}

/** ext2/3/4 backup superblocks for the block sizes mke2fs picks (8 × block size² bytes per group). */
function extBackupRegions(sizeBytes: number): MetadataRegion[] {
  return [1024, 2048, 4096].flatMap((blockSize) => {
    const blocksPerGroup = 8 * blockSize;
    const groupBytes = blocksPerGroup * blockSize;
    return sparseGroups(Math.ceil(sizeBytes / groupBytes)).map((group) => {
      // With 1 KiB blocks block 0 is the boot block, so every group starts one block later.
      const block = group * blocksPerGroup + (blockSize === 1024 ? 1 : 0);
      return {
        offset: group * groupBytes,
        length: 8 * KiB,
        what: `the ext backup superblock of group ${group} for ${blockSize}-byte blocks`,
        inspect: (device: string) => `e2fsck -n -b ${block} -B ${blockSize} ${device}`,
      };
    });
  });
}

/** mkfs.xfs's default allocation-group sizes (calc_default_ag_geometry): 1 to 32 AGs, or 1 TiB each. */
function xfsAgRegions(sizeBytes: number): MetadataRegion[] {
  const blockSize = 4096;
  const blocks = Math.floor(sizeBytes / blockSize);
  const maxAgBlocks = (1024 * 1024 * MiB) / blockSize;
  const agSizes = new Set<number>([maxAgBlocks]);
  for (let shift = 1; shift <= 5; shift++) {
    const agBlocks = Math.floor(blocks / 2 ** shift) + (blocks % 2 ** shift === 0 ? 0 : 1);
    agSizes.add(Math.min(agBlocks, maxAgBlocks));
  }
  const regions: MetadataRegion[] = [];
  for (const agBlocks of agSizes) {
    for (let ag = 1; agBlocks > 0 && ag * agBlocks < blocks; ag++) {
      regions.push({
        offset: ag * agBlocks * blockSize,
        // Superblock, AGF, AGI and AGFL: the first four sectors of every AG, sectors up to 4 KiB.
        length: 16 * KiB,
        what: `the xfs header of allocation group ${ag} (of ${Math.ceil(blocks / agBlocks)})`,
        inspect: (device: string) => `xfs_repair -n ${device}`,
      });
    }
  }
  return regions;
}

/**
 * Where any filesystem, partition table or volume label this driver could meet keeps metadata: the
 * first and last MiB (MBR, GPT and its backup, ext and xfs primary superblocks and AG 0, LVM and
 * MD labels), the ext backup superblocks and the xfs allocation-group headers. On a disk that was
 * never written, all of them read as zeros.
 */
export function metadataRegions(sizeBytes: number): MetadataRegion[] {
  const edge = Math.min(MiB, sizeBytes);
  const regions: MetadataRegion[] = [
    { offset: 0, length: edge, what: 'the first MiB (partition tables, LVM and MD labels, primary superblocks)', inspect: hexdump(0) },
    { offset: sizeBytes - edge, length: edge, what: 'the last MiB (backup GPT, MD labels)', inspect: hexdump(sizeBytes - edge) },
    ...extBackupRegions(sizeBytes),
    ...xfsAgRegions(sizeBytes),
  ];
  const byOffset = new Map<number, MetadataRegion>();
  for (const region of regions) {
    if (!byOffset.has(region.offset)) byOffset.set(region.offset, { ...region, length: Math.min(region.length, sizeBytes - region.offset) });
  }
  return [...byOffset.values()];
}

export interface WrittenRegion {
  region: MetadataRegion;
  /** The first byte that is not zero. */
  offset: number;
}

const ZEROS = Buffer.alloc(MiB);
const READ_TIMEOUT_MS = 30_000;

function firstNonZero(buffer: Buffer): number {
  for (let start = 0; start < buffer.length; start += ZEROS.length) {
    const chunk = buffer.subarray(start, start + ZEROS.length);
    if (!chunk.equals(ZEROS.subarray(0, chunk.length))) return start + chunk.findIndex((byte) => byte !== 0);
  }
  return -1;
}

/** fs's callback API as a promise: node:fs/promises costs a call ~1 ms to load. */
function fsCall<T>(start: (done: (error: NodeJS.ErrnoException | null, value?: T) => void) => void): Promise<T> {
  return new Promise((resolve, reject) => start((error, value) => (error ? reject(error) : resolve(value as T))));
}

/** Reads into the whole buffer from `position`; the bytes read. */
type ReadAt = (buffer: Buffer, position: number) => Promise<number>;

export interface DeviceReadOptions {
  /** How long the open and the reads may take together. */
  timeoutMs?: number;
}

/**
 * Positioned reads of a device through one open, bounded in time: a sick disk can hang an open or
 * a read for minutes, and the call must answer before the kubelet gives up on it. `purpose`
 * completes "could not read <device> …" in the error.
 */
async function readingDevice<T>(device: string, purpose: string, read: (readAt: ReadAt) => Promise<T>, options: DeviceReadOptions): Promise<T> {
  const timeoutMs = options.timeoutMs ?? READ_TIMEOUT_MS;
  let timedOut = false;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      timedOut = true;
      reject(new DriverError(`reading ${device} did not finish within ${timeoutMs / 1000} s; is the disk healthy?`));
    }, timeoutMs);
  });
  const opened = fsCall<number>((done) => fs.open(device, 'r', done));
  try {
    const fd = await Promise.race([opened, timeout]);
    return await Promise.race([read((buffer, position) => fsCall<number>((done) => fs.read(fd, buffer, 0, buffer.length, position, done))), timeout]);
  } catch (error) {
    if (error instanceof DriverError) throw error;
    throw new DriverError(`could not read ${device} ${purpose}: ${(error as Error).message}`);
  } finally {
    clearTimeout(timer);
    // The descriptor is closed once the open is done. After a timeout the open or a read may still
    // be stuck in the kernel: it is not waited for (a stuck read keeps its own hold on the file).
    const closing = opened.then(
      (fd) => fsCall<void>((done) => fs.close(fd, done)),
      () => undefined,
    );
    if (!timedOut) await closing.catch(() => undefined);
  }
}

/** The regions that hold anything but zeros, read through one open with positioned reads. */
export async function findWrittenRegions(device: string, regions: readonly MetadataRegion[], options: DeviceReadOptions = {}): Promise<WrittenRegion[]> {
  return readingDevice(
    device,
    'to check that it is blank',
    async (readAt) => {
      const reads = regions.map(async (region): Promise<WrittenRegion | undefined> => {
        const buffer = Buffer.alloc(region.length);
        const bytesRead = await readAt(buffer, region.offset);
        const at = firstNonZero(buffer.subarray(0, bytesRead));
        return at < 0 ? undefined : { region, offset: region.offset + at };
      });
      return (await Promise.all(reads)).filter((entry) => entry !== undefined);
    },
    options,
  );
}

/** The kernel's view of a block device through sysfs (`/sys/dev/block/<major:minor>/<attribute>`). */
function readDeviceAttribute(sysRoot: string, device: BlockDevice, attribute: string): string {
  return fs.readFileSync(entryPath(sysRoot, 'dev/block', device.number, attribute), 'utf8').trim();
}

/** The size the kernel reports, in bytes (sysfs counts 512-byte sectors whatever the disk's sector size). */
export function kernelDeviceSize(sysRoot: string, device: BlockDevice): number {
  let sectors: number;
  try {
    sectors = Number(readDeviceAttribute(sysRoot, device, 'size'));
  } catch (error) {
    throw new DriverError(`could not read the size of ${device.path} from sysfs: ${(error as Error).message}`);
  }
  if (!Number.isSafeInteger(sectors)) throw new DriverError(`sysfs reports no usable size for ${device.path}`);
  return sectors * 512;
}

/** Whether the kernel refuses writes to the device (attached read-only, or `blockdev --setro`). */
export function isReadOnlyDevice(sysRoot: string, device: BlockDevice): boolean {
  try {
    return readDeviceAttribute(sysRoot, device, 'ro') === '1';
  } catch (error) {
    log(`cannot tell whether ${device.path} is read-only: ${(error as Error).message}`);
    return false;
  }
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

/**
 * Where each filesystem's superblock keeps its size, as the kernel and e2fsprogs/xfsprogs read it
 * (linux/fs/ext4/ext4.h struct ext4_super_block, linux/fs/xfs/libxfs/xfs_format.h struct
 * xfs_dsb): reading those few bytes spares a mount a dumpe2fs or xfs_db process. A superblock
 * without the filesystem's magic number is undefined.
 */
const SUPERBLOCKS: Record<'ext' | 'xfs', { offset: number; length: number; sizeOf: (block: Buffer) => number | undefined }> = {
  ext: {
    offset: 1024,
    length: 1024,
    sizeOf: (block) => {
      if (block.readUInt16LE(0x38) !== 0xef53) return undefined;
      const logBlockSize = block.readUInt32LE(0x18);
      if (logBlockSize > 6) return undefined;
      // INCOMPAT_64BIT: the block count's high 32 bits are kept apart.
      const high = (block.readUInt32LE(0x60) & 0x80) !== 0 ? block.readUInt32LE(0x150) : 0;
      return (high * 2 ** 32 + block.readUInt32LE(0x04)) * (1024 << logBlockSize);
    },
  },
  xfs: {
    offset: 0,
    length: 16,
    sizeOf: (block) => (block.readUInt32BE(0) === 0x58465342 ? Number(block.readBigUInt64BE(8)) * block.readUInt32BE(4) : undefined),
  },
};

/** The size the filesystem itself spans, read from its superblock; mounted or not. */
export async function filesystemSizeBytes(device: string, fsType: string, options: DeviceReadOptions = {}): Promise<number> {
  const superblock = fsType === 'xfs' ? SUPERBLOCKS.xfs : fsType.startsWith('ext') ? SUPERBLOCKS.ext : undefined;
  if (superblock === undefined) throw new DriverError(`the size of a ${fsType} filesystem cannot be read`);
  const block = Buffer.alloc(superblock.length);
  const bytesRead = await readingDevice(device, `to read the size of its ${fsType} filesystem`, (readAt) => readAt(block, superblock.offset), options);
  const bytes = bytesRead === block.length ? superblock.sizeOf(block) : undefined;
  if (bytes === undefined || !Number.isSafeInteger(bytes)) throw new DriverError(`${device} holds no ${fsType} superblock to read its size from; see the driver log`);
  return bytes;
}

/**
 * Asks the kernel to re-read the size of a SCSI disk that was grown in Azure. Devices without a
 * SCSI parent (NVMe, loop) have no rescan file and learn their size by other means.
 */
export function rescanDeviceSize(sysRoot: string, name: string): boolean {
  const file = entryPath(sysRoot, 'class/block', name, 'device/rescan');
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
