// The nfs driver through the built executable, called exactly as the kubelet calls it.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BUILDS, createSandbox, mountsUnder, type Sandbox } from '../helpers/sandbox.ts';
import { callDriver, goJson, mountOptions } from '../helpers/kubelet.ts';

const NFS = { server: '10.0.0.5', share: '/exports/data' };

describe.each(BUILDS)('nfs driver ($name)', ({ file }) => {
  let sandbox: Sandbox;
  beforeEach(() => {
    sandbox = createSandbox(file);
  });
  afterEach(async () => {
    await sandbox.cleanup();
  });

  const mountCall = (dir: string, user: Record<string, string>, extra: Parameters<typeof mountOptions>[1] = {}) =>
    sandbox.call('nfs', ['mount', dir, goJson(mountOptions(user, extra))]);

  test('init reports deliberate capabilities with nothing else on the output', async () => {
    const reply = await sandbox.call('nfs', ['init']);
    expect(reply.output).toBe(
      '{"status":"Success","capabilities":{"attach":false,"selinuxRelabel":false,"supportsMetrics":true,"fsGroup":false,"requiresFSResize":true}}\n',
    );
    expect(reply.exitCode).toBe(0);
  });

  test('lifecycle: mount, mount again, unmount, unmount again', async () => {
    const dir = sandbox.podVolumeDir('nfs', 'pv-nfs');
    fs.mkdirSync(dir, { recursive: true, mode: 0o750 }); // the kubelet's prepareForMount

    const first = await mountCall(dir, NFS);
    expect(first.status).toBe('Success');
    expect(mountsUnder(sandbox.dir)).toContain(dir);
    fs.writeFileSync(path.join(dir, 'hello.txt'), 'kept on the server');

    const again = await mountCall(dir, NFS);
    expect(again.status).toBe('Success');
    expect(mountsUnder(sandbox.dir).filter((m) => m === dir)).toHaveLength(1);

    const records = sandbox.mountRecords();
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject({ fsType: 'nfs', source: '10.0.0.5:/exports/data', target: dir, options: [] });
    expect(records[0]?.argv).toEqual(['-t', 'nfs', '10.0.0.5:/exports/data', dir]);

    const unmount = await sandbox.call('nfs', ['unmount', dir]);
    expect(unmount.status).toBe('Success');
    expect(mountsUnder(sandbox.dir)).not.toContain(dir);
    expect(fs.existsSync(dir)).toBe(false);

    const unmountAgain = await sandbox.call('nfs', ['unmount', dir]);
    expect(unmountAgain.status).toBe('Success');

    // The data lives on the "server": a new mount sees it.
    fs.mkdirSync(dir, { recursive: true });
    expect((await mountCall(dir, NFS)).status).toBe('Success');
    expect(fs.readFileSync(path.join(dir, 'hello.txt'), 'utf8')).toBe('kept on the server');
  });

  test('read-only PVC mounts ro even when the user asked for rw', async () => {
    const dir = sandbox.podVolumeDir('nfs', 'pv-ro');
    const reply = await mountCall(dir, { ...NFS, mountOptions: 'nfsvers=4.1,rw,hard' }, { readOnly: true });
    expect(reply.status).toBe('Success');
    expect(sandbox.mountRecords()[0]?.options).toEqual(['nfsvers=4.1', 'hard', 'ro']);
    expect(() => fs.writeFileSync(path.join(dir, 'x'), 'x')).toThrow(/EROFS|read-only/);
  });

  test('user mount options pass through in order', async () => {
    const dir = sandbox.podVolumeDir('nfs', 'pv-opts');
    const reply = await mountCall(dir, { ...NFS, mountOptions: ' nfsvers=3 , nolock,timeo=600' });
    expect(reply.status).toBe('Success');
    expect(sandbox.mountRecords()[0]?.options).toEqual(['nfsvers=3', 'nolock', 'timeo=600']);
  });

  test('IPv6 servers are bracketed and a share without a leading slash gets one', async () => {
    const dir = sandbox.podVolumeDir('nfs', 'pv-v6');
    const reply = await mountCall(dir, { server: 'fd00::5', share: 'exports/data' });
    expect(reply.status).toBe('Success');
    expect(sandbox.mountRecords()[0]?.source).toBe('[fd00::5]:/exports/data');
  });

  test('unmount takes off every mount stacked on the dir, and gives up after eight with the rest left in place', async () => {
    const stack = (dir: string, count: number) => {
      fs.mkdirSync(dir, { recursive: true, mode: 0o750 });
      for (let layer = 0; layer < count; layer++) {
        const result = spawnSync('/usr/bin/mount', ['-t', 'tmpfs', '-o', 'size=1m', `layer-${layer}`, dir]);
        expect(result.status).toBe(0);
      }
    };
    const three = sandbox.podVolumeDir('nfs', 'pv-three');
    stack(three, 3);
    expect((await sandbox.call('nfs', ['unmount', three])).status).toBe('Success');
    expect(mountsUnder(sandbox.dir)).not.toContain(three);
    expect(fs.existsSync(three)).toBe(false);

    const nine = sandbox.podVolumeDir('nfs', 'pv-nine');
    stack(nine, 9);
    const reply = await sandbox.call('nfs', ['unmount', nine]);
    expect(reply.status).toBe('Failure');
    expect(reply.message).toContain(`${nine} is still mounted after unmounting it 8 times`);
    expect(mountsUnder(sandbox.dir).filter((mountPoint) => mountPoint === nine)).toHaveLength(1);
  });

  test('a directory mounted from another source is a Failure and stays mounted', async () => {
    const dir = sandbox.podVolumeDir('nfs', 'pv-other');
    expect((await mountCall(dir, NFS)).status).toBe('Success');
    const reply = await mountCall(dir, { server: '10.0.0.6', share: '/other' });
    expect(reply.status).toBe('Failure');
    expect(reply.message).toMatch(/already mounted from 10\.0\.0\.5:\/exports\/data/);
    expect(mountsUnder(sandbox.dir)).toContain(dir);
  });

  test('a server that does not answer in time is a Failure within the bound, leaving nothing mounted', async () => {
    const dir = sandbox.podVolumeDir('nfs', 'pv-slow');
    const started = Date.now();
    const reply = await sandbox.call('nfs', ['mount', dir, goJson(mountOptions(NFS))], {
      MOUNT_STANDIN_DELAY_MS: '5000',
      FLEXVOLUME_MOUNT_TIMEOUT_SECONDS: '1',
    });
    expect(reply.status).toBe('Failure');
    expect(reply.message).toMatch(/did not finish within 1 s/);
    expect(Date.now() - started).toBeLessThan(4500);
    expect(mountsUnder(sandbox.dir)).toEqual([]);
    expect(fs.existsSync(dir)).toBe(false);
  });

  test("a mount that times out is stopped with its helper, so it does not appear after the Failure and a retry mounts once", async () => {
    const dir = sandbox.podVolumeDir('nfs', 'pv-late');
    fs.mkdirSync(dir, { recursive: true, mode: 0o750 }); // the kubelet's prepareForMount
    const slow = { MOUNT_STANDIN_DELAY_MS: '2000', FLEXVOLUME_MOUNT_TIMEOUT_SECONDS: '1' };
    const reply = await sandbox.call('nfs', ['mount', dir, goJson(mountOptions(NFS))], slow);
    expect(reply.status).toBe('Failure');
    // Past the moment the helper (mount.nfs) would have mounted, had it outlived mount(8).
    await new Promise((resolve) => setTimeout(resolve, 2500));
    expect(mountsUnder(sandbox.dir)).toEqual([]);
    expect((await mountCall(dir, NFS)).status).toBe('Success');
    expect(mountsUnder(sandbox.dir).filter((mountPoint) => mountPoint === dir)).toHaveLength(1);
  });

  test('a mount error from mount.nfs reaches the reply, and the output stays one document', async () => {
    const dir = sandbox.podVolumeDir('nfs', 'pv-denied');
    const reply = await sandbox.call('nfs', ['mount', dir, goJson(mountOptions(NFS))], {
      MOUNT_STANDIN_FAIL: 'access denied by server while mounting 10.0.0.5:/exports/data',
    });
    expect(reply.status).toBe('Failure');
    expect(reply.message).toMatch(/access denied by server/);
  });

  test('expandfs answers Success, getvolumename and attach answer Not supported', async () => {
    const options = goJson({ 'kubernetes.io/fsType': '', 'kubernetes.io/pvOrVolumeName': 'pv', 'kubernetes.io/readwrite': 'rw', ...NFS });
    const dir = sandbox.podVolumeDir('nfs', 'pv');
    expect((await sandbox.call('nfs', ['expandfs', options, '', dir, '2147483648', '1073741824'])).status).toBe('Success');
    expect((await sandbox.call('nfs', ['getvolumename', options])).status).toBe('Not supported');
    expect((await sandbox.call('nfs', ['attach', options, 'node-1'])).status).toBe('Not supported');
    expect((await sandbox.call('nfs', ['waitfordetach', '/dev/sdc'])).status).toBe('Not supported');
  });

  test('one reply even with Node warnings and Azure logging switched on by the environment', async () => {
    const dir = sandbox.podVolumeDir('nfs', 'pv-env');
    const reply = await sandbox.call('nfs', ['mount', dir, goJson(mountOptions(NFS))], {
      NODE_OPTIONS: '--pending-deprecation --trace-warnings',
      AZURE_LOG_LEVEL: 'verbose',
      NODE_DEBUG: 'child_process',
    });
    expect(reply.status).toBe('Success');
  });

  describe('bad input gets a Failure and changes nothing', () => {
    const valid = mountOptions(NFS);
    const cases: Array<[string, (s: Sandbox) => string[]]> = [
      ['malformed JSON', (s) => ['mount', s.podVolumeDir('nfs', 'v'), '{"server":']],
      ['a JSON array', (s) => ['mount', s.podVolumeDir('nfs', 'v'), '[]']],
      ['JSON null', (s) => ['mount', s.podVolumeDir('nfs', 'v'), 'null']],
      ['a non-string option', (s) => ['mount', s.podVolumeDir('nfs', 'v'), '{"server":5,"share":"/x"}']],
      ['missing server', (s) => ['mount', s.podVolumeDir('nfs', 'v'), goJson({ ...valid, server: '' }).replace('"server":"",', '')]],
      ['empty server', (s) => ['mount', s.podVolumeDir('nfs', 'v'), goJson({ ...valid, server: '' })]],
      ['missing share', (s) => ['mount', s.podVolumeDir('nfs', 'v'), goJson({ server: '10.0.0.5' })]],
      ['option injected through the server', (s) => ['mount', s.podVolumeDir('nfs', 'v'), goJson({ ...valid, server: '10.0.0.5,nosuid' })]],
      ['option injected through the share', (s) => ['mount', s.podVolumeDir('nfs', 'v'), goJson({ ...valid, share: '/x,ro' })]],
      ['a mount option with a space', (s) => ['mount', s.podVolumeDir('nfs', 'v'), goJson({ ...valid, mountOptions: 'hard, soft x' })]],
      ['a mount option with quotes', (s) => ['mount', s.podVolumeDir('nfs', 'v'), goJson({ ...valid, mountOptions: 'sec="sys"' })]],
      ['share with ..', (s) => ['mount', s.podVolumeDir('nfs', 'v'), goJson({ ...valid, share: '/exports/../etc' })]],
      ['unknown option (typo)', (s) => ['mount', s.podVolumeDir('nfs', 'v'), goJson({ ...valid, sever: '10.0.0.5' })]],
      ['bad readwrite', (s) => ['mount', s.podVolumeDir('nfs', 'v'), goJson({ ...valid, 'kubernetes.io/readwrite': 'yes' })]],
      ['bad fsGroup', (s) => ['mount', s.podVolumeDir('nfs', 'v'), goJson({ ...valid, 'kubernetes.io/mounterArgs.FsGroup': '-1' })]],
      ['relative directory', () => ['mount', 'pods/x/volumes/azure~nfs/v', goJson(valid)]],
      ['directory outside the kubelet layout', (s) => ['mount', path.join(s.dir, 'etc'), goJson(valid)]],
      ['directory of another driver', (s) => ['mount', s.podVolumeDir('azurefile', 'v'), goJson(valid)]],
      ['directory with ..', (s) => ['mount', `${s.podVolumeDir('nfs', 'v')}/../../../../etc`, goJson(valid)]],
      ['too few arguments', (s) => ['mount', s.podVolumeDir('nfs', 'v')]],
      ['too many arguments', (s) => ['mount', s.podVolumeDir('nfs', 'v'), goJson(valid), 'extra']],
      ['unmount without a directory', () => ['unmount']],
      ['huge input', (s) => ['mount', s.podVolumeDir('nfs', 'v'), goJson({ ...valid, pad: 'x'.repeat(100 * 1024) })]],
      ['invalid base64 secret', (s) => ['mount', s.podVolumeDir('nfs', 'v'), goJson({ ...valid, 'kubernetes.io/secret/key': '%%%' })]],
    ];
    test.each(cases)('%s', async (_name, argsOf) => {
      const args = argsOf(sandbox);
      const before = fs.readdirSync(sandbox.dir).sort();
      const reply = await sandbox.call('nfs', args);
      expect(reply.status).toBe('Failure');
      expect(reply.message).toMatch(/\S{8}/);
      expect(reply.exitCode).toBe(1);
      expect(sandbox.mountRecords()).toEqual([]);
      expect(mountsUnder(sandbox.dir)).toEqual([]);
      expect(fs.existsSync(sandbox.kubeletRoot)).toBe(false);
      expect(fs.readdirSync(sandbox.dir).sort()).toEqual(before.includes('driver.log') ? before : [...before, 'driver.log'].sort());
    });
  });

  test('export paths are compared case-sensitively, server names not', async () => {
    const dir = sandbox.podVolumeDir('nfs', 'pv-case');
    expect((await mountCall(dir, NFS)).status).toBe('Success');
    const otherExport = await mountCall(dir, { server: NFS.server, share: '/Exports/Data' });
    expect(otherExport.status).toBe('Failure');
    expect(otherExport.message).toMatch(/already mounted from 10\.0\.0\.5:\/exports\/data, not 10\.0\.0\.5:\/Exports\/Data/);
    const named = sandbox.podVolumeDir('nfs', 'pv-named');
    expect((await mountCall(named, { server: 'nfs.example.com', share: NFS.share })).status).toBe('Success');
    expect(await mountCall(named, { server: 'NFS.Example.COM', share: `${NFS.share}/` })).toMatchObject({ status: 'Success', message: 'already mounted' });
    expect(sandbox.mountRecords()).toHaveLength(2);
  });

  test('a pod volume dir argument that is not valid UTF-8 is refused, and nothing is created', async () => {
    // Node cannot put such bytes in argv; printf can. \\377 is the byte 0xff.
    const dir = sandbox.podVolumeDir('nfs', 'pv-bytes', 'u\\377x');
    const reply = await callDriver('/bin/sh', ['-c', 'exec "$0" mount "$(printf "$1")" "$2"', sandbox.executable('nfs'), dir, goJson(mountOptions(NFS))], {
      env: sandbox.env,
    });
    expect(reply.status).toBe('Failure');
    expect(reply.message).toMatch(/pod volume directory .* is not valid UTF-8/);
    expect(sandbox.mountRecords()).toEqual([]);
    expect(fs.existsSync(sandbox.kubeletRoot)).toBe(false);
  });

  describe('symlinks in the kubelet tree', () => {
    const outsideDir = () => {
      const outside = path.join(sandbox.dir, 'outside');
      fs.mkdirSync(outside, { recursive: true });
      fs.writeFileSync(path.join(outside, 'host-file'), 'must stay visible');
      return outside;
    };
    const expectUntouched = (outside: string) => {
      expect(sandbox.mountRecords()).toEqual([]);
      expect(mountsUnder(sandbox.dir)).toEqual([]);
      expect(fs.readdirSync(outside)).toEqual(['host-file']);
    };
    const symlink = (target: string, link: string) => {
      fs.mkdirSync(path.dirname(link), { recursive: true });
      fs.symlinkSync(target, link);
    };

    test('a pod volume dir that is a symlink out of the tree is a Failure: nothing mounted, the target untouched', async () => {
      const outside = outsideDir();
      const dir = sandbox.podVolumeDir('nfs', 'pv-link');
      symlink(outside, dir);
      const reply = await mountCall(dir, NFS);
      expect(reply.status).toBe('Failure');
      expect(reply.message).toContain(`leads through ${dir}, a symlink to ${outside}`);
      expectUntouched(outside);
      const unmount = await sandbox.call('nfs', ['unmount', dir]);
      expect(unmount.status).toBe('Failure');
      expect(fs.lstatSync(dir).isSymbolicLink()).toBe(true);
      expectUntouched(outside);
    });

    test('a missing pod volume dir whose parent is a symlink out of the tree is never created there', async () => {
      const outside = outsideDir();
      const dir = sandbox.podVolumeDir('nfs', 'pv-link');
      symlink(outside, path.dirname(dir));
      const reply = await mountCall(dir, NFS);
      expect(reply.status).toBe('Failure');
      expect(reply.message).toContain(`leads through ${path.dirname(dir)}, a symlink to ${outside}`);
      expectUntouched(outside);
    });

    // Decided: refused too. The kubelet never makes these symlinks, and following one mounts a
    // volume into another pod's directory.
    test("a pod volume dir that is a symlink to another pod's volume dir inside the tree is a Failure", async () => {
      const other = sandbox.podVolumeDir('nfs', 'pv-link', 'another-pod');
      fs.mkdirSync(other, { recursive: true });
      const dir = sandbox.podVolumeDir('nfs', 'pv-link');
      symlink(other, dir);
      const reply = await mountCall(dir, NFS);
      expect(reply.status).toBe('Failure');
      expect(reply.message).toMatch(/the kubelet never creates symlinks below its root dir/);
      expect(sandbox.mountRecords()).toEqual([]);
      expect(fs.readdirSync(other)).toEqual([]);
    });

    test('a symlinked kubelet root: mount, mount again (one mount), unmount clean', async () => {
      const real = path.join(sandbox.dir, 'mnt/kubelet');
      fs.mkdirSync(real, { recursive: true });
      symlink(real, sandbox.kubeletRoot);
      const dir = sandbox.podVolumeDir('nfs', 'pv-moved');
      const realDir = dir.replace(sandbox.kubeletRoot, real);
      fs.mkdirSync(dir, { recursive: true, mode: 0o750 }); // the kubelet's prepareForMount, through the symlink

      expect((await mountCall(dir, NFS)).status).toBe('Success');
      expect(await mountCall(dir, NFS)).toMatchObject({ status: 'Success', message: 'already mounted' });
      expect(mountsUnder(sandbox.dir)).toEqual([realDir]);
      expect(sandbox.mountRecords()).toHaveLength(1);
      expect(sandbox.mountRecords()[0]?.target).toBe(realDir);

      expect((await sandbox.call('nfs', ['unmount', dir])).status).toBe('Success');
      expect(mountsUnder(sandbox.dir)).toEqual([]);
      expect(fs.existsSync(realDir)).toBe(false);
      expect((await sandbox.call('nfs', ['unmount', dir])).status).toBe('Success');
    });
  });

  test('unknown driver name and --driver override', async () => {
    const other = await sandbox.call('nfs', ['--driver', 'lvm', 'init']);
    expect(other.status).toBe('Failure');
    expect(other.message).toMatch(/unknown driver 'lvm'/);
    const overridden = await sandbox.call('azuredisk', ['--driver', 'nfs', 'init']);
    expect(overridden.capabilities?.attach).toBe(false);
  });
});
