// The azurefile driver through the built executable, called exactly as the kubelet calls it, with
// the mount stand-in recording what mount.cifs and mount.nfs would have been given.
import { spawn, type ChildProcess } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BUILDS, createSandbox, mountsUnder, type Sandbox } from '../helpers/sandbox.ts';
import { goJson, mountOptions } from '../helpers/kubelet.ts';
import { canMountDeadShare, mountDeadShare, type MountRecord } from '../helpers/mount-standin.ts';

const ACCOUNT = 'fvtestacct';
// A real storage key is 64 random bytes in base64.
const KEY = crypto.randomBytes(64).toString('base64');
const SECRETS = { azurestorageaccountname: ACCOUNT, azurestorageaccountkey: KEY };
const SHARE = { shareName: 'data' };
const SOURCE = `//${ACCOUNT}.file.core.windows.net/data`;
const SMB_DEFAULTS = ['vers=3.0', 'dir_mode=0777', 'file_mode=0777', 'actimeo=30', 'mfsymlinks', 'nosharesock', 'cache=strict', 'serverino'];
const NFS_DEFAULTS = ['vers=4', 'minorversion=1', 'sec=sys', 'noresvport', 'actimeo=30'];

type Extra = Parameters<typeof mountOptions>[1];

describe.each(BUILDS)('azurefile driver ($name)', ({ file }) => {
  let sandbox: Sandbox;
  let children: ChildProcess[] = [];
  beforeEach(() => {
    sandbox = createSandbox(file);
    // Never the host's own /etc/kubernetes/azure.json: tests write this one when they need it.
    sandbox.env.AZURE_CREDENTIAL_FILE = path.join(sandbox.dir, 'azure.json');
  });
  afterEach(async () => {
    for (const child of children) child.kill('SIGKILL');
    children = [];
    await sandbox.cleanup();
  });

  const mountCall = (dir: string, user: Record<string, string>, extra: Extra = { secrets: SECRETS }, env: NodeJS.ProcessEnv = {}) =>
    sandbox.call('azurefile', ['mount', dir, goJson(mountOptions(user, extra))], env);
  const onlyRecord = (): MountRecord => {
    const records = sandbox.mountRecords();
    expect(records).toHaveLength(1);
    return records[0] as MountRecord;
  };
  const writeAzureJson = (content: object | string) =>
    fs.writeFileSync(path.join(sandbox.dir, 'azure.json'), typeof content === 'string' ? content : JSON.stringify(content));
  /** The secret must be nowhere but in PASSWD: not in any argv, not in the log, not even base64-encoded. */
  const expectNotLeaked = (secret: string) => {
    for (const record of sandbox.mountRecords()) expect(record.argv.join('\n')).not.toContain(secret);
    const log = sandbox.readLog();
    expect(log).not.toContain(secret);
    expect(log).not.toContain(Buffer.from(secret).toString('base64'));
  };

  test('init reports deliberate capabilities with nothing else on the output', async () => {
    const reply = await sandbox.call('azurefile', ['init']);
    expect(reply.output).toBe(
      '{"status":"Success","capabilities":{"attach":false,"selinuxRelabel":false,"supportsMetrics":true,"fsGroup":false,"requiresFSResize":true}}\n',
    );
    expect(reply.exitCode).toBe(0);
  });

  test('lifecycle: init, mount, mount again, unmount, unmount again', async () => {
    expect((await sandbox.call('azurefile', ['init'])).status).toBe('Success');
    const dir = sandbox.podVolumeDir('azurefile', 'pv-azurefile');
    fs.mkdirSync(dir, { recursive: true, mode: 0o750 }); // the kubelet's prepareForMount

    const first = await mountCall(dir, SHARE);
    expect(first.status).toBe('Success');
    expect(mountsUnder(sandbox.dir)).toEqual([dir]);
    fs.writeFileSync(path.join(dir, 'hello.txt'), 'kept on the share');

    const again = await mountCall(dir, SHARE);
    expect(again).toMatchObject({ status: 'Success', message: 'already mounted' });
    expect(mountsUnder(sandbox.dir)).toEqual([dir]);

    const record = onlyRecord();
    expect(record.argv).toEqual(['-t', 'cifs', '-o', [`username=${ACCOUNT}`, ...SMB_DEFAULTS].join(','), SOURCE, dir]);
    expect(record.env.PASSWD).toBe(KEY);
    expect(record.credentials).toBeUndefined();

    expect((await sandbox.call('azurefile', ['unmount', dir])).status).toBe('Success');
    expect(mountsUnder(sandbox.dir)).toEqual([]);
    expect(fs.existsSync(dir)).toBe(false);
    expect((await sandbox.call('azurefile', ['unmount', dir])).status).toBe('Success');

    // The data lives on the "share": a new mount sees it.
    expect((await mountCall(dir, SHARE)).status).toBe('Success');
    expect(fs.readFileSync(path.join(dir, 'hello.txt'), 'utf8')).toBe('kept on the share');
    expectNotLeaked(KEY);
  });

  test('passwords with any character reach mount.cifs intact, only through PASSWD', async () => {
    const passwords: Array<[given: string, expected: string]> = [
      ['a,b=c,password=x', 'a,b=c,password=x'],
      ['$HOME!$(id)`id`', '$HOME!$(id)`id`'],
      [`"double" and 'single'`, `"double" and 'single'`],
      ['  spaces inside and around  ', 'spaces inside and around'],
      ['first line\nsecond line\r\n', 'first line\nsecond line'],
      ['back\\slash;semi&amp|pipe%percent#hash', 'back\\slash;semi&amp|pipe%percent#hash'],
      ['ünïcødé パスワード', 'ünïcødé パスワード'],
    ];
    for (const [index, [given]] of passwords.entries()) {
      const dir = sandbox.podVolumeDir('azurefile', `pv-${index}`);
      const reply = await mountCall(dir, SHARE, { secrets: { ...SECRETS, azurestorageaccountkey: given } });
      expect(reply.status).toBe('Success');
    }
    const records = sandbox.mountRecords();
    expect(records.map((record) => record.env.PASSWD)).toEqual(passwords.map(([, expected]) => expected));
    for (const record of records) expect(record.options.filter((option) => /^pass/i.test(option))).toEqual([]);
    for (const [, expected] of passwords) expectNotLeaked(expected);
  });

  test('the short secret keys accountname and accountkey work too', async () => {
    const dir = sandbox.podVolumeDir('azurefile', 'pv-short');
    const reply = await mountCall(dir, SHARE, { secrets: { accountname: 'OtherAcct', accountkey: KEY } });
    expect(reply.status).toBe('Success');
    expect(onlyRecord()).toMatchObject({ source: '//otheracct.file.core.windows.net/data', env: { PASSWD: KEY } });
    expect(onlyRecord().options[0]).toBe('username=otheracct');
    expectNotLeaked(KEY);
  });

  test('every default can be replaced by the user', async () => {
    const dir = sandbox.podVolumeDir('azurefile', 'pv-override');
    const user = 'vers=3.1.1,dir_mode=0755,file_mode=0644,actimeo=1,cache=none,noserverino,nomfsymlinks,sharesock,uid=999,gid=3000,nobrl';
    const reply = await mountCall(dir, { ...SHARE, mountOptions: user }, { secrets: SECRETS, fsGroup: 2000 });
    expect(reply.status).toBe('Success');
    expect(onlyRecord().options).toEqual([
      `username=${ACCOUNT}`,
      'vers=3.1.1',
      'dir_mode=0755',
      'file_mode=0644',
      'actimeo=1',
      'cache=none',
      'noserverino',
      'uid=999',
      'gid=3000',
      'nobrl',
    ]);
  });

  test("fsGroup becomes gid (not uid) when the user gave none; the user's uid leaves it in place", async () => {
    const plain = sandbox.podVolumeDir('azurefile', 'pv-fsgroup');
    expect((await mountCall(plain, SHARE, { secrets: SECRETS, fsGroup: 2000 })).status).toBe('Success');
    const withUid = sandbox.podVolumeDir('azurefile', 'pv-fsgroup-uid');
    expect((await mountCall(withUid, { ...SHARE, mountOptions: 'uid=1000' }, { secrets: SECRETS, fsGroup: 2000 })).status).toBe('Success');
    const [first, second] = sandbox.mountRecords();
    expect(first?.options).toEqual([`username=${ACCOUNT}`, ...SMB_DEFAULTS, 'gid=2000']);
    expect(second?.options).toEqual([`username=${ACCOUNT}`, ...SMB_DEFAULTS, 'gid=2000', 'uid=1000']);
  });

  test('a read-only PVC mounts ro even when the user asked for rw', async () => {
    const dir = sandbox.podVolumeDir('azurefile', 'pv-ro');
    const reply = await mountCall(dir, { ...SHARE, mountOptions: 'rw,nobrl' }, { secrets: SECRETS, readOnly: true });
    expect(reply.status).toBe('Success');
    expect(onlyRecord().options).toEqual([`username=${ACCOUNT}`, ...SMB_DEFAULTS, 'nobrl', 'ro']);
    expect(() => fs.writeFileSync(path.join(dir, 'x'), 'x')).toThrow(/EROFS|read-only/);
  });

  test('subDir, a private endpoint server and an explicit endpoint suffix shape the source', async () => {
    const cases: Array<[Record<string, string>, string]> = [
      [{ subDir: '/logs//app/' }, `//${ACCOUNT}.file.core.chinacloudapi.cn/data/logs/app`],
      [{ server: `${ACCOUNT}.privatelink.file.core.windows.net` }, `//${ACCOUNT}.privatelink.file.core.windows.net/data`],
      [{ server: '10.1.2.3', subDir: 'a' }, '//10.1.2.3/data/a'],
      [{ storageEndpointSuffix: '.Core.Contoso.Example' }, `//${ACCOUNT}.file.core.contoso.example/data`],
      [{ shareName: ' other-share ', subDir: '' }, `//${ACCOUNT}.file.core.chinacloudapi.cn/other-share`],
    ];
    writeAzureJson({ cloud: 'AzureChinaCloud' }); // the suffix option and server beat the cloud
    for (const [index, [user]] of cases.entries()) {
      const reply = await mountCall(sandbox.podVolumeDir('azurefile', `pv-${index}`), { ...SHARE, ...user });
      expect(reply.status).toBe('Success');
    }
    expect(sandbox.mountRecords().map((record) => record.source)).toEqual(cases.map(([, source]) => source));
    for (const record of sandbox.mountRecords()) expect(record.options[0]).toBe(`username=${ACCOUNT}`);
  });

  test('the cloud in azure.json picks the endpoint suffix: China and US Government, any alias', async () => {
    const clouds: Array<[string | undefined, string]> = [
      ['AzureChinaCloud', 'core.chinacloudapi.cn'],
      ['AZURECHINACLOUD', 'core.chinacloudapi.cn'],
      ['AzureUSGovernmentCloud', 'core.usgovcloudapi.net'],
      ['AZUREUSGOVERNMENT', 'core.usgovcloudapi.net'],
      ['azureusgovernmentcloud', 'core.usgovcloudapi.net'],
      ['AzurePublicCloud', 'core.windows.net'],
      ['AZURECLOUD', 'core.windows.net'],
      [undefined, 'core.windows.net'],
    ];
    for (const [index, [cloud]] of clouds.entries()) {
      writeAzureJson(cloud === undefined ? { tenantId: 't' } : { cloud, tenantId: 't', aadClientSecret: 'not read' });
      expect((await mountCall(sandbox.podVolumeDir('azurefile', `pv-${index}`), SHARE)).status).toBe('Success');
    }
    fs.rmSync(path.join(sandbox.dir, 'azure.json'));
    expect((await mountCall(sandbox.podVolumeDir('azurefile', 'pv-no-config'), SHARE)).status).toBe('Success');
    expect(sandbox.mountRecords().map((record) => record.source)).toEqual([
      ...clouds.map(([, suffix]) => `//${ACCOUNT}.file.${suffix}/data`),
      SOURCE,
    ]);
  });

  test('protocol nfs mounts <account>.file.<suffix>:/<account>/<share> with the NFS defaults and no key', async () => {
    writeAzureJson({ cloud: 'AzureChinaCloud' });
    const fromSecret = sandbox.podVolumeDir('azurefile', 'pv-nfs');
    expect((await mountCall(fromSecret, { ...SHARE, protocol: 'NFS', subDir: 'x/y' }, { secrets: SECRETS, fsGroup: 2000 })).status).toBe(
      'Success',
    );
    const fromOption = sandbox.podVolumeDir('azurefile', 'pv-nfs-option');
    const user = { ...SHARE, protocol: 'nfs', storageAccount: 'nfsacct', mountOptions: 'vers=4.1,actimeo=60,resvport,nconnect=4' };
    expect((await mountCall(fromOption, user, { readOnly: true })).status).toBe('Success');
    const viaEndpoint = sandbox.podVolumeDir('azurefile', 'pv-nfs-endpoint');
    expect((await mountCall(viaEndpoint, { ...SHARE, protocol: 'nfs', storageAccount: 'nfsacct', server: 'fd00::7' }, {})).status).toBe(
      'Success',
    );

    const [first, second, third] = sandbox.mountRecords();
    expect(first).toMatchObject({ fsType: 'nfs', source: `${ACCOUNT}.file.core.chinacloudapi.cn:/${ACCOUNT}/data/x/y`, options: NFS_DEFAULTS });
    expect(first?.env.PASSWD).toBeUndefined();
    expect(second).toMatchObject({
      fsType: 'nfs',
      source: 'nfsacct.file.core.chinacloudapi.cn:/nfsacct/data',
      options: ['sec=sys', 'vers=4.1', 'actimeo=60', 'resvport', 'nconnect=4', 'ro'],
    });
    expect(third?.source).toBe('[fd00::7]:/nfsacct/data');
    expect(() => fs.writeFileSync(path.join(fromOption, 'x'), 'x')).toThrow(/EROFS|read-only/);

    for (const dir of [fromSecret, fromOption, viaEndpoint]) expect((await sandbox.call('azurefile', ['unmount', dir])).status).toBe('Success');
    expect(mountsUnder(sandbox.dir)).toEqual([]);
    expectNotLeaked(KEY);
  });

  test('a share that does not answer in time is a Failure within the per-volume bound, leaving nothing behind', async () => {
    const dir = sandbox.podVolumeDir('azurefile', 'pv-slow');
    const started = Date.now();
    const reply = await mountCall(dir, { ...SHARE, mountTimeoutSeconds: '1' }, { secrets: SECRETS }, {
      MOUNT_STANDIN_DELAY_MS: '5000',
      FLEXVOLUME_MOUNT_TIMEOUT_SECONDS: '60',
    });
    expect(reply.status).toBe('Failure');
    expect(reply.message).toMatch(/did not finish within 1 s/);
    expect(Date.now() - started).toBeLessThan(4500);
    expect(mountsUnder(sandbox.dir)).toEqual([]);
    expect(fs.existsSync(dir)).toBe(false);
  });

  test("mount.cifs's own error reaches the reply, without the key", async () => {
    const dir = sandbox.podVolumeDir('azurefile', 'pv-denied');
    const reply = await mountCall(dir, SHARE, { secrets: SECRETS }, { MOUNT_STANDIN_FAIL: 'mount error(13): Permission denied' });
    expect(reply.status).toBe('Failure');
    expect(reply.message).toMatch(/mount error\(13\): Permission denied/);
    expect(reply.output).not.toContain(KEY);
    expect(mountsUnder(sandbox.dir)).toEqual([]);
    expect(fs.existsSync(dir)).toBe(false);
    expectNotLeaked(KEY);
  });

  test('a directory mounted from another share is a Failure and stays mounted', async () => {
    const dir = sandbox.podVolumeDir('azurefile', 'pv-other');
    expect((await mountCall(dir, SHARE)).status).toBe('Success');
    const reply = await mountCall(dir, { shareName: 'other' });
    expect(reply.status).toBe('Failure');
    expect(reply.message).toContain(`already mounted from ${SOURCE}`);
    expect(mountsUnder(sandbox.dir)).toEqual([dir]);
  });

  test('concurrent mounts of one directory leave exactly one mount', async () => {
    const dir = sandbox.podVolumeDir('azurefile', 'pv-race');
    const replies = await Promise.all([1, 2, 3, 4].map(() => mountCall(dir, SHARE)));
    expect(replies.map((reply) => reply.status)).toEqual(['Success', 'Success', 'Success', 'Success']);
    expect(mountsUnder(sandbox.dir)).toEqual([dir]);
    expect(sandbox.mountRecords()).toHaveLength(1);
  });

  test('an unmount whose plain umount fails (busy) still cleans up through the lazy unmount', async () => {
    const dir = sandbox.podVolumeDir('azurefile', 'pv-busy');
    expect((await mountCall(dir, SHARE)).status).toBe('Success');
    const holder = spawn('sleep', ['60'], { cwd: dir, stdio: 'ignore' });
    children.push(holder);
    await new Promise((resolve) => holder.once('spawn', resolve));
    const reply = await sandbox.call('azurefile', ['unmount', dir]);
    expect(reply.status).toBe('Success');
    expect(mountsUnder(sandbox.dir)).toEqual([]);
    expect(fs.existsSync(dir)).toBe(false);
    expect(sandbox.readLog()).toMatch(/umount -l /);
  });

  (canMountDeadShare ? describe : describe.skip)('a mount broken by a vanished server or a rotated key (ENOTCONN)', () => {
    test('unmount cleans it up', async () => {
      const dir = sandbox.podVolumeDir('azurefile', 'pv-dead');
      fs.mkdirSync(dir, { recursive: true });
      mountDeadShare(SOURCE, dir);
      expect(() => fs.statSync(dir)).toThrow(/ENOTCONN/);
      const started = Date.now();
      const reply = await sandbox.call('azurefile', ['unmount', dir]);
      expect(reply.status).toBe('Success');
      expect(Date.now() - started).toBeLessThan(10_000);
      expect(mountsUnder(sandbox.dir)).toEqual([]);
      expect(fs.existsSync(dir)).toBe(false);
    });

    test('mount replaces it with a working one', async () => {
      const dir = sandbox.podVolumeDir('azurefile', 'pv-dead');
      fs.mkdirSync(dir, { recursive: true });
      mountDeadShare(SOURCE, dir);
      const reply = await mountCall(dir, SHARE);
      expect(reply.status).toBe('Success');
      expect(reply.message).toBeUndefined();
      expect(onlyRecord().source).toBe(SOURCE);
      expect(mountsUnder(sandbox.dir)).toEqual([dir]);
      fs.writeFileSync(path.join(dir, 'alive'), 'yes');
      expect(sandbox.readLog()).toMatch(/answered stat with ENOTCONN/);
    });
  });

  describe('symlinks in the kubelet tree', () => {
    test('a pod volume dir that is a symlink out of the tree is a Failure: nothing mounted, the target untouched', async () => {
      const outside = path.join(sandbox.dir, 'outside');
      fs.mkdirSync(outside);
      fs.writeFileSync(path.join(outside, 'host-file'), 'must stay visible');
      const dir = sandbox.podVolumeDir('azurefile', 'pv-link');
      fs.mkdirSync(path.dirname(dir), { recursive: true });
      fs.symlinkSync(outside, dir);
      const reply = await mountCall(dir, SHARE);
      expect(reply.status).toBe('Failure');
      expect(reply.message).toContain(`leads through ${dir}, a symlink to ${outside}`);
      expect(sandbox.mountRecords()).toEqual([]);
      expect(mountsUnder(sandbox.dir)).toEqual([]);
      expect(fs.readdirSync(outside)).toEqual(['host-file']);
      expectNotLeaked(KEY);
    });

    test('a symlinked kubelet root: mount, mount again (one mount), unmount clean', async () => {
      const real = path.join(sandbox.dir, 'mnt/kubelet');
      fs.mkdirSync(real, { recursive: true });
      fs.mkdirSync(path.dirname(sandbox.kubeletRoot), { recursive: true });
      fs.symlinkSync(real, sandbox.kubeletRoot);
      const dir = sandbox.podVolumeDir('azurefile', 'pv-moved');
      const realDir = dir.replace(sandbox.kubeletRoot, real);
      fs.mkdirSync(dir, { recursive: true, mode: 0o750 });

      expect((await mountCall(dir, SHARE)).status).toBe('Success');
      expect(await mountCall(dir, SHARE)).toMatchObject({ status: 'Success', message: 'already mounted' });
      expect(mountsUnder(sandbox.dir)).toEqual([realDir]);
      expect(onlyRecord().target).toBe(realDir);

      expect((await sandbox.call('azurefile', ['unmount', dir])).status).toBe('Success');
      expect(mountsUnder(sandbox.dir)).toEqual([]);
      expect(fs.existsSync(realDir)).toBe(false);
    });
  });

  test('no azure.json means the public cloud, and the log says so', async () => {
    const dir = sandbox.podVolumeDir('azurefile', 'pv-public');
    expect((await mountCall(dir, SHARE)).status).toBe('Success');
    expect(onlyRecord().source).toBe(SOURCE);
    expect(sandbox.readLog()).toContain(`${path.join(sandbox.dir, 'azure.json')} does not exist; assuming the public cloud (AzurePublicCloud)`);
  });

  test('expandfs answers Success; getvolumename and attach answer Not supported', async () => {
    const options = goJson({ 'kubernetes.io/fsType': '', 'kubernetes.io/pvOrVolumeName': 'pv', 'kubernetes.io/readwrite': 'rw', ...SHARE });
    const dir = sandbox.podVolumeDir('azurefile', 'pv');
    expect((await sandbox.call('azurefile', ['expandfs', options, '', dir, '10737418240', '5368709120'])).status).toBe('Success');
    expect((await sandbox.call('azurefile', ['getvolumename', options])).status).toBe('Not supported');
    expect((await sandbox.call('azurefile', ['attach', options, 'node-1'])).status).toBe('Not supported');
  });

  describe('bad input gets a Failure that says what to fix, and changes nothing', () => {
    // Rows become objects: given a row shorter than its parameter list, jest would pass a done
    // callback in the missing place and wait for it.
    const rows: Array<[name: string, user: Record<string, string>, extra: Extra, message: RegExp, azureJson?: object | string]> = [
      ['no shareName', {}, { secrets: SECRETS }, /option 'shareName' is required/],
      ['an empty shareName', { shareName: '  ' }, { secrets: SECRETS }, /option 'shareName' is required/],
      ['a shareName Azure would never accept', { shareName: 'My_Share' }, { secrets: SECRETS }, /option 'shareName': must be an Azure file share name/],
      ['an option smuggled in through shareName', { shareName: 'data,uid=0' }, { secrets: SECRETS }, /option 'shareName'/],
      ['no Secret at all', SHARE, {}, /no Secret reached the driver.*Secret of type azure\/azurefile/],
      ['a Secret without the key', SHARE, { secrets: { azurestorageaccountname: ACCOUNT } }, /has no azurestorageaccountkey \(nor accountkey\).*type azure\/azurefile/],
      ['a Secret whose key is only whitespace', SHARE, { secrets: { ...SECRETS, azurestorageaccountkey: ' \r\n ' } }, /azurestorageaccountkey is empty.*type azure\/azurefile/],
      ['a Secret without the account name', SHARE, { secrets: { azurestorageaccountkey: KEY } }, /has no azurestorageaccountname \(nor accountname\).*type azure\/azurefile/],
      ['both key spellings, different values', SHARE, { secrets: { ...SECRETS, accountkey: `${KEY}x` } }, /both azurestorageaccountkey and accountkey/],
      ['an account name that is not one', SHARE, { secrets: { ...SECRETS, azurestorageaccountname: 'evil.example.com/x' } }, /account name must be a storage account name/],
      ['storageAccount contradicting the Secret', { ...SHARE, storageAccount: 'someoneelse' }, { secrets: SECRETS }, /differ/],
      ['username in mountOptions', { ...SHARE, mountOptions: 'username=admin' }, { secrets: SECRETS }, /must not set username/],
      ['user in mountOptions', { ...SHARE, mountOptions: 'nobrl,user=dom/admin%pw' }, { secrets: SECRETS }, /must not set/],
      ['password in mountOptions', { ...SHARE, mountOptions: 'password=hunter2' }, { secrets: SECRETS }, /must not set/],
      ['pass in mountOptions', { ...SHARE, mountOptions: 'PASS=hunter2' }, { secrets: SECRETS }, /must not set/],
      ['credentials in mountOptions', { ...SHARE, mountOptions: 'credentials=/etc/shadow' }, { secrets: SECRETS }, /must not set/],
      ['domain in mountOptions', { ...SHARE, mountOptions: 'domain=CORP' }, { secrets: SECRETS }, /must not set/],
      ['a mount option hiding a second one in quotes', { ...SHARE, mountOptions: 'cache="strict,password=x"' }, { secrets: SECRETS }, /comma-separated list/],
      ['a mount option with a space', { ...SHARE, mountOptions: 'nobrl, uid=0 gid=0' }, { secrets: SECRETS }, /comma-separated list/],
      ['an SMB dialect Azure Files does not speak', { ...SHARE, mountOptions: 'vers=1.0' }, { secrets: SECRETS }, /vers=1\.0 is not an SMB dialect/],
      ['subDir climbing out of the share', { ...SHARE, subDir: '../other' }, { secrets: SECRETS }, /option 'subDir': must not contain '\.\.'/],
      ['an option smuggled in through server', { ...SHARE, server: '10.0.0.1,uid=0' }, { secrets: SECRETS }, /option 'server'/],
      ['an unknown protocol', { ...SHARE, protocol: 'cifs' }, { secrets: SECRETS }, /option 'protocol': must be smb or nfs/],
      ['a typo in an option name', { ...SHARE, sharename2: 'x' }, { secrets: SECRETS }, /unknown option 'sharename2'/],
      ['a zero mount timeout', { ...SHARE, mountTimeoutSeconds: '0' }, { secrets: SECRETS }, /mountTimeoutSeconds.*between 1 and 3600/],
      ['a mount timeout that is not a number', { ...SHARE, mountTimeoutSeconds: '90s' }, { secrets: SECRETS }, /whole number of seconds/],
      ['a bad endpoint suffix', { ...SHARE, storageEndpointSuffix: 'core windows net' }, { secrets: SECRETS }, /storageEndpointSuffix/],
      ['an NFS share without an account', { ...SHARE, protocol: 'nfs' }, {}, /NFS share needs its storage account/],
      ['an unknown cloud in azure.json', SHARE, { secrets: SECRETS }, /unknown Azure cloud 'AzureGermanCloud'.*storageEndpointSuffix/, { cloud: 'AzureGermanCloud' }],
      ['a bad readwrite', { ...SHARE, 'kubernetes.io/readwrite': 'yes' }, { secrets: SECRETS }, /"rw" or "ro"/],
      ['a truncated azure.json', SHARE, { secrets: SECRETS }, /azure\.json is not valid JSON .*may be truncated.*storageEndpointSuffix/, '{"cloud":"AzureChinaCloud","tenantId":"t'],
      ['an empty azure.json', SHARE, { secrets: SECRETS }, /azure\.json is not valid JSON .*may be truncated.*storageEndpointSuffix/, ''],
      ['an azure.json that is not an object', SHARE, { secrets: SECRETS }, /azure\.json must hold a JSON object.*storageEndpointSuffix/, '"AzureChinaCloud"'],
    ];
    const cases = rows.map(([name, user, extra, message, azureJson]) => ({ name, user, extra, message, azureJson }));
    test.each(cases)('$name', async ({ user, extra, message, azureJson }) => {
      if (azureJson !== undefined) writeAzureJson(azureJson);
      const before = fs.readdirSync(sandbox.dir).sort();
      const dir = sandbox.podVolumeDir('azurefile', 'v');
      const reply = await mountCall(dir, user, extra);
      expect(reply.status).toBe('Failure');
      expect(reply.exitCode).toBe(1);
      expect(reply.message).toMatch(message);
      expect(reply.output).not.toContain(KEY);
      expect(sandbox.mountRecords()).toEqual([]);
      expect(mountsUnder(sandbox.dir)).toEqual([]);
      expect(fs.existsSync(sandbox.kubeletRoot)).toBe(false);
      expect(fs.readdirSync(sandbox.dir).sort()).toEqual([...new Set([...before, 'driver.log'])].sort());
      expectNotLeaked(KEY);
    });
  });
});
