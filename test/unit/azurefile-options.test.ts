// The mount options the azurefile driver builds: every default, and every way a user replaces one.
import { nfsMountOptions, smbMountOptions } from '../../src/drivers/azurefile.ts';
import { formatMountOption, mountOptionList } from '../../src/drivers/network-mount.ts';

const parse = (text: string) => mountOptionList().parse(text);
const smb = (user: string, extra: { fsGroup?: number; readOnly?: boolean } = {}) =>
  smbMountOptions({ account: 'acct', user: parse(user), fsGroup: extra.fsGroup, readOnly: extra.readOnly ?? false }).map(formatMountOption);
const nfs = (user: string, readOnly = false) => nfsMountOptions(parse(user), readOnly).map(formatMountOption);

const SMB_DEFAULTS = ['vers=3.0', 'dir_mode=0777', 'file_mode=0777', 'actimeo=30', 'mfsymlinks', 'nosharesock', 'cache=strict', 'serverino'];

describe('smbMountOptions', () => {
  test('the identity, then every default', () => {
    expect(smb('')).toEqual(['username=acct', ...SMB_DEFAULTS]);
  });

  test('fsGroup becomes gid, never uid', () => {
    expect(smb('', { fsGroup: 2000 })).toEqual(['username=acct', ...SMB_DEFAULTS, 'gid=2000']);
    expect(smb('uid=1000', { fsGroup: 2000 })).toEqual(['username=acct', ...SMB_DEFAULTS, 'gid=2000', 'uid=1000']);
  });

  test("the user's gid wins over fsGroup", () => {
    expect(smb('gid=3000', { fsGroup: 2000 })).toEqual(['username=acct', ...SMB_DEFAULTS, 'gid=3000']);
  });

  test.each([
    ['vers=3.1.1', 'vers=3.0'],
    ['dir_mode=0755', 'dir_mode=0777'],
    ['dirmode=0700', 'dir_mode=0777'],
    ['file_mode=0644', 'file_mode=0777'],
    ['actimeo=1', 'actimeo=30'],
    ['cache=none', 'cache=strict'],
    ['noserverino', 'serverino'],
  ])('%s replaces %s', (user, replaced) => {
    const expected = [...SMB_DEFAULTS.filter((option) => option !== replaced), user];
    expect(smb(user)).toEqual(['username=acct', ...expected]);
  });

  test.each([
    ['nomfsymlinks', 'mfsymlinks'],
    ['sharesock', 'nosharesock'],
  ])('%s switches %s off and is not passed to the kernel, which does not know it', (user, removed) => {
    expect(smb(user)).toEqual(['username=acct', ...SMB_DEFAULTS.filter((option) => option !== removed)]);
  });

  test('user options that are not defaults are appended in order', () => {
    expect(smb('nobrl,uid=33,Vers=3.1.1')).toEqual([
      'username=acct',
      ...SMB_DEFAULTS.filter((option) => option !== 'vers=3.0'),
      'nobrl',
      'uid=33',
      'Vers=3.1.1',
    ]);
  });

  test('a read-only volume mounts ro whatever the user asked', () => {
    expect(smb('rw', { readOnly: true })).toEqual(['username=acct', ...SMB_DEFAULTS, 'ro']);
    expect(smb('', { readOnly: true }).at(-1)).toBe('ro');
    expect(smb('ro')).toContain('ro');
  });
});

describe('nfsMountOptions', () => {
  const DEFAULTS = ['vers=4', 'minorversion=1', 'sec=sys', 'noresvport', 'actimeo=30'];

  test('every default', () => {
    expect(nfs('')).toEqual(DEFAULTS);
  });

  test.each([
    ['vers=4.1', ['sec=sys', 'noresvport', 'actimeo=30', 'vers=4.1']],
    ['nfsvers=4.2', ['sec=sys', 'noresvport', 'actimeo=30', 'nfsvers=4.2']],
    ['minorversion=0', ['vers=4', 'sec=sys', 'noresvport', 'actimeo=30', 'minorversion=0']],
    ['sec=krb5', ['vers=4', 'minorversion=1', 'noresvport', 'actimeo=30', 'sec=krb5']],
    ['resvport', ['vers=4', 'minorversion=1', 'sec=sys', 'actimeo=30', 'resvport']],
    ['actimeo=60', ['vers=4', 'minorversion=1', 'sec=sys', 'noresvport', 'actimeo=60']],
    ['noac', ['vers=4', 'minorversion=1', 'sec=sys', 'noresvport', 'noac']],
    ['nconnect=4', [...DEFAULTS, 'nconnect=4']],
  ])('%s', (user, expected) => {
    expect(nfs(user)).toEqual(expected);
  });

  test('read-only', () => {
    expect(nfs('rw', true)).toEqual([...DEFAULTS, 'ro']);
  });
});
