// LUN discovery in-process against the fixture sysfs and /dev tree, with real loop devices as the
// block devices the links lead to.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { findDiskByLun, findLunOfDevice, lunIn, parseLun, waitForDisk } from '../../src/drivers/azuredisk/lun-discovery.ts';
import { InvalidInput } from '../../src/flexvolume/errors.ts';
import { createLoopPool, MiB, type LoopDevice } from '../helpers/loop-devices.ts';
import { CONTROLLER, createScsiFixture, type ScsiFixture } from '../helpers/scsi-fixture.ts';

describe('parseLun', () => {
  test.each([
    ['0', 0],
    ['3', 3],
    ['lun3', 3],
    ['LUN12', 12],
    ['/dev/disk/azure/scsi1/lun3', 3],
    ['/dev/disk/azure/data/by-lun/7', 7],
    ['/dev/disk/azure/datadisks/lun2', 2],
  ])('%s is LUN %d', (given, lun) => {
    expect(parseLun(given)).toBe(lun);
  });

  test.each(['', '/dev/sdc', 'sdc', '-1', '256', '3a', 'lun', '/dev/disk/azure/scsi1/lun', '3\n'])('%j is not a LUN', (given) => {
    expect(lunIn(given)).toBeUndefined();
    expect(() => parseLun(given)).toThrow(InvalidInput);
  });
});

describe('findDiskByLun', () => {
  const pool = createLoopPool();
  let fixture: ScsiFixture;
  let loops: LoopDevice[];
  const roots = () => ({ sysRoot: fixture.sysRoot, devRoot: fixture.devRoot });
  const found = (lun: number) => {
    const lookup = findDiskByLun(lun, roots());
    if ('missing' in lookup) throw new Error(lookup.missing);
    return lookup.found;
  };
  const missing = (lun: number) => {
    const lookup = findDiskByLun(lun, roots());
    if ('found' in lookup) throw new Error(`found ${lookup.found.stablePath}`);
    return lookup.missing;
  };

  beforeAll(() => {
    loops = [0, 1, 2, 3].map((index) => pool.create(`unit${index}`, MiB));
  });
  afterAll(() => pool.detachAll());
  beforeEach(() => {
    fixture = createScsiFixture(fs.mkdtempSync(path.join(os.tmpdir(), 'lun-discovery-')));
  });
  afterEach(() => fixture.cleanup());

  const loop = (index: number): LoopDevice => loops[index] as LoopDevice;

  test('generation 1: root and resource disks on their own controllers are never data disks', () => {
    fixture.addDisk({ address: '0:0:0:0', controller: CONTROLLER.gen1Root, device: loop(0).path });
    fixture.addDisk({ address: '1:0:1:0', controller: CONTROLLER.gen1Resource, device: loop(1).path });
    expect(missing(0)).toMatch(/OS or resource disk/);
    fixture.addDisk({ address: '5:0:0:0', controller: CONTROLLER.scsi1, device: loop(2).path });
    expect(found(0)).toMatchObject({ blockName: loop(2).name, stablePath: path.join(fixture.devRoot, loop(2).name) });
  });

  test('a udev link is preferred as the answer, and a by-id link is used when scsi1 has none', () => {
    fixture.addDisk({ address: '1:0:0:0', controller: CONTROLLER.scsi1, device: loop(0).path, links: ['disk/by-id/scsi-3600224801'] });
    expect(found(0).stablePath).toBe(path.join(fixture.devRoot, 'disk/by-id/scsi-3600224801'));
    fixture.addDisk({ address: '1:0:0:1', controller: CONTROLLER.scsi1, device: loop(1).path, links: ['disk/azure/scsi1/lun1'] });
    expect(found(1)).toMatchObject({ stablePath: path.join(fixture.devRoot, 'disk/azure/scsi1/lun1'), via: expect.stringContaining('1:0:0:1') });
  });

  test('a scsi1 link that leads to the wrong disk is not believed', () => {
    fixture.addDisk({ address: '0:0:0:0', controller: CONTROLLER.scsi0, device: loop(0).path, links: ['disk/azure/root', 'disk/azure/scsi1/lun2'] });
    fixture.addDisk({ address: '1:0:0:3', controller: CONTROLLER.scsi1, device: loop(1).path, links: ['disk/azure/scsi1/lun3'] });
    fs.symlinkSync('../../../' + loop(1).name, path.join(fixture.devRoot, 'disk/azure/scsi1/lun4'));
    expect(missing(2)).toMatch(/lun2: .* is the OS or resource disk/);
    expect(missing(4)).toMatch(/has LUN 3, not 4/);
  });

  test('a dangling link, a non-Azure disk, and a link without its SCSI device are not data disks', () => {
    fs.mkdirSync(path.join(fixture.devRoot, 'disk/azure/scsi1'), { recursive: true });
    fs.symlinkSync('../../../sdz', path.join(fixture.devRoot, 'disk/azure/scsi1/lun0'));
    expect(missing(0)).toMatch(/does not lead to a block device/);
    fixture.addDisk({ address: '1:0:0:1', controller: CONTROLLER.scsi1, device: loop(0).path, vendor: 'QEMU', model: 'QEMU HARDDISK' });
    expect(missing(1)).toMatch(/not an Azure virtual disk/);
    fixture.addNvmeDisk({ device: loop(1).path, links: ['disk/azure/scsi1/lun2'] });
    expect(missing(2)).toMatch(/no SCSI device in sysfs owns/);
  });

  test('without controller ids, a lone candidate is trusted unless it shares a host with the OS disk', () => {
    fixture.addDisk({ address: '2:0:0:0', controller: undefined, device: loop(0).path, links: ['disk/azure/root'] });
    fixture.addDisk({ address: '2:0:0:1', controller: undefined, device: loop(1).path });
    fixture.addDisk({ address: '3:0:0:1', controller: undefined, device: loop(2).path });
    expect(found(1).blockName).toBe(loop(2).name);
    fixture.addDisk({ address: '4:0:0:1', controller: undefined, device: loop(3).path });
    expect(missing(1)).toMatch(/several disks could be LUN 1/);
  });

  test('findLunOfDevice names the LUN of a data disk, and none for the OS disk, a decoy, or an NVMe disk without its link', () => {
    fixture.addDisk({ address: '0:0:0:0', controller: CONTROLLER.scsi0, device: loop(0).path, links: ['disk/azure/root'] });
    fixture.addDisk({ address: '1:0:0:3', controller: CONTROLLER.scsi1, device: loop(1).path, links: ['disk/azure/scsi1/lun3'] });
    fixture.addDisk({ address: '2:0:0:3', controller: CONTROLLER.foreign, device: loop(2).path });
    fixture.addNvmeDisk({ device: loop(3).path, links: ['disk/azure/data/by-lun/5'] });
    expect(findLunOfDevice(loop(1).name, roots())).toBe(3);
    expect(findLunOfDevice(loop(3).name, roots())).toBe(5);
    expect(findLunOfDevice(loop(0).name, roots())).toBeUndefined();
    expect(findLunOfDevice(loop(2).name, roots())).toBeUndefined();
  });

  test('waitForDisk gives up with what it looked for', async () => {
    const started = Date.now();
    await expect(waitForDisk(9, roots(), { timeoutMs: 300, pollMs: 50, rescanEveryMs: 100 })).rejects.toThrow(
      /LUN 9 did not appear .* within 0.3 s\. Looked for .*scsi1\/lun9 and .*by-lun\/9/,
    );
    expect(Date.now() - started).toBeLessThan(1000);
  });
});
