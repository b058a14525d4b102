import { findMount, parseMountInfo } from '../../src/system/mount-table.ts';

const MOUNTINFO = [
  '22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw',
  '41 22 0:40 / /var/lib/kubelet/pods/u/volumes/azure~nfs/my\\040vol rw,relatime shared:2 master:3 - nfs4 10.0.0.5:/exports rw,vers=4.1',
  '42 22 0:41 / /mnt/stacked rw - tmpfs first rw',
  '43 42 0:42 / /mnt/stacked ro - tmpfs second rw',
  'garbage line',
].join('\n');

describe('mountinfo', () => {
  const table = parseMountInfo(MOUNTINFO);

  test('parses optional fields and octal escapes', () => {
    expect(table).toHaveLength(4);
    expect(table[1]).toEqual({
      majorMinor: '0:40',
      root: '/',
      mountPoint: '/var/lib/kubelet/pods/u/volumes/azure~nfs/my vol',
      options: ['rw', 'relatime'],
      fsType: 'nfs4',
      source: '10.0.0.5:/exports',
    });
  });

  test('the last of stacked mounts is the visible one', () => {
    expect(findMount('/mnt/stacked', table)?.source).toBe('second');
    expect(findMount('/mnt/none', table)).toBeUndefined();
  });
});
