// Whether a share mounted at a pod's directory is the one asked for.
import { sameSource } from '../../src/drivers/network-mount.ts';

describe('sameSource', () => {
  test.each([
    ['nfs', '10.0.0.5:/exports/data', '10.0.0.5:/exports/data/'],
    ['nfs', 'NFS.example.com:/exports/data', 'nfs.example.com:/exports/data'],
    ['nfs', '[FD00::5]:/exports', '[fd00::5]:/exports'],
    ['cifs', '//Acct.file.core.windows.net/Data/Sub', '//acct.file.core.windows.net/data/sub'],
  ])('%s: %s is %s', (fsType, mounted, wanted) => {
    expect(sameSource(fsType, mounted, wanted)).toBe(true);
  });

  test.each([
    ['nfs', '10.0.0.5:/exports/Data', '10.0.0.5:/exports/data'],
    ['nfs', '10.0.0.6:/exports/data', '10.0.0.5:/exports/data'],
    ['nfs', '10.0.0.5:/exports/data2', '10.0.0.5:/exports/data'],
    ['nfs', 'tmpfs', '10.0.0.5:/exports/data'],
    ['cifs', '//acct.file.core.windows.net/other', '//acct.file.core.windows.net/data'],
  ])('%s: %s is not %s', (fsType, mounted, wanted) => {
    expect(sameSource(fsType, mounted, wanted)).toBe(false);
  });
});
