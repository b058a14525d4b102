import { blockMountOptions } from '../../src/drivers/azuredisk/node.ts';
import { azurediskOptions, requestedFilesystem } from '../../src/drivers/azuredisk/options.ts';
import { InvalidInput } from '../../src/flexvolume/errors.ts';
import { parseDriverOptions, parseVolumeOptions } from '../../src/flexvolume/options.ts';
import { baseOptions, goJson } from '../helpers/kubelet.ts';

const DISK = { diskName: 'd1', diskURI: '/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/disks/d1' };

function parse(fields: { fsType?: string; readOnly?: boolean }, user: Record<string, string>) {
  const volume = parseVolumeOptions(goJson({ ...baseOptions(fields), ...user }));
  return { volume, disk: parseDriverOptions(azurediskOptions, volume.user) };
}

describe('azuredisk options', () => {
  test('defaults: ReadOnly caching, Managed, no fsType or mount options', () => {
    expect(parse({}, DISK).disk).toEqual({ ...DISK, cachingMode: 'ReadOnly', kind: 'Managed' });
  });

  test('caching mode in any letter case; keys in any letter case', () => {
    expect(parse({}, { ...DISK, cachingmode: 'readwrite' }).disk.cachingMode).toBe('ReadWrite');
    expect(() => parse({}, { ...DISK, cachingMode: 'WriteBack' })).toThrow(/cachingMode.*None, ReadOnly, ReadWrite/);
  });

  test('the disk is required, unknown keys are refused', () => {
    expect(() => parse({}, { diskName: 'd1' })).toThrow(/option 'diskURI' is required/);
    expect(() => parse({}, { ...DISK, fstype: 'xfs', mountoptions: 'noatime', readOnly: 'true' })).toThrow(/unknown option 'readOnly'/);
  });

  test('a diskName that contradicts the last segment of diskURI is refused, naming both; letter case does not matter', () => {
    const uri = '/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/disks/Data-1';
    expect(parse({}, { diskName: 'data-1', diskURI: uri }).disk.diskName).toBe('data-1');
    expect(() => parse({}, { diskName: 'data-2', diskURI: uri })).toThrow(InvalidInput);
    expect(() => parse({}, { diskName: 'data-2', diskURI: uri })).toThrow(
      /option 'diskName': 'data-2' contradicts diskURI '\/subscriptions\/s\/.*\/disks\/Data-1', whose disk is 'Data-1'/,
    );
    expect(() => parse({}, { diskName: 'd1' })).toThrow(/^option 'diskURI' is required$/);
  });

  test("the filesystem: the PV's fsType, else the option, else ext4", () => {
    const fsType = (pv: string, user: Record<string, string> = {}) => {
      const { volume, disk } = parse({ fsType: pv }, { ...DISK, ...user });
      return requestedFilesystem(volume, disk);
    };
    expect(fsType('')).toBe('ext4');
    expect(fsType('', { fsType: 'xfs' })).toBe('xfs');
    expect(fsType('ext3')).toBe('ext3');
    expect(fsType('xfs', { fsType: 'xfs' })).toBe('xfs');
    expect(() => fsType('btrfs')).toThrow(InvalidInput);
    expect(() => fsType('ext4', { fsType: 'xfs' })).toThrow(/set only one/);
    expect(() => fsType('', { fsType: 'zfs' })).toThrow(/fsType.*ext4, xfs, ext3/);
  });
});

describe('blockMountOptions', () => {
  const user = (text: string) => parse({}, { ...DISK, mountOptions: text }).disk.mountOptions ?? [];

  test('defaults, nouuid for xfs, then the user options', () => {
    expect(blockMountOptions('ext4', [], false)).toEqual(['defaults']);
    expect(blockMountOptions('xfs', user('noatime,discard'), false)).toEqual(['defaults', 'nouuid', 'noatime', 'discard']);
  });

  test('read-only wins over a user rw', () => {
    expect(blockMountOptions('ext4', user('rw,noatime'), true)).toEqual(['defaults', 'noatime', 'ro']);
  });

  test('a mount option cannot smuggle in another', () => {
    expect(() => user('noatime,ro x')).toThrow(/mountOptions/);
  });
});
