// azuredisk in node mode (no controller-manager involvement): the kubelet calls only mount and
// unmount, and the node attaches the disk to its own VM. Against the ARM simulator, with loop
// devices playing the disks and a simulated hypervisor hot-plugging them into the fixture sysfs.
import { spawn, spawnSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { startArmSimulator, type ArmSimulator } from '../arm-simulator/index.ts';
import { simulateAzureHost, type AzureHost } from '../helpers/azure-host.ts';
import { goJson, mountOptions, type CallResult } from '../helpers/kubelet.ts';
import { createLoopPool, MiB } from '../helpers/loop-devices.ts';
import { BUILDS, createSandbox, mountsUnder, useArmSimulator, type Sandbox } from '../helpers/sandbox.ts';
import { createScsiFixture, type ScsiFixture } from '../helpers/scsi-fixture.ts';

const pool = createLoopPool();
afterAll(() => pool.detachAll());

const POD_A = '11111111-aaaa-4a4a-9c9c-000000000001';
const POD_B = '22222222-bbbb-4a4a-9c9c-000000000002';

describe.each(BUILDS)('azuredisk node mode ($name)', ({ file }) => {
  let sim: ArmSimulator;
  let fixture: ScsiFixture;
  let sandbox: Sandbox;
  let host: AzureHost;
  let devices: Map<string, string>;

  beforeEach(async () => {
    sim = await startArmSimulator({ updateLatencyMs: 20 });
    sim.addVM({ name: 'node-1' });
    sim.addVM({ name: 'node-2' });
    devices = new Map<string, string>();
    for (const name of ['disk-a', 'disk-b']) {
      sim.addDisk({ name, sizeGB: 1 });
      devices.set(name, pool.create(name, 64 * MiB).path);
    }
    fixture = createScsiFixture(fs.mkdtempSync(path.join(os.tmpdir(), 'azuredisk-node-mode-')));
    host = simulateAzureHost({ sim, fixture, vmName: 'node-1', devices });
    sandbox = createSandbox(file, { ...fixture.env, FLEXVOLUME_AZUREDISK_MODE: 'node', FLEXVOLUME_NODE_NAME: 'node-1' });
    useArmSimulator(sandbox, sim);
  });

  afterEach(async () => {
    host.stop();
    await sandbox.cleanup();
    await sim.close();
    fixture.cleanup();
  });

  const diskUri = (name: string) => `/subscriptions/${sim.subscriptionId}/resourceGroups/${sim.resourceGroup}/providers/Microsoft.Compute/disks/${name}`;
  const podDir = (pod: string, pv = 'pv-a') => sandbox.podVolumeDir('azuredisk', pv, pod);
  const globalPath = (pv = 'pv-a') => sandbox.deviceMountPath('azuredisk', pv);
  const dataDisks = (vm = 'node-1') => sim.getVM(vm)?.properties.storageProfile.dataDisks.map((disk) => disk.name) ?? [];

  type MountCall = { pv?: string; disk?: string; readOnly?: boolean; env?: NodeJS.ProcessEnv; user?: Record<string, string> };
  function mountArgs(pod: string, options: MountCall): string[] {
    const pv = options.pv ?? 'pv-a';
    const disk = options.disk ?? 'disk-a';
    const dir = podDir(pod, pv);
    fs.mkdirSync(dir, { recursive: true, mode: 0o750 }); // the kubelet's prepareForMount
    const user = { diskName: disk, diskURI: diskUri(disk), ...options.user };
    const json = goJson(mountOptions(user, { volumeName: pv, fsGroup: 2000, readOnly: options.readOnly ?? false }));
    return ['mount', dir, json];
  }
  const mount = (pod: string, options: MountCall = {}): Promise<CallResult> => sandbox.call('azuredisk', mountArgs(pod, options), options.env);
  const unmount = (pod: string, pv = 'pv-a') => sandbox.call('azuredisk', ['unmount', podDir(pod, pv)]);

  test('init reports attach false, so the kubelet needs no controller-manager driver', async () => {
    const reply = await sandbox.call('azuredisk', ['init']);
    expect(reply.capabilities).toEqual({ attach: false, selinuxRelabel: true, supportsMetrics: true, fsGroup: true, requiresFSResize: true });
  });

  test('two pods share the volume; the disk is detached only after the second leaves', async () => {
    expect(await mount(POD_A)).toMatchObject({ status: 'Success', exitCode: 0 });
    expect(dataDisks()).toEqual(['disk-a']);
    expect(mountsUnder(sandbox.dir)).toEqual(expect.arrayContaining([globalPath(), podDir(POD_A)]));
    fs.writeFileSync(path.join(podDir(POD_A), 'data.txt'), 'written by pod A');
    const putsAfterFirst = sim.count({ method: 'PUT', kind: 'arm' });

    expect(await mount(POD_B)).toMatchObject({ status: 'Success' });
    expect(sim.count({ method: 'PUT', kind: 'arm' })).toBe(putsAfterFirst);
    expect(fs.readFileSync(path.join(podDir(POD_B), 'data.txt'), 'utf8')).toBe('written by pod A');
    expect(await mount(POD_B)).toMatchObject({ status: 'Success', message: 'already mounted' });

    expect(await unmount(POD_A)).toMatchObject({ status: 'Success' });
    expect(fs.existsSync(podDir(POD_A))).toBe(false);
    expect(dataDisks()).toEqual(['disk-a']);
    expect(mountsUnder(sandbox.dir)).toContain(globalPath());
    expect(fs.readFileSync(path.join(podDir(POD_B), 'data.txt'), 'utf8')).toBe('written by pod A');

    expect(await unmount(POD_B)).toMatchObject({ status: 'Success' });
    expect(mountsUnder(sandbox.dir)).toEqual([]);
    expect(dataDisks()).toEqual([]);
    expect(sim.getDisk('disk-a')?.managedBy).toBeUndefined();
    expect(await unmount(POD_B)).toMatchObject({ status: 'Success' });

    // The data survived the detach: a new pod finds it on the disk.
    expect(await mount(POD_A)).toMatchObject({ status: 'Success' });
    expect(fs.readFileSync(path.join(podDir(POD_A), 'data.txt'), 'utf8')).toBe('written by pod A');
    expect(await unmount(POD_A)).toMatchObject({ status: 'Success' });
  });

  test('a read-only pod gets a read-only bind mount', async () => {
    expect(await mount(POD_A)).toMatchObject({ status: 'Success' });
    expect(await mount(POD_B, { readOnly: true })).toMatchObject({ status: 'Success' });
    expect(() => fs.writeFileSync(path.join(podDir(POD_B), 'x'), 'x')).toThrow(/EROFS|read-only/);
    fs.writeFileSync(path.join(podDir(POD_A), 'x'), 'x');
  });

  test('mounts and unmounts racing on one volume never detach a disk in use nor leak one', async () => {
    expect(await mount(POD_A)).toMatchObject({ status: 'Success' });
    for (let round = 0; round < 3; round++) {
      const [left, joined] = await Promise.all([unmount(POD_A), mount(POD_B)]);
      expect(left.status).toBe('Success');
      expect(joined.status).toBe('Success');
      expect(dataDisks()).toEqual(['disk-a']);
      fs.writeFileSync(path.join(podDir(POD_B), `round-${round}`), 'still writable');
      const [back, gone] = await Promise.all([mount(POD_A), unmount(POD_B)]);
      expect(back.status).toBe('Success');
      expect(gone.status).toBe('Success');
      expect(dataDisks()).toEqual(['disk-a']);
      expect(fs.readdirSync(podDir(POD_A))).toContain(`round-${round}`);
    }
    expect(await unmount(POD_A)).toMatchObject({ status: 'Success' });
    expect(dataDisks()).toEqual([]);
    expect(mountsUnder(sandbox.dir)).toEqual([]);
  });

  test('a kubelet restart that lost the state directory still ends in a detach', async () => {
    expect(await mount(POD_A)).toMatchObject({ status: 'Success' });
    expect(await mount(POD_B, { pv: 'pv-b', disk: 'disk-b' })).toMatchObject({ status: 'Success' });
    fs.rmSync(sandbox.stateDir, { recursive: true, force: true });
    expect(await unmount(POD_A)).toMatchObject({ status: 'Success' });
    expect(dataDisks()).toEqual(['disk-b']);
    expect(await unmount(POD_B, 'pv-b')).toMatchObject({ status: 'Success' });
    expect(dataDisks()).toEqual([]);
  });

  test('after a node reboot (mounts and state gone, the disk still attached) the pod mounts again without a new attach', async () => {
    expect(await mount(POD_A)).toMatchObject({ status: 'Success' });
    fs.writeFileSync(path.join(podDir(POD_A), 'before-reboot.txt'), 'kept');
    for (const mountPoint of mountsUnder(sandbox.dir)) expect(spawnSync('umount', [mountPoint]).status).toBe(0);
    fs.rmSync(sandbox.stateDir, { recursive: true, force: true });
    const puts = sim.count({ method: 'PUT', kind: 'arm' });

    expect(await mount(POD_A)).toMatchObject({ status: 'Success' });
    expect(sim.count({ method: 'PUT', kind: 'arm' })).toBe(puts);
    expect(fs.readFileSync(path.join(podDir(POD_A), 'before-reboot.txt'), 'utf8')).toBe('kept');
    expect(await unmount(POD_A)).toMatchObject({ status: 'Success' });
    expect(dataDisks()).toEqual([]);
  });

  describe('a disk this node attached is never left stranded', () => {
    /** A disk in Azure whose device never reaches this node (the simulated hypervisor has no loop device for it). */
    const addInvisibleDisk = (name: string) => sim.addDisk({ name, sizeGB: 1 });

    test('when the device never appears, the failed mount detaches the disk again', async () => {
      addInvisibleDisk('disk-c');
      const reply = await mount(POD_A, { pv: 'pv-c', disk: 'disk-c', env: { FLEXVOLUME_WAITFORATTACH_TIMEOUT_SECONDS: '1' } });
      expect(reply.status).toBe('Failure');
      expect(reply.message).toMatch(/did not appear on this node within 1 s.*; the disk was detached from this node again/);
      expect(dataDisks()).toEqual([]);
      expect(sim.getDisk('disk-c')?.managedBy).toBeUndefined();
      expect(mountsUnder(sandbox.dir)).toEqual([]);
      // Another node can have it now.
      sim.attachDirectly('node-2', 'disk-c', 0);
    });

    test('when the disk holds data mountdevice will not format, the failed mount detaches it again, data untouched', async () => {
      const device = devices.get('disk-b') ?? '';
      const data = crypto.randomBytes(1024 * 1024);
      const fd = fs.openSync(device, 'r+');
      fs.writeSync(fd, data, 0, data.length, 0);
      fs.closeSync(fd);
      const reply = await mount(POD_A, { pv: 'pv-b', disk: 'disk-b' });
      expect(reply.status).toBe('Failure');
      expect(reply.message).toMatch(/is not blank: .*; the disk was detached from this node again/);
      expect(dataDisks()).toEqual([]);
      expect(mountsUnder(sandbox.dir)).toEqual([]);
      const head = Buffer.alloc(data.length);
      const check = fs.openSync(device, 'r');
      fs.readSync(check, head, 0, head.length, 0);
      fs.closeSync(check);
      expect(head.equals(data)).toBe(true);
      expect(sandbox.readLog()).not.toMatch(/run: mkfs/);
    });

    test('when the mount itself fails, the disk is detached again', async () => {
      const reply = await mount(POD_A, { pv: 'pv-b', disk: 'disk-b', user: { mountOptions: 'no-such-option' } });
      expect(reply.status).toBe('Failure');
      expect(reply.message).toMatch(/mount of \S+ failed: .*; the disk was detached from this node again/);
      expect(dataDisks()).toEqual([]);
      expect(mountsUnder(sandbox.dir)).toEqual([]);
    });

    test('a disk a killed call left attached is swept by a later call after the grace period, never while staged or within it', async () => {
      const grace = { FLEXVOLUME_STRANDED_DISK_GRACE_SECONDS: '5' };
      expect(await mount(POD_A, { env: grace })).toMatchObject({ status: 'Success' });
      addInvisibleDisk('disk-c');

      // A mount that attaches disk-c and is killed while it waits for the device.
      const crashed = spawn(sandbox.executable('azuredisk'), mountArgs(POD_A, { pv: 'pv-c', disk: 'disk-c' }), { env: { ...sandbox.env, ...grace }, stdio: 'ignore' });
      const exited = new Promise((resolve) => crashed.on('exit', resolve));
      const crashedAt = Date.now();
      while (!dataDisks().includes('disk-c')) await sleep(25);
      crashed.kill('SIGKILL');
      await exited;
      expect(dataDisks()).toEqual(['disk-a', 'disk-c']);

      // Within the grace period a later call leaves it alone.
      expect(await mount(POD_B, { env: grace })).toMatchObject({ status: 'Success' });
      expect(Date.now() - crashedAt).toBeLessThan(5000);
      expect(dataDisks()).toEqual(['disk-a', 'disk-c']);

      await sleep(Math.max(0, crashedAt + 5500 - Date.now()));
      // A call on another volume sweeps: disk-c goes, disk-a (staged, its record as old) stays.
      expect(await mount(POD_A, { pv: 'pv-b', disk: 'disk-b', env: grace })).toMatchObject({ status: 'Success' });
      expect(dataDisks().sort()).toEqual(['disk-a', 'disk-b']);
      expect(sim.getDisk('disk-c')?.managedBy).toBeUndefined();
      expect(sandbox.readLog()).toMatch(/sweep: pv-a: in use/);
      expect(sandbox.readLog()).toMatch(/sweep: pv-c: detached/);
      fs.writeFileSync(path.join(podDir(POD_B), 'still.txt'), 'writable');

      for (const [pod, pv] of [[POD_A, 'pv-a'], [POD_B, 'pv-a'], [POD_A, 'pv-b']] as const) {
        expect(await unmount(pod, pv)).toMatchObject({ status: 'Success' });
      }
      expect(dataDisks()).toEqual([]);
    });
  });

  test('a disk attached to another VM is never taken from it', async () => {
    sim.attachDirectly('node-2', 'disk-a', 0);
    const reply = await mount(POD_A);
    expect(reply.status).toBe('Failure');
    expect(reply.message).toMatch(/attached to VM node-2/);
    expect(dataDisks('node-2')).toEqual(['disk-a']);
    expect(dataDisks()).toEqual([]);
    expect(mountsUnder(sandbox.dir)).toEqual([]);
  });
});
