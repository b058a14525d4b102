// azuredisk's global mount path under symlinks, through the built executable with a real loop
// device: the kubelet passes the device itself, so no sysfs fixture is needed.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { baseOptions, goJson } from '../helpers/kubelet.ts';
import { createLoopPool, MiB, probe, sh, type LoopDevice } from '../helpers/loop-devices.ts';
import { BUILDS, createSandbox, mountsUnder, type Sandbox } from '../helpers/sandbox.ts';

const JSON_OPTIONS = goJson({
  ...baseOptions({ fsType: 'ext4', volumeName: 'pv-data' }),
  diskName: 'pv-data',
  diskURI: '/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/Microsoft.Compute/disks/pv-data',
});

const pool = createLoopPool();
afterAll(() => pool.detachAll());

describe.each(BUILDS)('azuredisk global mount path and symlinks ($name)', ({ file }) => {
  let sandbox: Sandbox;
  let disk: LoopDevice;
  let globalPath: string;
  beforeEach(() => {
    sandbox = createSandbox(file);
    disk = pool.create('paths', 32 * MiB);
    globalPath = sandbox.deviceMountPath('azuredisk', 'pv-data');
  });
  afterEach(async () => {
    await sandbox.cleanup();
    pool.detachAll();
  });
  const call = (args: string[]) => sandbox.call('azuredisk', args);

  test('a global mount path that is a symlink out of the tree is a Failure: nothing formatted or mounted, the target untouched', async () => {
    const outside = path.join(sandbox.dir, 'outside');
    fs.mkdirSync(outside);
    fs.writeFileSync(path.join(outside, 'host-file'), 'must stay visible');
    fs.mkdirSync(path.dirname(globalPath), { recursive: true });
    fs.symlinkSync(outside, globalPath);

    const reply = await call(['mountdevice', globalPath, disk.path, JSON_OPTIONS]);
    expect(reply.status).toBe('Failure');
    expect(reply.message).toContain(`leads through ${globalPath}, a symlink to ${outside}`);
    expect(probe(disk.path).TYPE).toBeUndefined();
    expect(mountsUnder(sandbox.dir)).toEqual([]);
    expect(fs.readdirSync(outside)).toEqual(['host-file']);
    expect((await call(['unmountdevice', globalPath])).status).toBe('Failure');
    expect(fs.lstatSync(globalPath).isSymbolicLink()).toBe(true);
  });

  test('a symlinked kubelet root: mountdevice, mountdevice again (one mount), unmountdevice clean', async () => {
    const real = path.join(sandbox.dir, 'mnt/kubelet');
    fs.mkdirSync(real, { recursive: true });
    fs.mkdirSync(path.dirname(sandbox.kubeletRoot), { recursive: true });
    fs.symlinkSync(real, sandbox.kubeletRoot);
    const realGlobal = globalPath.replace(sandbox.kubeletRoot, real);
    fs.mkdirSync(globalPath, { recursive: true, mode: 0o750 }); // the kubelet's prepareForMount, through the symlink

    expect((await call(['mountdevice', globalPath, disk.path, JSON_OPTIONS])).status).toBe('Success');
    expect(await call(['mountdevice', globalPath, disk.path, JSON_OPTIONS])).toMatchObject({ status: 'Success', message: 'already mounted' });
    expect(mountsUnder(sandbox.dir)).toEqual([realGlobal]);

    expect((await call(['unmountdevice', globalPath])).status).toBe('Success');
    expect(mountsUnder(sandbox.dir)).toEqual([]);
    expect(fs.existsSync(realGlobal)).toBe(false);
    expect(sandbox.readLog().match(/run: mkfs\.ext4 /g)).toHaveLength(1);
  });

  test('a symlinked kubelet root: expandfs without a device finds the disk through the mount at the pod dir', async () => {
    const real = path.join(sandbox.dir, 'mnt/kubelet');
    fs.mkdirSync(real, { recursive: true });
    fs.mkdirSync(path.dirname(sandbox.kubeletRoot), { recursive: true });
    fs.symlinkSync(real, sandbox.kubeletRoot);
    fs.mkdirSync(globalPath, { recursive: true, mode: 0o750 });
    expect((await call(['mountdevice', globalPath, disk.path, JSON_OPTIONS])).status).toBe('Success');
    // The kubelet bind-mounts the global path into the pod, and passes the pod dir through its own (symlinked) root.
    const podDir = sandbox.podVolumeDir('azuredisk', 'pv-data');
    fs.mkdirSync(podDir, { recursive: true });
    sh('mount', ['--bind', globalPath, podDir]);

    const reply = await call(['expandfs', JSON_OPTIONS, '', podDir, String(32 * MiB), String(32 * MiB)]);
    expect(reply).toMatchObject({ status: 'Success' });
    expect(sandbox.readLog()).toMatch(/nothing to grow/);
  });
});
