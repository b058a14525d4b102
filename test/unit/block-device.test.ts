import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  deviceNumberOf,
  filesystemSizeBytes,
  findWrittenRegions,
  fsckMeaning,
  metadataRegions,
  openBlockDevice,
  probeSignatures,
  withFormatSlot,
} from '../../src/system/block-device.ts';
import { DriverError } from '../../src/flexvolume/errors.ts';
import { createLoopPool, MiB, sh } from '../helpers/loop-devices.ts';

/** glibc's makedev: the inverse of what is tested. */
function makedev(major: bigint, minor: bigint): bigint {
  return ((major & 0xfffn) << 8n) | ((major & ~0xfffn) << 32n) | (minor & 0xffn) | ((minor & ~0xffn) << 12n);
}

describe('deviceNumberOf', () => {
  test.each([
    [8n, 16n],
    [7n, 0n],
    [259n, 3n],
    // Majors above 4095 and minors above 255 live in the high bits of dev_t.
    [4660n, 70000n],
    [0n, 1048575n],
  ])('%s:%s', (major, minor) => {
    expect(deviceNumberOf(makedev(major, minor))).toBe(`${major}:${minor}`);
  });

  test('matches the kernel for a real device', () => {
    const { rdev } = fs.statSync('/dev/null', { bigint: true });
    expect(deviceNumberOf(rdev)).toBe('1:3');
  });
});

describe('fsckMeaning', () => {
  test.each([
    [0, true, 'no errors'],
    [1, true, 'errors corrected'],
    [2, true, 'errors corrected, reboot advised'],
    [4, false, 'errors left uncorrected'],
    [5, false, 'errors corrected, errors left uncorrected'],
    [8, false, 'operational error'],
    [12, false, 'errors left uncorrected, operational error'],
    [32, false, 'checking canceled'],
  ])('exit %d: clean %s (%s)', (exitCode, clean, meaning) => {
    expect(fsckMeaning(exitCode)).toEqual({ exitCode, clean, meaning });
  });
});

describe('metadataRegions', () => {
  const GiB = 1024 * MiB;
  const at = (sizeBytes: number, offset: number) => metadataRegions(sizeBytes).find((region) => region.offset === offset);

  test('the first and last MiB and the ext backup superblocks, with the e2fsck command that reads each', () => {
    const regions = metadataRegions(64 * MiB);
    expect(regions[0]).toMatchObject({ offset: 0, length: MiB });
    expect(at(64 * MiB, 63 * MiB)).toMatchObject({ length: MiB, what: expect.stringMatching(/last MiB/) });
    expect(at(64 * MiB, 8 * MiB)?.inspect('/dev/sdc')).toBe('e2fsck -n -b 8193 -B 1024 /dev/sdc');
    expect(at(64 * MiB, 24 * MiB)?.inspect('/dev/sdc')).toBe('e2fsck -n -b 24577 -B 1024 /dev/sdc');
    expect(at(GiB, 3 * 128 * MiB)?.inspect('/dev/sdc')).toBe('e2fsck -n -b 98304 -B 4096 /dev/sdc');
    for (const region of metadataRegions(64 * MiB + 512)) expect(region.offset + region.length).toBeLessThanOrEqual(64 * MiB + 512);
  });

  test('a 4 TiB disk costs a couple of hundred small reads at most', () => {
    const regions = metadataRegions(4 * 1024 * GiB);
    expect(regions.length).toBeLessThan(200);
    expect(regions.reduce((sum, region) => sum + region.length, 0)).toBeLessThan(8 * MiB);
    expect(at(4 * 1024 * GiB, 2187 * 128 * MiB)?.inspect('/dev/sdc')).toBe(`e2fsck -n -b ${2187 * 32768} -B 4096 /dev/sdc`);
  });

  test.each([[300 * MiB], [GiB], [5 * GiB + 12345 * 4096], [70 * GiB]])('covers the allocation groups mkfs.xfs lays out on %d bytes', (size) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'xfs-geometry-'));
    const image = path.join(dir, 'disk.img');
    fs.writeFileSync(image, '');
    fs.truncateSync(image, size);
    sh('mkfs.xfs', ['-q', '-f', image]);
    const agblocks = Number(/agblocks = (\d+)/.exec(sh('xfs_db', ['-r', '-c', 'sb 0', '-c', 'p agblocks', image]))?.[1]);
    fs.rmSync(dir, { recursive: true });
    expect(agblocks).toBeGreaterThan(0);
    for (let ag = 1; ag * agblocks * 4096 < size; ag++) expect(at(size, ag * agblocks * 4096)).toBeDefined();
  });
});

describe('findWrittenRegions', () => {
  let file: string;
  beforeEach(() => {
    file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'written-')), 'disk.img');
    fs.writeFileSync(file, '');
    fs.truncateSync(file, 64 * MiB);
  });
  afterEach(() => fs.rmSync(path.dirname(file), { recursive: true, force: true }));

  test('a disk of zeros has none; one byte anywhere in a region is found at its exact offset', async () => {
    const regions = metadataRegions(64 * MiB);
    expect(await findWrittenRegions(file, regions)).toEqual([]);
    const fd = fs.openSync(file, 'r+');
    fs.writeSync(fd, Buffer.from([0x53, 0xef]), 0, 2, 8 * MiB + 1024 + 56);
    fs.writeSync(fd, Buffer.from([1]), 0, 1, 64 * MiB - 1);
    // Outside every region: not metadata.
    fs.writeSync(fd, Buffer.from([1]), 0, 1, 41 * MiB + 12345);
    fs.closeSync(fd);
    const written = await findWrittenRegions(file, regions);
    expect(written.map(({ offset }) => offset)).toEqual([64 * MiB - 1, 8 * MiB + 1024 + 56]);
    expect(written[1]?.region.what).toMatch(/ext backup superblock of group 1 for 1024-byte blocks/);
  });

  test('an unreadable device is an error, never blank', async () => {
    await expect(findWrittenRegions(path.join(path.dirname(file), 'missing'), metadataRegions(64 * MiB))).rejects.toThrow(/ENOENT/);
  });

  test('a device that hangs is a Failure within the bound, not a hung call', async () => {
    // Opening a FIFO for reading blocks until a writer comes, as a sick disk's open or read can.
    const fifo = path.join(path.dirname(file), 'stuck');
    sh('mkfifo', [fifo]);
    try {
      await expect(findWrittenRegions(fifo, metadataRegions(64 * MiB), { timeoutMs: 200 })).rejects.toThrow(/did not finish within 0.2 s; is the disk healthy/);
    } finally {
      // A writer frees the open still waiting in the thread pool (which the reader then closes);
      // without it this process could not exit. Non-blocking: ENXIO when nobody waits to read.
      try {
        fs.closeSync(fs.openSync(fifo, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK));
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENXIO') throw error;
      }
    }
  });
});

describe('on a real loop device', () => {
  const pool = createLoopPool();
  afterAll(() => pool.detachAll());

  test('probe, open, and filesystem size', async () => {
    const loop = pool.create('unit', 32 * MiB);
    expect(await probeSignatures(loop.path)).toEqual({ type: undefined, partitionTable: undefined });
    const link = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'block-device-')), 'lun0');
    fs.symlinkSync(loop.path, link);
    const { rdev } = fs.statSync(loop.path, { bigint: true });
    expect(openBlockDevice(link)).toEqual({ path: loop.path, name: loop.name, number: deviceNumberOf(rdev) });
    sh('mkfs.ext4', ['-q', '-F', loop.path]);
    expect(await probeSignatures(loop.path)).toEqual({ type: 'ext4', partitionTable: undefined });
    expect(await filesystemSizeBytes(loop.path, 'ext4')).toBe(32 * MiB);
    fs.rmSync(path.dirname(link), { recursive: true });
  });

  test('the filesystem size read from the superblock is what dumpe2fs and xfs_db report', async () => {
    const loop = pool.create('sizes', 400 * MiB);
    const byTool = (fsType: string): number => {
      if (fsType === 'xfs') {
        const text = sh('xfs_db', ['-r', '-c', 'sb 0', '-c', 'print dblocks blocksize', loop.path]);
        return Number(/dblocks = (\d+)/.exec(text)?.[1]) * Number(/blocksize = (\d+)/.exec(text)?.[1]);
      }
      const text = sh('dumpe2fs', ['-h', loop.path]);
      return Number(/Block count:\s+(\d+)/.exec(text)?.[1]) * Number(/Block size:\s+(\d+)/.exec(text)?.[1]);
    };
    // Filesystems smaller than their device, so that the device's size cannot stand in for theirs.
    const layouts: Array<[string, string[]]> = [
      ['ext4', ['mkfs.ext4', '-q', '-F', loop.path, '40M']],
      ['ext4', ['mkfs.ext4', '-q', '-F', '-O', '^64bit', loop.path, '36M']],
      ['ext4', ['mkfs.ext4', '-q', '-F', '-b', '1024', loop.path, '30M']],
      ['ext3', ['mkfs.ext3', '-q', '-F', loop.path, '44M']],
      ['xfs', ['mkfs.xfs', '-q', '-f', '-d', 'size=320m', loop.path]],
    ];
    for (const [fsType, [tool = '', ...args]] of layouts) {
      sh(tool, args);
      const expected = byTool(fsType);
      expect(expected).toBeGreaterThan(0);
      expect(expected).toBeLessThan(400 * MiB);
      expect(await filesystemSizeBytes(loop.path, fsType)).toBe(expected);
    }
    // The last layout is xfs: asked for ext4 there, or for anything on a blank disk, it is a Failure.
    await expect(filesystemSizeBytes(loop.path, 'ext4')).rejects.toThrow(/holds no ext4 superblock/);
    sh('wipefs', ['-a', '-q', loop.path]);
    await expect(filesystemSizeBytes(loop.path, 'xfs')).rejects.toThrow(DriverError);
  });

  test('a path that is not a block device is refused', () => {
    expect(() => openBlockDevice('/dev/null')).toThrow(/not a block device/);
    expect(() => openBlockDevice('/dev/disk/azure/scsi1/lun63')).toThrow(DriverError);
  });
});

describe('withFormatSlot', () => {
  let lockDir: string;
  beforeEach(() => {
    lockDir = fs.mkdtempSync(path.join(os.tmpdir(), 'format-slots-'));
  });
  afterEach(() => fs.rmSync(lockDir, { recursive: true, force: true }));

  test('runs at most two formats at once and frees the slots afterwards', async () => {
    let running = 0;
    let most = 0;
    const work = async () => {
      running++;
      most = Math.max(most, running);
      await sleep(150);
      running--;
    };
    const options = { lockDir, slots: 2, timeoutMs: 10_000 };
    const started = Date.now();
    await Promise.all([1, 2, 3, 4].map(() => withFormatSlot(options, work)));
    expect(most).toBe(2);
    expect(Date.now() - started).toBeGreaterThanOrEqual(300);
    expect(fs.readdirSync(lockDir)).toEqual([]);
  });

  test('gives up after its timeout while both slots stay taken', async () => {
    const options = { lockDir, slots: 2, timeoutMs: 10_000 };
    const hold = () => withFormatSlot(options, () => sleep(1500));
    const holders = [hold(), hold()];
    await sleep(50);
    await expect(withFormatSlot({ ...options, timeoutMs: 300 }, async () => undefined)).rejects.toThrow(/2 other formats/);
    await Promise.all(holders);
  });
});
