// `doctor --volume <pv>` and `--pod <uid>` on the log a real lifecycle leaves: the built executable
// is driven as the controller-manager and the kubelet drive it (attach → waitforattach →
// mountdevice → mount → unmount → unmountdevice → detach), with the failures operators meet (a
// disk held by another node, a LUN that never shows up), and the story is read back from the log.
import { execFile, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ArmSimulator } from '../arm-simulator/index.ts';
import type { VolumeStory } from '../../src/doctor/volume-story.ts';
import { setUpAzureNode, type AzureNode } from '../helpers/azure-node.ts';
import { baseOptions, goJson } from '../helpers/kubelet.ts';
import { MiB } from '../helpers/loop-devices.ts';
import type { Sandbox } from '../helpers/sandbox.ts';
import type { ScsiFixture } from '../helpers/scsi-fixture.ts';

let sim: ArmSimulator;
let fixture: ScsiFixture;
let sandbox: Sandbox;
let node: AzureNode;

const POD = '5d1e2f3a-0000-4b4b-8c8c-00000000000a';

const diskUri = (name: string) => `/subscriptions/${sim.subscriptionId}/resourceGroups/${sim.resourceGroup}/providers/Microsoft.Compute/disks/${name}`;
const optionsFor = (volume: string, disk: string) => goJson({ ...baseOptions({ volumeName: volume, fsType: 'ext4' }), diskName: disk, diskURI: diskUri(disk) });

beforeAll(async () => {
  node = await setUpAzureNode({
    node: 'node-1',
    otherVMs: ['node-2'],
    disks: { 'disk-data': 64 * MiB, 'disk-held': 64 * MiB, 'disk-node': 64 * MiB },
    env: { FLEXVOLUME_NODE_NAME: 'node-1' },
  });
  ({ sim, fixture, sandbox } = node);
  await driveLifecycle();
});

afterAll(() => node.tearDown());

async function driveLifecycle(): Promise<void> {
  const call = async (args: string[], env: NodeJS.ProcessEnv = {}) => (await sandbox.call('azuredisk', args, env)).status;
  const options = optionsFor('pv-data', 'disk-data');
  const globalPath = sandbox.deviceMountPath('azuredisk', 'pv-data');
  const podDir = sandbox.podVolumeDir('azuredisk', 'pv-data', POD);
  expect(await call(['init'])).toBe('Success');
  expect(await call(['attach', options, 'node-1'])).toBe('Success');
  expect(await call(['waitforattach', '0', options])).toBe('Success');
  fs.mkdirSync(globalPath, { recursive: true });
  expect(await call(['mountdevice', globalPath, path.join(fixture.devRoot, 'disk/azure/scsi1/lun0'), options])).toBe('Success');
  expect(await call(['mount', podDir, options])).toBe('Not supported');
  fs.mkdirSync(podDir, { recursive: true });
  expect(spawnSync('mount', ['--bind', globalPath, podDir]).status).toBe(0); // the kubelet's bind mount
  expect(spawnSync('umount', [podDir]).status).toBe(0);
  expect(await call(['unmount', podDir])).toBe('Not supported');
  expect(await call(['unmountdevice', globalPath])).toBe('Success');
  expect(await call(['detach', 'pv-data', 'node-1'])).toBe('Success');
  // The pod comes back; the kubelet waits for a LUN this node never sees (a wrong LUN).
  expect(await call(['waitforattach', '5', options], { FLEXVOLUME_WAITFORATTACH_TIMEOUT_SECONDS: '1' })).toBe('Failure');

  // Another volume, held by node-2, that node-1 cannot have.
  const held = optionsFor('pv-held', 'disk-held');
  expect(await call(['attach', held, 'node-2'])).toBe('Success');
  expect(await call(['attach', held, 'node-1'])).toBe('Failure');

  // Node mode: the kubelet calls only mount and unmount, and the node attaches by itself.
  const nodeMode = { FLEXVOLUME_AZUREDISK_MODE: 'node' };
  const nodePod = sandbox.podVolumeDir('azuredisk', 'pv-node', POD);
  fs.mkdirSync(nodePod, { recursive: true });
  expect(await call(['mount', nodePod, optionsFor('pv-node', 'disk-node')], nodeMode)).toBe('Success');
  expect(await call(['unmount', nodePod], nodeMode)).toBe('Success');
}

interface Run {
  stdout: string;
  stderr: string;
  status: number | null;
}

function doctor(args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(sandbox.executable('azuredisk'), ['doctor', ...args], { env: sandbox.env, encoding: 'utf8' }, (error, stdout, stderr) =>
      resolve({ stdout, stderr, status: error ? ((error as { code?: number }).code ?? null) : 0 }),
    );
  });
}

async function stories(args: string[]): Promise<VolumeStory[]> {
  const run = await doctor([...args, '--json']);
  expect(run.stderr).toBe('');
  return (JSON.parse(run.stdout) as { stories: VolumeStory[] }).stories;
}

test("--volume tells the volume's calls in order, with what they were given and the last failure with advice", async () => {
  const [story, ...others] = await stories(['--volume', 'pv-data']);
  expect(others).toEqual([]);
  expect(story?.calls.map((entry) => `${entry.call} ${entry.result}`)).toEqual([
    'attach Success',
    'waitforattach Success',
    'mountdevice Success',
    'mount Not supported',
    'unmount Not supported',
    'unmountdevice Success',
    'detach Success',
    'waitforattach Failure',
  ]);
  expect(story).toMatchObject({
    volume: 'pv-data',
    driver: 'azuredisk',
    source: diskUri('disk-data'),
    nodeNames: ['node-1'],
    lun: '5',
    device: path.join(fixture.devRoot, 'disk/azure/scsi1/lun0'),
    globalMount: sandbox.deviceMountPath('azuredisk', 'pv-data'),
    podMounts: [{ podUid: POD, path: sandbox.podVolumeDir('azuredisk', 'pv-data', POD), mounted: false }],
  });
  expect(story?.calls[0]).toMatchObject({ device: '0', notes: expect.arrayContaining(['disk disk-data is attached to node-1 at LUN 0']) });
  // Times are in order and each call's duration is what the log shows between its call and its reply.
  const times = story?.calls.map((entry) => Date.parse(entry.time)) ?? [];
  expect([...times].sort((a, b) => a - b)).toEqual(times);
  expect(story?.calls.every((entry) => typeof entry.durationMs === 'number' && entry.durationMs >= 0)).toBe(true);
  expect(story?.lastFailure).toMatchObject({
    call: 'waitforattach',
    message: expect.stringMatching(/the data disk at LUN 5 did not appear on this node within 1 s/),
    advice: expect.stringMatching(/this node does not see it at that LUN/),
    retriedSuccessfully: false,
  });
  expect(story?.hints).toEqual([expect.stringMatching(/the pod stays in ContainerCreating until the disk shows up/)]);
});

test('the text story fits a terminal: facts, one row per call, the failure, what to do', async () => {
  const run = await doctor(['--volume', 'pv-data']);
  expect(run.status).toBe(0);
  const text = run.stdout;
  expect(text).toMatch(/^azure-flexvolume \S+ doctor: node node-1, volume pv-data\nlog: \S+driver\.log$/m);
  expect(text).toMatch(/^ {2}LUN: +5$/m);
  expect(text).toMatch(/^ {2}\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} {2}attach +[\d.]+ m?s {2}Success +node-1: device 0$/m);
  expect(text).toMatch(/^ {2}\S+ \S+ {2}mount +\d+ ms {2}Not supported$/m);
  expect(text).toMatch(/^last failure: waitforattach at \S+\n {2}waitforattach failed: the data disk at LUN 5 did not appear/m);
  expect(text).toMatch(/^ {2}what to do: Azure reports the disk attached, but this node does not see it/m);
  const rows = text.split('\n').filter((line) => /^ {2}\d\d-\d\d /.test(line));
  expect(rows).toHaveLength(8);
  // Only the facts carry this sandbox's long paths; the table and the advice fit 80 columns.
  const tooWide = text.split('\n').filter((line) => line.length > 80 && !/^( {2}(source|device|global mount|pod \w+):|log: )/.test(line));
  expect(tooWide).toEqual([]);
});

test('a disk held by another node: the failure says so, and the advice says what to do', async () => {
  const [story] = await stories(['--volume', 'pv-held']);
  expect(story?.calls.map((entry) => `${entry.call} ${entry.result}`)).toEqual(['attach Success', 'attach Failure']);
  expect(story?.nodeNames).toEqual(['node-2', 'node-1']);
  expect(story?.lastFailure).toMatchObject({
    message: expect.stringMatching(/disk disk-held is attached to .*node-2.*, not to node node-1/),
    advice: expect.stringMatching(/held by another node/),
  });
});

test('in node mode, the LUN, device and global mount come from what mount did', async () => {
  const [story] = await stories(['--volume', 'pv-node']);
  expect(story?.calls.map((entry) => `${entry.call} ${entry.result}`)).toEqual(['mount Success', 'unmount Success']);
  expect(story).toMatchObject({
    source: diskUri('disk-node'),
    lun: expect.stringMatching(/^\d+$/),
    device: expect.stringMatching(new RegExp(`^${fixture.devRoot}/disk/azure/scsi1/lun\\d+$`)),
    globalMount: sandbox.deviceMountPath('azuredisk', 'pv-node'),
    podMounts: [{ podUid: POD, path: sandbox.podVolumeDir('azuredisk', 'pv-node', POD), mounted: false }],
    lastFailure: null,
  });
});

test('--pod tells the story of each volume the pod used; an unknown volume says so and exits 1', async () => {
  const forPod = await stories(['--pod', POD]);
  expect(forPod.map((story) => story.volume)).toEqual(['pv-data', 'pv-node']);
  const unknown = await doctor(['--volume', 'pv-nobody']);
  expect(unknown.stdout).toMatch(/no call for volume pv-nobody in the log on this host/);
  expect(unknown.status).toBe(1);
});
