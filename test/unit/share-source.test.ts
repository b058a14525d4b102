// Whether a share mounted at a pod's directory is the one asked for.
import { sameSource } from '../../src/drivers/network-mount.ts';

describe('sameSource', () => {
  test.each([
    ['nfs', '10.0.0.5:/exports/data', '10.0.0.5:/exports/data/', true],
    ['nfs', 'NFS.example.com:/exports/data', 'nfs.example.com:/exports/data', true],
    ['nfs', '[FD00::5]:/exports', '[fd00::5]:/exports', true],
    ['cifs', '//Acct.file.core.windows.net/Data/Sub', '//acct.file.core.windows.net/data/sub', true],
    ['nfs', '10.0.0.5:/exports/Data', '10.0.0.5:/exports/data', false],
    ['nfs', '10.0.0.6:/exports/data', '10.0.0.5:/exports/data', false],
    ['nfs', '10.0.0.5:/exports/data2', '10.0.0.5:/exports/data', false],
    ['nfs', 'tmpfs', '10.0.0.5:/exports/data', false],
    ['cifs', '//acct.file.core.windows.net/other', '//acct.file.core.windows.net/data', false],
  ])('%s: mounted %s, asked for %s: the same is %s', (fsType, mounted, wanted, same) => {
    expect(sameSource(fsType, mounted, wanted)).toBe(same);
  });
});
