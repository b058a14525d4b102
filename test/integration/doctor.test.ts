// `doctor` on a node laid out by the installer, against the ARM simulator: the report an operator
// reads, in its machine-readable form, for a healthy node and for the classic mistakes.
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { startArmSimulator, type ArmSimulator } from '../arm-simulator/index.ts';
import { baseOptions, goJson } from '../helpers/kubelet.ts';
import { createSandbox, SEA, useArmSimulator, type Sandbox } from '../helpers/sandbox.ts';

interface Report {
  version: string;
  node: string;
  azurediskMode: string;
  healthy: boolean;
  checks: Array<{ name: string; status: string; summary: string; details: Array<Record<string, unknown>> }>;
}

let sim: ArmSimulator;
let sandbox: Sandbox;

beforeAll(async () => {
  sim = await startArmSimulator({ updateLatencyMs: 10 });
  sim.addVM({ name: 'node-1' });
  sim.addDisk({ name: 'disk-a', sizeGB: 8 });
  sandbox = createSandbox(SEA, { FLEXVOLUME_NODE_NAME: 'node-1' });
  useArmSimulator(sandbox, sim);
});

afterAll(async () => {
  await sandbox.cleanup();
  await sim.close();
});

interface Run {
  stdout: string;
  stderr: string;
  status: number | null;
}

/** Asynchronous: the simulator answers from this process's event loop, which a spawnSync would block. */
function run(args: string[], env: NodeJS.ProcessEnv): Promise<Run> {
  return new Promise((resolve) => {
    execFile(sandbox.executable('azuredisk'), args, { env: { ...sandbox.env, ...env }, encoding: 'utf8' }, (error, stdout, stderr) =>
      resolve({ stdout, stderr, status: error ? ((error as { code?: number }).code ?? null) : 0 }),
    );
  });
}

async function doctor(extraArgs: string[] = [], env: NodeJS.ProcessEnv = {}): Promise<{ report: Report; status: number | null; text: string }> {
  const args = ['doctor', '--plugin-dir', sandbox.pluginDir, ...extraArgs];
  const [json, text] = await Promise.all([run([...args, '--json'], env), run(args, env)]);
  expect(json.stderr).toBe('');
  return { report: JSON.parse(json.stdout) as Report, status: json.status, text: text.stdout };
}

const check = (report: Report, name: string) => report.checks.find((entry) => entry.name === name);

test('a healthy node: drivers, tools, config, token, VM, the attached disk and the last failure', async () => {
  const diskURI = `/subscriptions/${sim.subscriptionId}/resourceGroups/${sim.resourceGroup}/providers/Microsoft.Compute/disks/disk-a`;
  const attach = await sandbox.call('azuredisk', ['attach', goJson({ ...baseOptions({ volumeName: 'pv-a' }), diskName: 'disk-a', diskURI }), 'node-1']);
  expect(attach.status).toBe('Success');
  expect((await sandbox.call('nfs', ['mount', sandbox.podVolumeDir('nfs', 'v'), '{"server":"10.0.0.5"}'])).status).toBe('Failure');

  const { report, status, text } = await doctor();
  expect(report).toMatchObject({ node: 'node-1', azurediskMode: 'controller' });
  expect(check(report, 'installation')).toMatchObject({ status: 'ok', summary: expect.stringMatching(/^3 driver\(s\) in .*, 1 binary file\(s\)$/) });
  expect(check(report, 'installation')?.details).toContainEqual(
    expect.objectContaining({ driver: 'nfs', present: true, executable: sandbox.executable('nfs'), executableBit: true, config: null }),
  );
  expect(check(report, 'tools')?.details).toContainEqual({ tool: 'mkfs.ext4', path: '/usr/sbin/mkfs.ext4', neededBy: 'azuredisk (e2fsprogs)' });
  expect(check(report, 'cloud config')).toMatchObject({ status: 'ok', details: expect.arrayContaining([{ credential: 'client secret' }]) });
  expect(check(report, 'credentials')).toMatchObject({ status: 'ok', summary: expect.stringMatching(/client secret obtained a token/) });
  expect(check(report, 'node VM')).toMatchObject({ status: 'ok', details: [{ lun: 0, name: 'disk-a', caching: 'ReadOnly', toBeDetached: false }] });
  expect(check(report, 'volumes')?.details).toContainEqual({ volume: 'pv-a', diskUri: diskURI });
  expect(check(report, 'log')).toMatchObject({
    status: 'warn',
    details: [expect.objectContaining({ driver: 'nfs', call: 'mount', message: expect.stringMatching(/option 'share' is required/) })],
  });
  // No kubelet runs here, so the plugin dir cannot be confirmed: a warning, not a failure.
  expect(check(report, 'plugin dir')?.status).toBe('warn');
  expect(report.healthy).toBe(true);
  expect(status).toBe(0);
  expect(text).toMatch(/^azure-flexvolume \S+ doctor: node node-1, azuredisk mode controller$/m);
  expect(text).toMatch(/^\[ok  \] credentials +client secret obtained a token/m);
  expect(text).not.toContain(sim.clientSecret);
});

test('a broken cloud config fails in node mode, is a warning on a controller-mode worker; a wrong secret fails', async () => {
  fs.writeFileSync(path.join(sandbox.dir, 'bad.json'), JSON.stringify({ ...sim.cloudConfig(), subscriptionId: undefined }));
  const inNodeMode = await doctor([], { AZURE_CREDENTIAL_FILE: path.join(sandbox.dir, 'bad.json'), FLEXVOLUME_AZUREDISK_MODE: 'node' });
  expect(check(inNodeMode.report, 'cloud config')).toMatchObject({ status: 'fail', summary: expect.stringMatching(/subscriptionId/), details: [{ mode: 'node' }] });
  expect(check(inNodeMode.report, 'credentials')?.status).toBe('skip');
  expect(inNodeMode.status).toBe(1);

  // No kube-controller-manager runs here: in controller mode this node never talks to Azure.
  const missing = await doctor([], { AZURE_CREDENTIAL_FILE: path.join(sandbox.dir, 'absent.json') });
  expect(check(missing.report, 'cloud config')).toMatchObject({ status: 'warn', details: [{ mode: 'controller' }] });
  expect(missing.text).toMatch(/^\[WARN\] cloud config .*absent\.json/m);
  expect(missing.text).toContain('only the kube-controller-manager host attaches and needs it');
  expect(missing.report.healthy).toBe(true);
  expect(missing.status).toBe(0);

  fs.writeFileSync(path.join(sandbox.dir, 'wrong.json'), JSON.stringify(sim.cloudConfig({ aadClientSecret: 'not-the-secret' })));
  const wrong = await doctor([], { AZURE_CREDENTIAL_FILE: path.join(sandbox.dir, 'wrong.json') });
  expect(check(wrong.report, 'credentials')?.status).toBe('fail');
  expect(JSON.stringify(wrong.report)).not.toContain('not-the-secret');
  expect(wrong.status).toBe(1);
});

test('an empty plugin dir fails the installation check', async () => {
  const empty = path.join(sandbox.dir, 'empty-plugins');
  fs.mkdirSync(empty);
  const { report } = await doctor(['--no-azure', '--plugin-dir', empty]);
  expect(check(report, 'installation')).toMatchObject({ status: 'fail', summary: `no driver is installed in ${empty}` });
  expect(check(report, 'node VM')?.status).toBe('skip');
});

test('the installed config is shown as aligned key: value lines', async () => {
  const configFile = path.join(sandbox.pluginDir, 'azure~azuredisk', 'azuredisk.conf.json');
  fs.writeFileSync(configFile, JSON.stringify({ mode: 'controller', nodeName: 'node-1', logFile: sandbox.logFile }));
  try {
    const { report, text } = await doctor(['--no-azure']);
    expect(text).toMatch(/azure~azuredisk\/azuredisk \(\d+ MiB, inode \d+\)\n {23}mode: {5}controller\n {23}nodeName: node-1\n {23}logFile: {2}\S+\/driver\.log\n/);
    expect(check(report, 'installation')?.details).toContainEqual(
      expect.objectContaining({ driver: 'azuredisk', configFile, config: { mode: 'controller', nodeName: 'node-1', logFile: sandbox.logFile } }),
    );
  } finally {
    fs.rmSync(configFile);
  }
});

test("from the installer's pod, --host-root reads the host's plugin dir, config, tools (following its absolute links) and log", async () => {
  const hostRoot = path.join(sandbox.dir, 'host');
  const pluginDir = '/etc/kubernetes/volumeplugins';
  const driverDir = path.join(hostRoot, pluginDir, 'azure~nfs');
  fs.mkdirSync(driverDir, { recursive: true });
  fs.copyFileSync(sandbox.executable('nfs'), path.join(driverDir, 'nfs'));
  fs.chmodSync(path.join(driverDir, 'nfs'), 0o755);
  fs.writeFileSync(path.join(driverDir, 'nfs.conf.json'), JSON.stringify({ nodeName: 'node-7' }));
  // A merged-/usr host whose mount.nfs is an absolute link: inside the pod it would point at the pod's own /sbin.
  fs.mkdirSync(path.join(hostRoot, 'usr/sbin'), { recursive: true });
  fs.mkdirSync(path.join(hostRoot, 'sbin/real'), { recursive: true });
  fs.writeFileSync(path.join(hostRoot, 'sbin/real/mount.nfs'), '#!/bin/sh\n', { mode: 0o755 });
  fs.symlinkSync('/sbin/real/mount.nfs', path.join(hostRoot, 'usr/sbin/mount.nfs'));
  fs.mkdirSync(path.join(hostRoot, 'var/log'), { recursive: true });
  fs.writeFileSync(
    path.join(hostRoot, 'var/log/azure-flexvolume.log'),
    '2026-01-02T03:04:05.000Z nfs mount[42] call: mount "/var/lib/kubelet/pods/u1/volumes/azure~nfs/v1" "{}" (log /var/log/azure-flexvolume.log)\n' +
      '2026-01-02T03:04:05.100Z nfs mount[42] reply: {"status":"Failure","message":"mount: option \'server\' is required"}\n',
  );
  // The host's settings, not this test's: no log, state or cloud config from the environment.
  const env = { FLEXVOLUME_LOG_FILE: '', FLEXVOLUME_STATE_DIR: '', AZURE_CREDENTIAL_FILE: '', NODE_NAME: 'node-7' };
  const args = ['doctor', '--host-root', hostRoot, '--host-proc', '/proc', '--no-azure'];
  const [json, text] = await Promise.all([run([...args, '--json'], env), run(args, env)]);
  const report = JSON.parse(json.stdout) as Report & { hostRoot: string };
  expect(report).toMatchObject({ node: 'node-7', hostRoot });
  expect(check(report, 'installation')).toMatchObject({ status: 'ok', summary: `1 driver(s) in ${pluginDir}, 1 binary file(s)` });
  expect(check(report, 'tools')?.details).toContainEqual(expect.objectContaining({ tool: 'mount.nfs', path: '/usr/sbin/mount.nfs' }));
  expect(check(report, 'log')?.details).toEqual([expect.objectContaining({ call: 'mount', message: "mount: option 'server' is required" })]);
  expect(text.stdout).toMatch(new RegExp(`^azure-flexvolume \\S+ doctor: node node-7 \\(through ${hostRoot}\\)`, 'm'));
});
