// `doctor` on a node laid out by the installer, against the ARM simulator: the report an operator
// reads, in its machine-readable form, for a healthy node and for the classic mistakes.
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { startArmSimulator, type ArmSimulator } from '../arm-simulator/index.ts';
import { baseOptions, goJson } from '../helpers/kubelet.ts';
import { createSandbox, SEA, useArmSimulator, type Sandbox } from '../helpers/sandbox.ts';

interface Report {
  healthy: boolean;
  checks: Array<{ name: string; status: string; summary: string; details: string[] }>;
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
  expect(check(report, 'installation')).toMatchObject({ status: 'ok', summary: expect.stringMatching(/^3 driver\(s\) in .*, 1 binary file\(s\)$/) });
  expect(check(report, 'tools')?.details).toContain('mkfs.ext4: /usr/sbin/mkfs.ext4');
  expect(check(report, 'cloud config')).toMatchObject({ status: 'ok', details: expect.arrayContaining(['credential: client secret']) });
  expect(check(report, 'credentials')).toMatchObject({ status: 'ok', summary: expect.stringMatching(/client secret obtained a token/) });
  expect(check(report, 'node VM')).toMatchObject({ status: 'ok', details: ['LUN 0: disk-a (ReadOnly caching)'] });
  expect(check(report, 'volumes')?.details).toContain(`record: PV pv-a is disk ${diskURI}`);
  expect(check(report, 'log')).toMatchObject({ status: 'warn', details: [expect.stringMatching(/option 'share' is required/)] });
  // No kubelet runs here, so the plugin dir cannot be confirmed: a warning, not a failure.
  expect(check(report, 'plugin dir')?.status).toBe('warn');
  expect(report.healthy).toBe(true);
  expect(status).toBe(0);
  expect(text).toMatch(/^\[ok  \] credentials +client secret obtained a token/m);
  expect(text).not.toContain(sim.clientSecret);
});

test('a broken cloud config and a wrong secret are named, and the exit code says so', async () => {
  fs.writeFileSync(path.join(sandbox.dir, 'bad.json'), JSON.stringify({ ...sim.cloudConfig(), subscriptionId: undefined }));
  const broken = await doctor([], { AZURE_CREDENTIAL_FILE: path.join(sandbox.dir, 'bad.json') });
  expect(check(broken.report, 'cloud config')).toMatchObject({ status: 'fail', summary: expect.stringMatching(/subscriptionId/) });
  expect(check(broken.report, 'credentials')?.status).toBe('skip');
  expect(broken.status).toBe(1);

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
