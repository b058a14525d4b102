// The azuredisk node side through the built executable, called as the kubelet calls it, with real
// loop devices standing in for Azure data disks behind a fixture sysfs and /dev/disk/azure tree.
import { spawnSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { baseOptions, goJson } from '../helpers/kubelet.ts';
import { createLoopPool, MiB, probe, sh, type LoopDevice } from '../helpers/loop-devices.ts';
import { BUILDS, createSandbox, mountsUnder, type Sandbox } from '../helpers/sandbox.ts';
import { CONTROLLER, createScsiFixture, type ScsiFixture } from '../helpers/scsi-fixture.ts';
import { findMount } from '../../src/system/mount-table.ts';

const DISK = {
  diskName: 'pv-data',
  diskURI: '/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/Microsoft.Compute/disks/pv-data',
};

function volumeJson(fields: { fsType?: string; readOnly?: boolean } = {}, user: Record<string, string> = {}): string {
  return goJson({ ...baseOptions({ ...fields, volumeName: 'pv-data' }), ...DISK, ...user });
}

/** A DOS partition table with one Linux partition, as fdisk would write it. */
function writePartitionTable(device: string): void {
  const sector = Buffer.alloc(512);
  sector[446 + 4] = 0x83;
  sector.writeUInt32LE(2048, 446 + 8);
  sector.writeUInt32LE(4096, 446 + 12);
  sector[510] = 0x55;
  sector[511] = 0xaa;
  const fd = fs.openSync(device, 'r+');
  fs.writeSync(fd, sector, 0, 512, 0);
  fs.fsyncSync(fd);
  fs.closeSync(fd);
}

function readHead(device: string, bytes = 64 * 1024): Buffer {
  const fd = fs.openSync(device, 'r');
  const buffer = Buffer.alloc(bytes);
  fs.readSync(fd, buffer, 0, bytes, 0);
  fs.closeSync(fd);
  return buffer;
}

/** A fingerprint of everything on the device, to show that a refused mountdevice changed nothing. */
function contentHash(device: string): string {
  const hash = crypto.createHash('sha256');
  const chunk = Buffer.alloc(16 * MiB);
  const fd = fs.openSync(device, 'r');
  try {
    for (let bytes = fs.readSync(fd, chunk); bytes > 0; bytes = fs.readSync(fd, chunk)) hash.update(chunk.subarray(0, bytes));
  } finally {
    fs.closeSync(fd);
  }
  return hash.digest('hex');
}

function writeAt(device: string, data: Buffer, position: number): void {
  const fd = fs.openSync(device, 'r+');
  fs.writeSync(fd, data, 0, data.length, position);
  fs.fsyncSync(fd);
  fs.closeSync(fd);
}

/** Formats the device, leaves a file on it, and damages the primary superblock so blkid and wipefs see nothing. */
function filesystemWithDamagedSuperblock(device: string, fsType: 'ext4' | 'xfs'): void {
  if (fsType === 'ext4') sh('mkfs.ext4', ['-q', '-F', device]);
  else sh('mkfs.xfs', ['-q', '-f', device]);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'damaged-'));
  sh('mount', [device, dir]);
  fs.writeFileSync(path.join(dir, 'precious.txt'), 'data that must survive');
  sh('umount', [dir]);
  fs.rmdirSync(dir);
  // ext keeps its superblock at byte 1024, xfs in sector 0.
  writeAt(device, Buffer.alloc(1024), fsType === 'ext4' ? 1024 : 0);
  expect(probe(device)).toEqual({});
  expect(sh('wipefs', ['--no-act', '--noheadings', device])).toBe('');
}

/** Reads back the file filesystemWithDamagedSuperblock left, through whatever repaired the filesystem. */
function readPrecious(device: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'repaired-'));
  sh('mount', ['-o', 'ro', device, dir]);
  try {
    return fs.readFileSync(path.join(dir, 'precious.txt'), 'utf8');
  } finally {
    sh('umount', [dir]);
    fs.rmdirSync(dir);
  }
}

const filesystemBytes = (dir: string): number => {
  const stats = fs.statfsSync(dir);
  return stats.blocks * stats.bsize;
};

/** CAP_SYS_RESOURCE (bit 24), without which the kernel refuses to resize a mounted ext4. */
const onlineExt4ResizeAllowed = (() => {
  const capabilities = /^CapEff:\s+([0-9a-f]+)$/m.exec(fs.readFileSync('/proc/self/status', 'utf8'))?.[1] ?? '0';
  return ((BigInt(`0x${capabilities}`) >> 24n) & 1n) === 1n;
})();

const pool = createLoopPool();
afterAll(() => {
  pool.detachAll();
  const leftovers = spawnSync('losetup', ['-a'], { encoding: 'utf8' }).stdout.split('\n').filter((line) => line.includes(pool.dir));
  expect(leftovers).toEqual([]);
});

describe.each(BUILDS)('azuredisk node side ($name)', ({ file }) => {
  let fixture: ScsiFixture;
  let sandbox: Sandbox;
  let globalPath: string;
  let podDir: string;

  beforeEach(() => {
    fixture = createScsiFixture(fs.mkdtempSync(path.join(os.tmpdir(), 'azuredisk-fixture-')));
    sandbox = createSandbox(file, fixture.env);
    globalPath = sandbox.deviceMountPath('azuredisk', 'pv-data');
    podDir = sandbox.podVolumeDir('azuredisk', 'pv-data');
  });
  afterEach(async () => {
    await sandbox.cleanup();
    pool.detachAll();
    fixture.cleanup();
  });

  const call = (args: string[], env: NodeJS.ProcessEnv = {}) => sandbox.call('azuredisk', args, env);

  /** A data disk on the data-disk controller (scsi1, host 1) at `lun`, with or without its udev link. */
  function attachDataDisk(lun: number, sizeBytes: number, options: { udev?: boolean } = {}): LoopDevice {
    const loop = pool.create(`lun${lun}`, sizeBytes);
    fixture.addDisk({
      address: `1:0:0:${lun}`,
      controller: CONTROLLER.scsi1,
      device: loop.path,
      links: options.udev === false ? [] : [`disk/azure/scsi1/lun${lun}`],
    });
    return loop;
  }

  /**
   * A generation 2 VM: OS disk and resource disk on scsi0 (LUNs 0 and 1), two data disks on scsi1
   * (LUNs 0 and 1), and a decoy Azure disk at LUN 1 on a controller that is not Azure's data-disk one.
   */
  function buildVm(options: { udev: boolean }) {
    const small = 4 * MiB;
    const os = pool.create('os', small);
    const resource = pool.create('resource', small);
    const decoy = pool.create('decoy', small);
    fixture.addDisk({ address: '0:0:0:0', controller: CONTROLLER.scsi0, device: os.path, links: options.udev ? ['disk/azure/root'] : [] });
    fixture.addDisk({ address: '0:0:0:1', controller: CONTROLLER.scsi0, device: resource.path, links: options.udev ? ['disk/azure/resource'] : [] });
    const data = [attachDataDisk(0, small, options), attachDataDisk(1, small, options)];
    fixture.addDisk({ address: '2:0:0:1', controller: CONTROLLER.foreign, device: decoy.path });
    return { os, resource, decoy, data };
  }

  describe('waitforattach', () => {
    test('picks the data disk among the OS disk, the resource disk and a decoy with the same LUN', async () => {
      const vm = buildVm({ udev: true });
      const cases: Array<[string, number]> = [
        ['1', 1],
        ['lun0', 0],
        ['/dev/disk/azure/scsi1/lun1', 1],
      ];
      for (const [given, lun] of cases) {
        const reply = await call(['waitforattach', given, volumeJson()]);
        expect(reply).toMatchObject({ status: 'Success', device: path.join(fixture.devRoot, `disk/azure/scsi1/lun${lun}`) });
        expect(fs.realpathSync(reply.device ?? '')).toBe(vm.data[lun]?.path);
      }
      // Found at once: no rescan of the SCSI hosts was needed.
      expect(fixture.scanRequest(1)).toBe('');
    });

    test('without udev links, sysfs alone still tells the data disks from the OS, resource and decoy disks', async () => {
      const vm = buildVm({ udev: false });
      for (const lun of [0, 1]) {
        const reply = await call(['waitforattach', String(lun), volumeJson()]);
        expect(reply.status).toBe('Success');
        expect(reply.device).toBe(path.join(fixture.devRoot, vm.data[lun]?.name ?? ''));
        expect(fs.realpathSync(reply.device ?? '')).toBe(vm.data[lun]?.path);
      }
    });

    test('a LUN that only a disk on another controller has is never taken, and the Failure says what was looked for', async () => {
      buildVm({ udev: true });
      const decoy = pool.create('decoy2', 4 * MiB);
      fixture.addDisk({ address: '2:0:0:2', controller: CONTROLLER.foreign, device: decoy.path });
      const reply = await call(['waitforattach', '2', volumeJson()], { FLEXVOLUME_WAITFORATTACH_TIMEOUT_SECONDS: '1' });
      expect(reply.status).toBe('Failure');
      expect(reply.message).toContain('LUN 2');
      expect(reply.message).toContain(path.join(fixture.devRoot, 'disk/azure/scsi1/lun2'));
      expect(reply.message).toMatch(/another controller/);
      expect(reply.durationMs).toBeLessThan(3000);
      // While waiting, it asked every SCSI host to rescan.
      for (const host of [0, 1, 2]) expect(fixture.scanRequest(host)).toBe('- - -');
    });

    test('notices a disk that appears after 1 s within about 200 ms', async () => {
      attachDataDisk(0, 4 * MiB);
      const loop = pool.create('late', 4 * MiB);
      const pending = call(['waitforattach', '3', volumeJson()]);
      await sleep(1000);
      const appeared = Date.now();
      fixture.addDisk({ address: '1:0:0:3', controller: CONTROLLER.scsi1, device: loop.path, links: ['disk/azure/scsi1/lun3'] });
      const reply = await pending;
      const latency = Date.now() - appeared;
      expect(reply.status).toBe('Success');
      expect(fs.realpathSync(reply.device ?? '')).toBe(loop.path);
      expect(latency).toBeLessThan(250);
      expect(fixture.scanRequest(1)).toBe('- - -');
    });

    test('an NVMe data disk is found through data/by-lun', async () => {
      const loop = pool.create('nvme', 4 * MiB);
      fixture.addNvmeDisk({ device: loop.path, links: ['disk/azure/data/by-lun/4'] });
      const reply = await call(['waitforattach', '4', volumeJson()]);
      expect(reply).toMatchObject({ status: 'Success', device: path.join(fixture.devRoot, 'disk/azure/data/by-lun/4') });
    });

    test('a device that is not a LUN is a Failure', async () => {
      const reply = await call(['waitforattach', '/dev/sdc', volumeJson()]);
      expect(reply.status).toBe('Failure');
      expect(reply.message).toMatch(/not a LUN/);
    });
  });

  describe('mountdevice, the kubelet bind mount, unmountdevice', () => {
    const prepareGlobalPath = () => fs.mkdirSync(globalPath, { recursive: true, mode: 0o750 });

    test('a filesystem still in use is never unmounted lazily: unmountdevice fails, naming it, and it stays mounted', async () => {
      attachDataDisk(0, 64 * MiB);
      const device = (await call(['waitforattach', '0', volumeJson()])).device ?? '';
      prepareGlobalPath();
      expect((await call(['mountdevice', globalPath, device, volumeJson()])).status).toBe('Success');
      // A process that still writes there (a stuck container, a debug shell).
      const file = fs.openSync(path.join(globalPath, 'open.log'), 'a');
      try {
        const reply = await call(['unmountdevice', globalPath]);
        expect(reply.status).toBe('Failure');
        expect(reply.message).toMatch(/could not unmount .*busy.*fuser -vm/);
        expect(findMount(globalPath)).toBeDefined();
        fs.writeSync(file, 'still written to the disk\n');
      } finally {
        fs.closeSync(file);
      }
      // A mount inside it, which fuser would not name.
      const inside = path.join(globalPath, 'inner');
      fs.mkdirSync(inside);
      sh('mount', ['-t', 'tmpfs', 'inner', inside]);
      const nested = await call(['unmountdevice', globalPath]);
      expect(nested.status).toBe('Failure');
      expect(nested.message).toContain(`what is mounted inside it is unmounted first (${inside})`);
      sh('umount', [inside]);
      fs.rmdirSync(inside);
      expect((await call(['unmountdevice', globalPath])).status).toBe('Success');
      expect(mountsUnder(sandbox.dir)).toEqual([]);
    });

    test('formats a blank disk once, and what a pod wrote survives unmountdevice and a second mountdevice', async () => {
      const loop = attachDataDisk(0, 64 * MiB);
      const attached = await call(['waitforattach', '0', volumeJson()]);
      expect(attached.status).toBe('Success');
      const device = attached.device ?? '';

      prepareGlobalPath();
      const json = volumeJson({}, { mountOptions: 'noatime' });
      const mounted = await call(['mountdevice', globalPath, device, json]);
      expect(mounted).toMatchObject({ status: 'Success' });
      expect(probe(loop.path).TYPE).toBe('ext4');
      expect(findMount(globalPath)?.options).toEqual(expect.arrayContaining(['rw', 'noatime']));
      expect((await call(['mountdevice', globalPath, device, json])).message).toBe('already mounted');

      // The kubelet's own bind mount into the pod (mount answers Not supported).
      expect((await call(['mount', podDir, json])).status).toBe('Not supported');
      fs.mkdirSync(podDir, { recursive: true });
      sh('mount', ['--bind', globalPath, podDir]);
      fs.writeFileSync(path.join(podDir, 'kept.txt'), 'written before the remount');
      sh('umount', [podDir]);
      fs.rmdirSync(podDir);

      expect((await call(['unmountdevice', globalPath])).status).toBe('Success');
      expect(mountsUnder(sandbox.dir)).toEqual([]);
      expect(fs.existsSync(globalPath)).toBe(false);
      expect((await call(['unmountdevice', globalPath])).status).toBe('Success');

      prepareGlobalPath();
      expect((await call(['mountdevice', globalPath, device, json])).status).toBe('Success');
      expect(fs.readFileSync(path.join(globalPath, 'kept.txt'), 'utf8')).toBe('written before the remount');

      const log = sandbox.readLog();
      expect(log.match(/run: mkfs\.ext4 -F -m0 \S+ → exit 0/g)).toHaveLength(1);
      expect(log).toMatch(/run: blkid -p -s TYPE -s PTTYPE -o export \S+ → exit 2/);
      expect(log).toMatch(/run: wipefs --no-act --output TYPE --noheadings \S+ → exit 0/);
      expect(log).toMatch(/run: fsck -a \S+ → exit 0/);
      expect(log).toMatch(/run: mount -t ext4 -o defaults,noatime \S+ \S+ → exit 0/);
    });

    test('a disk with a partition table is refused and left exactly as it was', async () => {
      const loop = attachDataDisk(0, 64 * MiB);
      writePartitionTable(loop.path);
      const before = readHead(loop.path);
      prepareGlobalPath();
      const reply = await call(['mountdevice', globalPath, path.join(fixture.devRoot, 'disk/azure/scsi1/lun0'), volumeJson()]);
      expect(reply.status).toBe('Failure');
      expect(reply.message).toMatch(/dos partition table/);
      expect(readHead(loop.path).equals(before)).toBe(true);
      expect(mountsUnder(sandbox.dir)).toEqual([]);
      expect(sandbox.readLog()).not.toMatch(/run: mkfs/);
    });

    test('an xfs disk asked to be ext4 is refused untouched; asked as xfs it mounts with nouuid', async () => {
      const loop = attachDataDisk(0, 300 * MiB);
      sh('mkfs.xfs', ['-q', '-f', loop.path]);
      const device = path.join(fixture.devRoot, 'disk/azure/scsi1/lun0');
      prepareGlobalPath();
      const refused = await call(['mountdevice', globalPath, device, volumeJson({ fsType: 'ext4' })]);
      expect(refused.status).toBe('Failure');
      expect(refused.message).toMatch(/configured as ext4 but \S+ holds xfs/);
      expect(probe(loop.path).TYPE).toBe('xfs');
      expect(mountsUnder(sandbox.dir)).toEqual([]);

      const asXfs = await call(['mountdevice', globalPath, device, volumeJson({ fsType: 'xfs' })]);
      expect(asXfs.status).toBe('Success');
      expect(findMount(globalPath)?.fsType).toBe('xfs');
      expect(sandbox.readLog()).toMatch(/run: mount -t xfs -o defaults,nouuid /);
      expect(sandbox.readLog()).not.toMatch(/run: mkfs/);
    });

    test('read-only: a blank disk is never formatted, a formatted one mounts ro without repair', async () => {
      const blank = attachDataDisk(0, 64 * MiB);
      prepareGlobalPath();
      const refused = await call(['mountdevice', globalPath, path.join(fixture.devRoot, 'disk/azure/scsi1/lun0'), volumeJson({ readOnly: true })]);
      expect(refused.status).toBe('Failure');
      expect(refused.message).toMatch(/read-only volume is never formatted/);
      expect(probe(blank.path)).toEqual({});

      const formatted = attachDataDisk(1, 64 * MiB);
      sh('mkfs.ext4', ['-q', '-F', formatted.path]);
      const reply = await call(['mountdevice', globalPath, path.join(fixture.devRoot, 'disk/azure/scsi1/lun1'), volumeJson({ readOnly: true })]);
      expect(reply.status).toBe('Success');
      expect(findMount(globalPath)?.options).toContain('ro');
      expect(() => fs.writeFileSync(path.join(globalPath, 'x'), 'x')).toThrow(/EROFS|read-only/);
      expect(sandbox.readLog()).not.toMatch(/run: (mkfs|fsck)/);
    });

    test('a global path mounted from another device, or a bad fsType, is a Failure', async () => {
      const first = attachDataDisk(0, 64 * MiB);
      attachDataDisk(1, 64 * MiB);
      sh('mkfs.ext4', ['-q', '-F', first.path]);
      prepareGlobalPath();
      const lun = (n: number) => path.join(fixture.devRoot, `disk/azure/scsi1/lun${n}`);
      expect((await call(['mountdevice', globalPath, lun(0), volumeJson()])).status).toBe('Success');
      const other = await call(['mountdevice', globalPath, lun(1), volumeJson()]);
      expect(other.status).toBe('Failure');
      expect(other.message).toMatch(/already mounted from \/dev\/loop\d+/);
      expect(findMount(globalPath)?.source).toBe(first.path);

      const unsupported = await call(['mountdevice', globalPath, lun(1), volumeJson({ fsType: 'btrfs' })]);
      expect(unsupported.message).toMatch(/fsType 'btrfs' is not supported.*ext4, xfs, ext3/);
      const conflicting = await call(['mountdevice', globalPath, lun(1), volumeJson({ fsType: 'ext4' }, { fsType: 'xfs' })]);
      expect(conflicting.message).toMatch(/set only one/);
      const typo = await call(['mountdevice', globalPath, lun(1), volumeJson({}, { fstype: 'xfs', cachingmode: 'readonly', mountOption: 'x' })]);
      expect(typo.message).toMatch(/unknown option 'mountOption'/);
      const contradicting = await call(['mountdevice', globalPath, lun(1), volumeJson({}, { diskName: 'other-disk' })]);
      expect(contradicting.message).toMatch(/option 'diskName': 'other-disk' contradicts diskURI '\S+\/disks\/pv-data', whose disk is 'pv-data'/);
      expect(probe(path.join(fixture.devRoot, 'disk/azure/scsi1/lun1'))).toEqual({});
    });
  });

  describe('a disk is formatted only when nothing on it holds data', () => {
    const lun0 = () => path.join(fixture.devRoot, 'disk/azure/scsi1/lun0');
    const mountdevice = (fields: { fsType?: string; readOnly?: boolean } = {}) => {
      fs.mkdirSync(globalPath, { recursive: true, mode: 0o750 });
      return call(['mountdevice', globalPath, lun0(), volumeJson(fields)]);
    };
    const expectRefusedUntouched = (reply: { status: string }, before: string, loop: LoopDevice) => {
      expect(reply.status).toBe('Failure');
      expect(contentHash(loop.path)).toBe(before);
      expect(mountsUnder(sandbox.dir)).toEqual([]);
      expect(sandbox.readLog()).not.toMatch(/run: mkfs/);
    };

    test('ext4 whose primary superblock is damaged is refused, names the backup superblock to check, and its data survives', async () => {
      const loop = attachDataDisk(0, 64 * MiB);
      filesystemWithDamagedSuperblock(loop.path, 'ext4');
      const before = contentHash(loop.path);
      const reply = await mountdevice();
      expectRefusedUntouched(reply, before, loop);
      expect(reply.message).toMatch(/has no filesystem blkid recognises, but it is not blank/);
      expect(reply.message).toContain(`hexdump -C -s 0 -n 4096 ${loop.path}`);
      expect(reply.message).toContain(`e2fsck -n -b 8193 -B 1024 ${loop.path}`);
      expect(reply.message).toMatch(/more places/);
      // An operator does what the message says: the backup superblock brings the data back.
      const fsck = spawnSync('e2fsck', ['-fy', '-b', '8193', '-B', '1024', loop.path], { encoding: 'utf8' });
      expect(fsck.status === 0 || fsck.status === 1).toBe(true);
      expect(readPrecious(loop.path)).toBe('data that must survive');
    });

    test('xfs whose primary superblock is damaged is refused and its data survives', async () => {
      const loop = attachDataDisk(0, 300 * MiB);
      filesystemWithDamagedSuperblock(loop.path, 'xfs');
      const before = contentHash(loop.path);
      const reply = await mountdevice({ fsType: 'xfs' });
      expectRefusedUntouched(reply, before, loop);
      expect(reply.message).toMatch(/not blank: data at byte \d+, in the first MiB/);
      sh('xfs_repair', [loop.path]);
      expect(readPrecious(loop.path)).toBe('data that must survive');
    });

    test('random bytes in the first MiB, or only at the end of the disk, are data', async () => {
      const loop = attachDataDisk(0, 64 * MiB);
      writeAt(loop.path, crypto.randomBytes(MiB), 0);
      const before = contentHash(loop.path);
      const reply = await mountdevice();
      expectRefusedUntouched(reply, before, loop);
      expect(reply.message).toMatch(/data at byte \d+, in the first MiB/);

      const tail = attachDataDisk(1, 64 * MiB);
      writeAt(tail.path, Buffer.from('backup GPT header'), 64 * MiB - 512);
      const tailBefore = contentHash(tail.path);
      const refused = await call(['mountdevice', globalPath, path.join(fixture.devRoot, 'disk/azure/scsi1/lun1'), volumeJson()]);
      expectRefusedUntouched(refused, tailBefore, tail);
      expect(refused.message).toContain(`data at byte ${64 * MiB - 512}, in the last MiB`);
    });

    test('a disk whose mkfs was killed part way is not blank', async () => {
      const loop = attachDataDisk(0, 256 * MiB);
      // A real mkfs.ext4, killed at its tenth write: before it wrote any superblock.
      const killed = spawnSync('strace', ['-f', '-qq', '-o', '/dev/null', '-e', 'trace=write,pwrite64', '-e', 'inject=write,pwrite64:signal=SIGKILL:when=10', 'mkfs.ext4', '-q', '-F', loop.path]);
      expect(killed.signal).toBe('SIGKILL');
      expect(probe(loop.path)).toEqual({});
      expect(sh('wipefs', ['--no-act', '--noheadings', loop.path])).toBe('');
      const before = contentHash(loop.path);
      const reply = await mountdevice();
      expectRefusedUntouched(reply, before, loop);
      expect(reply.message).toMatch(/an interrupted mkfs/);
    });

    test('a read-only device is reported as read-only, whether it is blank or holds a filesystem', async () => {
      const loop = attachDataDisk(0, 64 * MiB);
      const formatted = attachDataDisk(1, 64 * MiB);
      sh('mkfs.ext4', ['-q', '-F', formatted.path]);
      for (const device of [loop, formatted]) sh('blockdev', ['--setro', device.path]);
      try {
        fs.mkdirSync(globalPath, { recursive: true });
        for (const lun of [0, 1]) {
          const reply = await call(['mountdevice', globalPath, path.join(fixture.devRoot, `disk/azure/scsi1/lun${lun}`), volumeJson()]);
          expect(reply.status).toBe('Failure');
          expect(reply.message).toMatch(/is read-only on this node .*blockdev --getro/);
          expect(reply.message).not.toMatch(/fsck/);
        }
        expect(mountsUnder(sandbox.dir)).toEqual([]);
        // Read-only volumes still mount from it.
        const ro = await call(['mountdevice', globalPath, path.join(fixture.devRoot, 'disk/azure/scsi1/lun1'), volumeJson({ readOnly: true })]);
        expect(ro.status).toBe('Success');
        expect(sandbox.readLog()).not.toMatch(/run: (mkfs|fsck)/);
      } finally {
        for (const device of [loop, formatted]) spawnSync('blockdev', ['--setrw', device.path]);
      }
    });
  });

  describe('expandfs', () => {
    const json = volumeJson();
    const device = () => path.join(fixture.devRoot, 'disk/azure/scsi1/lun0');
    const remount = async (fields: { fsType?: string } = {}) => {
      expect((await call(['unmountdevice', globalPath])).status).toBe('Success');
      fs.mkdirSync(globalPath, { recursive: true });
      expect((await call(['mountdevice', globalPath, device(), volumeJson(fields)])).status).toBe('Success');
    };

    test('ext4: Success when already large, grows online or at the next mountdevice, a clear Failure when the disk did not grow', async () => {
      const loop = attachDataDisk(0, 64 * MiB);
      fs.mkdirSync(globalPath, { recursive: true });
      expect((await call(['mountdevice', globalPath, device(), json])).status).toBe('Success');
      const before = filesystemBytes(globalPath);

      expect((await call(['expandfs', json, device(), podDir, String(64 * MiB), String(64 * MiB)])).status).toBe('Success');
      expect(sandbox.readLog()).not.toMatch(/run: resize2fs/);

      // Azure grows the disk; the kubelet asks for the new size while the volume is mounted.
      pool.grow(loop, 128 * MiB);
      const online = await call(['expandfs', json, device(), podDir, String(128 * MiB), String(64 * MiB)]);
      expect(fixture.sizeRescanRequest(loop.name)).toBe('1');
      if (onlineExt4ResizeAllowed) {
        expect(online.status).toBe('Success');
        expect(filesystemBytes(globalPath)).toBeGreaterThan(before + 50 * MiB);
      } else {
        // This machine withholds CAP_SYS_RESOURCE, which the kernel requires for online ext4 resizing.
        expect(online.status).toBe('Failure');
        expect(online.message).toMatch(/resize2fs failed \(exit 1\): .*Permission denied to resize filesystem/);
        // The disk grown while detached: the next mountdevice grows the filesystem before mounting it.
        await remount();
        expect(filesystemBytes(globalPath)).toBeGreaterThan(before + 50 * MiB);
        expect(sandbox.readLog()).toMatch(/run: fsck -f -a \S+ → exit 0[\s\S]*run: resize2fs \S+ → exit 0/);
      }

      // Once more through the pod's bind mount and without a device path (a reconstructed volume).
      fs.mkdirSync(podDir, { recursive: true });
      sh('mount', ['--bind', globalPath, podDir]);
      expect((await call(['expandfs', json, '', podDir, String(128 * MiB), String(64 * MiB)])).status).toBe('Success');

      pool.grow(loop, 256 * MiB, { notifyKernel: false });
      const notGrown = await call(['expandfs', json, device(), podDir, String(256 * MiB), String(128 * MiB)]);
      expect(notGrown.status).toBe('Failure');
      expect(notGrown.message).toMatch(new RegExp(`is ${128 * MiB} bytes after a rescan, less than the requested ${256 * MiB}`));
    });

    test('xfs: grows online through its mount point, and at mountdevice after growing while detached', async () => {
      const loop = attachDataDisk(0, 300 * MiB);
      const xfsJson = volumeJson({ fsType: 'xfs' });
      fs.mkdirSync(globalPath, { recursive: true });
      expect((await call(['mountdevice', globalPath, device(), xfsJson])).status).toBe('Success');
      expect(probe(loop.path).TYPE).toBe('xfs');
      const before = filesystemBytes(globalPath);

      pool.grow(loop, 400 * MiB);
      const reply = await call(['expandfs', xfsJson, device(), podDir, String(400 * MiB), String(300 * MiB)]);
      expect(reply.status).toBe('Success');
      expect(filesystemBytes(globalPath)).toBeGreaterThan(before + 80 * MiB);
      expect(sandbox.readLog()).toContain(`run: xfs_growfs -d ${globalPath} → exit 0`);

      pool.grow(loop, 500 * MiB);
      await remount({ fsType: 'xfs' });
      expect(filesystemBytes(globalPath)).toBeGreaterThan(before + 180 * MiB);
    });
  });
});
