// Calls that are killed, stopped or surrounded by misbehaving children, through the built executable
// as the kubelet runs it: a driver SIGKILLed during a slow mkfs (the lock covers mkfs), SIGTERM
// (one Failure saying where the call was), a mount helper whose background process holds the
// output pipe, NODE_OPTIONS in the environment, an old Node running the bundle, and the failure
// texts of real mount helpers reaching the reply with advice.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { baseOptions, decodeDriverStatus, goJson, mountOptions, type DriverStatus } from '../helpers/kubelet.ts';
import { createLoopPool, MiB, probe, type LoopDevice } from '../helpers/loop-devices.ts';
import { BUILDS, BUNDLE, createSandbox, mountsUnder, SEA, type Sandbox } from '../helpers/sandbox.ts';
import { CONTROLLER, createScsiFixture, type ScsiFixture } from '../helpers/scsi-fixture.ts';
import { findMount } from '../../src/system/mount-table.ts';

const DISK = {
  diskName: 'pv-data',
  diskURI: '/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/Microsoft.Compute/disks/pv-data',
};
const NFS = { server: '10.0.0.5', share: '/exports/data' };
const SYSTEM_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

const volumeJson = (): string => goJson({ ...baseOptions({ volumeName: 'pv-data' }), ...DISK });

interface Started {
  child: ChildProcess;
  /** The reply and exit code once the driver has ended, whoever ended it. */
  ended: Promise<{ output: string; exitCode: number | null }>;
}

/** Starts a driver call the way the kubelet does (stdout and stderr in one pipe), so it can be killed. */
function startCall(sandbox: Sandbox, driver: string, args: string[], env: NodeJS.ProcessEnv): Started {
  const child = spawn('/bin/sh', ['-c', 'exec "$@" 2>&1', 'sh', sandbox.executable(driver), ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...sandbox.env, ...env },
  });
  const chunks: Buffer[] = [];
  child.stdout?.on('data', (chunk: Buffer) => chunks.push(chunk));
  const ended = new Promise<{ output: string; exitCode: number | null }>((resolve) =>
    child.on('close', (exitCode) => resolve({ output: Buffer.concat(chunks).toString('utf8'), exitCode })),
  );
  return { child, ended };
}

async function waitFor(condition: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

/** An mkfs.ext4 first on the PATH that records each start and end, sleeping before the real one runs. */
function installSlowMkfs(dir: string, seconds: number): { path: string; invocations(): string[] } {
  fs.mkdirSync(dir, { recursive: true });
  const real = spawnSync('sh', ['-c', 'command -v mkfs.ext4'], { env: { PATH: SYSTEM_PATH }, encoding: 'utf8' }).stdout.trim();
  const record = path.join(dir, 'invocations');
  fs.writeFileSync(
    path.join(dir, 'mkfs.ext4'),
    `#!/bin/sh\necho "start $$" >> ${record}\nsleep ${seconds}\n${real} "$@"\nstatus=$?\necho "end $$ $status" >> ${record}\nexit $status\n`,
    { mode: 0o755 },
  );
  return {
    path: dir,
    invocations: () => (fs.existsSync(record) ? fs.readFileSync(record, 'utf8').trim().split('\n') : []),
  };
}

const pool = createLoopPool();
afterAll(() => pool.detachAll());

describe.each(BUILDS)('killed and stopped calls ($name)', ({ file }) => {
  let fixture: ScsiFixture;
  let sandbox: Sandbox;
  let leftovers: number[] = [];

  beforeEach(() => {
    fixture = createScsiFixture(fs.mkdtempSync(path.join(os.tmpdir(), 'killed-fixture-')));
    sandbox = createSandbox(file, fixture.env);
  });
  afterEach(async () => {
    for (const pid of leftovers.splice(0)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
    await sandbox.cleanup();
    pool.detachAll();
    fixture.cleanup();
  });

  /** A blank data disk at LUN 0, its stable path, and the global mount path made as the kubelet makes it. */
  function blankDisk(): { loop: LoopDevice; device: string; globalPath: string } {
    const loop = pool.create('lun0', 64 * MiB);
    fixture.addDisk({ address: '1:0:0:0', controller: CONTROLLER.scsi1, device: loop.path, links: ['disk/azure/scsi1/lun0'] });
    const globalPath = sandbox.deviceMountPath('azuredisk', 'pv-data');
    fs.mkdirSync(globalPath, { recursive: true, mode: 0o750 });
    return { loop, device: path.join(fixture.devRoot, 'disk/azure/scsi1/lun0'), globalPath };
  }

  test('a retry after the driver was SIGKILLed during mkfs starts no second mkfs while the first lives, then mounts what it made', async () => {
    const { loop, device, globalPath } = blankDisk();
    const mkfs = installSlowMkfs(path.join(sandbox.dir, 'slow-mkfs'), 2);
    const env = { PATH: `${mkfs.path}:${sandbox.env.PATH}` };
    const first = startCall(sandbox, 'azuredisk', ['mountdevice', globalPath, device, volumeJson()], env);
    await waitFor(() => mkfs.invocations().length === 1, 'the first mkfs to start');
    first.child.kill('SIGKILL');
    await first.ended;

    const retry = await sandbox.call('azuredisk', ['mountdevice', globalPath, device, volumeJson()], env);
    const [started, ended, ...more] = mkfs.invocations();
    expect(started).toMatch(/^start \d+$/);
    expect(ended).toBe(`end ${started?.split(' ')[1]} 0`);
    expect(more).toEqual([]);
    expect(retry.status).toBe('Success');
    expect(probe(loop.path).TYPE).toBe('ext4');
    expect(findMount(globalPath)).toBeDefined();
  });

  test('SIGTERM during mkfs: one Failure and one log line saying where the call was; mkfs finishes and a retry mounts its filesystem', async () => {
    const { loop, device, globalPath } = blankDisk();
    const mkfs = installSlowMkfs(path.join(sandbox.dir, 'slow-mkfs'), 2);
    const env = { PATH: `${mkfs.path}:${sandbox.env.PATH}` };
    const call = startCall(sandbox, 'azuredisk', ['mountdevice', globalPath, device, volumeJson()], env);
    await waitFor(() => mkfs.invocations().length === 1, 'mkfs to start');
    call.child.kill('SIGTERM');
    const { output, exitCode } = await call.ended;
    const reply: DriverStatus = decodeDriverStatus(output.trim(), exitCode);
    expect(exitCode).toBe(1);
    expect(reply.status).toBe('Failure');
    expect(reply.message).toMatch(/^azuredisk mountdevice was stopped by SIGTERM .*after: .*took lock azuredisk-device-.*started mkfs\.ext4 \(pid \d+\)/);
    const stopped = sandbox.readLog().split('\n').filter((line) => line.includes('stopped by SIGTERM during azuredisk mountdevice'));
    expect(stopped).toHaveLength(1);
    expect(stopped[0]).toMatch(/children: mkfs\.ext4 -F -m0 \S+ \(pid \d+\) left to finish/);

    const retry = await sandbox.call('azuredisk', ['mountdevice', globalPath, device, volumeJson()], env);
    expect(retry.status).toBe('Success');
    expect(mkfs.invocations().filter((line) => line.startsWith('start'))).toHaveLength(1);
    expect(probe(loop.path).TYPE).toBe('ext4');
  });

  test('SIGTERM during an NFS mount: the mount helper is terminated, the reply is one Failure, and a retry mounts', async () => {
    const dir = sandbox.podVolumeDir('nfs', 'pv-term');
    const call = startCall(sandbox, 'nfs', ['mount', dir, goJson(mountOptions(NFS))], { MOUNT_STANDIN_DELAY_MS: '20000' });
    await waitFor(() => sandbox.mountRecords().length === 1, 'the mount helper to start');
    call.child.kill('SIGTERM');
    const { output, exitCode } = await call.ended;
    const reply = decodeDriverStatus(output.trim(), exitCode);
    expect(reply.status).toBe('Failure');
    expect(reply.message).toMatch(/^nfs mount was stopped by SIGTERM .*started mount \(pid \d+\)/);
    expect(sandbox.readLog()).toMatch(/stopped by SIGTERM during nfs mount; .*children: mount -t nfs \S+ \S+ \(pid \d+\) terminated/);
    expect(mountsUnder(sandbox.dir)).toEqual([]);
    expect((await sandbox.call('nfs', ['mount', dir, goJson(mountOptions(NFS))])).status).toBe('Success');
    expect(mountsUnder(sandbox.dir)).toEqual([dir]);
  });

  test('a mount helper that leaves a process holding its output does not hold up the call: Success at once, and it stays mounted', async () => {
    const dir = sandbox.podVolumeDir('nfs', 'pv-daemon');
    // The sleeper outlives the whole mount timeout: waiting for it would time the mount out and undo it.
    const reply = await sandbox.call('nfs', ['mount', dir, goJson(mountOptions(NFS))], {
      MOUNT_STANDIN_BACKGROUND_MS: '15000',
      FLEXVOLUME_MOUNT_TIMEOUT_SECONDS: '3',
    });
    const sleeper = Number(fs.readFileSync(path.join(sandbox.dir, 'standin/background.pid'), 'utf8'));
    leftovers.push(sleeper);
    expect(reply.status).toBe('Success');
    expect(fs.existsSync(`/proc/${sleeper}`)).toBe(true);
    expect(mountsUnder(sandbox.dir)).toEqual([dir]);
  });

  test('a state dir on a full filesystem is a Failure naming it, and leaves no empty lock behind', async () => {
    const full = path.join(sandbox.dir, 'full');
    fs.mkdirSync(full);
    expect(spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', full]).status).toBe(0);
    spawnSync('dd', ['if=/dev/zero', `of=${path.join(full, 'filler')}`, 'bs=4k', 'count=64']);
    const stateDir = path.join(full, 'state');
    fs.mkdirSync(path.join(stateDir, 'locks'), { recursive: true });
    const dir = sandbox.podVolumeDir('nfs', 'pv-full');
    const reply = await sandbox.call('nfs', ['mount', dir, goJson(mountOptions(NFS))], { FLEXVOLUME_STATE_DIR: stateDir });
    expect(reply.status).toBe('Failure');
    expect(reply.message).toContain(`state dir ${path.join(stateDir, 'locks')}: it is full`);
    expect(fs.readdirSync(path.join(stateDir, 'locks'))).toEqual([]);
  });

  describe('failure reasons of real mount helpers reach the reply, with what to do, on one line', () => {
    const dmesgHint = '       dmesg(1) may have more information after failed mount system call.\n';
    const cifsHint = 'Refer to the mount.cifs(8) manual page (e.g. man mount.cifs) and kernel log messages (dmesg)\n';
    const cases: Array<{ driver: 'nfs' | 'azurefile'; output: string; reason: string; advice: RegExp }> = [
      {
        driver: 'nfs',
        output: `mount: /pods/x: unknown filesystem type 'nfs'.\n${dmesgHint}`,
        reason: "unknown filesystem type 'nfs'",
        advice: /install the NFS client on the node \(nfs-common/,
      },
      {
        driver: 'nfs',
        output: 'mount.nfs: access denied by server while mounting 10.0.0.5:/exports/data\n',
        reason: 'mount.nfs: access denied by server while mounting 10.0.0.5:/exports/data',
        advice: /allowed clients/,
      },
      { driver: 'nfs', output: 'mount.nfs: No route to host\n', reason: 'mount.nfs: No route to host', advice: /no route to the server/ },
      { driver: 'nfs', output: 'mount.nfs: Connection refused\n', reason: 'mount.nfs: Connection refused', advice: /TCP 2049/ },
      {
        driver: 'azurefile',
        output: `mount error(13): Permission denied\n${cifsHint}`,
        reason: 'mount error(13): Permission denied',
        advice: /rotated, or it belongs to another account/,
      },
      {
        driver: 'azurefile',
        output: `mount error(115): Operation now in progress\n${cifsHint}`,
        reason: 'mount error(115): Operation now in progress',
        advice: /port 445/,
      },
      {
        driver: 'azurefile',
        output: `mount: /pods/x: unknown filesystem type 'cifs'.\n${dmesgHint}`,
        reason: "unknown filesystem type 'cifs'",
        advice: /cifs-utils/,
      },
    ];
    const secrets = { azurestorageaccountname: 'fvtestacct', azurestorageaccountkey: Buffer.alloc(64, 7).toString('base64') };

    test.each(cases)('$driver: $reason', async ({ driver, output, reason, advice }) => {
      const dir = sandbox.podVolumeDir(driver, 'pv-fail');
      const options = driver === 'nfs' ? mountOptions(NFS) : mountOptions({ shareName: 'data' }, { secrets });
      const reply = await sandbox.call(driver, ['mount', dir, goJson(options)], { MOUNT_STANDIN_FAIL_OUTPUT: output });
      expect(reply.status).toBe('Failure');
      expect(reply.message).toContain(reason);
      expect(reply.message).toMatch(advice);
      expect(reply.message).not.toMatch(/dmesg|Refer to the mount\.cifs/);
      expect(reply.message).not.toContain('\n');
      // The log keeps the helper's whole text.
      expect(sandbox.readLog()).toContain(output.split('\n')[0]);
      expect(mountsUnder(sandbox.dir)).toEqual([]);
    });

    test('a long, many-line failure is one line of at most 1 KiB in the reply, and whole in the log', async () => {
      const dir = sandbox.podVolumeDir('nfs', 'pv-long');
      const long = `mount.nfs: ${'x'.repeat(3000)} the end`;
      const output = `mount.nfs: first reason\nmount.nfs: second reason\n${long}\n`;
      const reply = await sandbox.call('nfs', ['mount', dir, goJson(mountOptions(NFS))], { MOUNT_STANDIN_FAIL_OUTPUT: output });
      expect(reply.status).toBe('Failure');
      expect(reply.message).toMatch(/mount\.nfs: first reason; mount\.nfs: second reason; mount\.nfs: xxx/);
      expect(reply.message?.length).toBeLessThanOrEqual(1024);
      expect(reply.output.trim().split('\n')).toHaveLength(1);
      expect(sandbox.readLog()).toContain(long);
    });
  });
});

describe('NODE_OPTIONS from the environment', () => {
  let sandbox: Sandbox;
  afterEach(async () => sandbox.cleanup());

  test.each(['--inspect', '--require=/nonexistent'])('the standalone binary ignores NODE_OPTIONS=%s: same replies, nothing else printed', async (value) => {
    sandbox = createSandbox(SEA);
    const plain = await sandbox.call('nfs', ['init']);
    const withOptions = await sandbox.call('nfs', ['init'], { NODE_OPTIONS: value });
    expect(withOptions.output).toBe(plain.output);
    const dir = sandbox.podVolumeDir('nfs', 'pv-options');
    const mounted = await sandbox.call('nfs', ['mount', dir, goJson(mountOptions(NFS))], { NODE_OPTIONS: value });
    expect(mounted.output).toBe('{"status":"Success"}\n');
    expect(mountsUnder(sandbox.dir)).toEqual([dir]);
  });

  test('the bundle clears NODE_OPTIONS for its children (the mount helper here is a Node program)', async () => {
    sandbox = createSandbox(BUNDLE);
    const seen = path.join(sandbox.dir, 'node-options-seen');
    const recorder = path.join(sandbox.dir, 'recorder.cjs');
    fs.writeFileSync(recorder, `require('node:fs').appendFileSync(${JSON.stringify(seen)}, require('node:path').basename(process.argv[1] ?? '') + '\\n');`);
    const dir = sandbox.podVolumeDir('nfs', 'pv-options');
    const reply = await sandbox.call('nfs', ['mount', dir, goJson(mountOptions(NFS))], { NODE_OPTIONS: `--require=${recorder}` });
    expect(reply.output).toBe('{"status":"Success"}\n');
    expect(sandbox.mountRecords()).toHaveLength(1);
    // The driver's own Node loaded it, the stand-in `mount` never did.
    expect(fs.readFileSync(seen, 'utf8').trim().split('\n')).toEqual(['nfs']);
  });
});

describe('the bundle under an older Node', () => {
  const oldNode = ['/usr/bin/node', '/usr/local/bin/node'].find((candidate) => {
    const version = spawnSync(candidate, ['--version'], { encoding: 'utf8' }).stdout ?? '';
    return /^v(\d+)/.test(version) && Number(/^v(\d+)/.exec(version)?.[1]) < 24;
  });
  const withOldNode = oldNode === undefined ? test.skip : test;
  let sandbox: Sandbox;
  afterEach(async () => sandbox.cleanup());

  withOldNode('with no standalone executable beside it: every call, init included, is a Failure naming the Node major it needs', async () => {
    sandbox = createSandbox(BUNDLE);
    // A bundle alone in its directory, as a Node-only install would have it.
    const alone = path.join(sandbox.dir, 'bundle-alone');
    fs.mkdirSync(alone);
    fs.copyFileSync(BUNDLE, path.join(alone, 'flexvolume.cjs'));
    fs.chmodSync(path.join(alone, 'flexvolume.cjs'), 0o755);
    fs.rmSync(sandbox.executable('nfs'));
    fs.symlinkSync(path.join(alone, 'flexvolume.cjs'), sandbox.executable('nfs'));
    // `#!/usr/bin/env node` finds the old Node first.
    const env = { PATH: `${path.dirname(oldNode ?? '')}:${sandbox.env.PATH}` };
    const dir = sandbox.podVolumeDir('nfs', 'pv-old');
    for (const args of [['init'], ['mount', dir, goJson(mountOptions(NFS))], ['unmount', dir]]) {
      const reply = await sandbox.call('nfs', args, env);
      expect(reply.status).toBe('Failure');
      expect(reply.exitCode).toBe(1);
      expect(reply.message).toMatch(/needs Node\.js 24 or newer, but \S+ is Node\.js \d+\./);
    }
    expect(mountsUnder(sandbox.dir)).toEqual([]);
  });

  withOldNode('with the standalone executable beside it: the call is its, under the name the caller ran', async () => {
    sandbox = createSandbox(BUNDLE);
    // Only `node` is the old one: the mount stand-in stays first for mount(8).
    const nodeDir = path.join(sandbox.dir, 'old-node');
    fs.mkdirSync(nodeDir);
    fs.symlinkSync(oldNode ?? '', path.join(nodeDir, 'node'));
    const env = { PATH: `${nodeDir}:${sandbox.env.PATH}` };
    const init = await sandbox.call('azuredisk', ['init'], { ...env, FLEXVOLUME_AZUREDISK_MODE: 'node' });
    expect(init).toMatchObject({ status: 'Success', exitCode: 0, capabilities: { attach: false, fsGroup: true } });
    const dir = sandbox.podVolumeDir('nfs', 'pv-old');
    expect(await sandbox.call('nfs', ['mount', dir, goJson(mountOptions(NFS))], env)).toMatchObject({ status: 'Success', exitCode: 0 });
    expect(mountsUnder(sandbox.dir)).toEqual([dir]);
    expect(await sandbox.call('nfs', ['unmount', dir], env)).toMatchObject({ status: 'Success', exitCode: 0 });
    expect(mountsUnder(sandbox.dir)).toEqual([]);
    // The standalone executable answered: its log lines carry no trace of the old Node's refusal.
    expect(sandbox.readLog()).toMatch(/nfs mount\[\d+\] reply: \{"status":"Success"\}/);
  });
});
