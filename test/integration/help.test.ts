// Every example every `--help` prints is run as printed, through a POSIX shell, against the local
// fixtures (the ARM simulator holding the example's subscription, node and disk; a fixture sysfs
// whose LUN 0 is a real loop device; the mount stand-in for NFS and SMB), in the order the kubelet
// and the controller-manager call, and must get the reply its help documents. Only the kubelet
// root is moved into the sandbox: the examples name the real /var/lib/kubelet.
import { execFile, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ArmSimulator } from '../arm-simulator/index.ts';
import { EXAMPLE } from '../../src/flexvolume/examples.ts';
import { setUpAzureNode, type AzureNode } from '../helpers/azure-node.ts';
import { decodeDriverStatus, type DriverStatus } from '../helpers/kubelet.ts';
import { mountsUnder, SEA, type Sandbox } from '../helpers/sandbox.ts';
import type { ScsiFixture } from '../helpers/scsi-fixture.ts';

let sim: ArmSimulator;
let fixture: ScsiFixture;
let sandbox: Sandbox;
let node: AzureNode;

beforeAll(async () => {
  // The disk as large as the example's expandfs asks for: a sparse file, so it costs nothing.
  node = await setUpAzureNode({
    simulator: { subscriptionId: EXAMPLE.subscriptionId, resourceGroup: EXAMPLE.resourceGroup, updateLatencyMs: 10 },
    node: EXAMPLE.node,
    disks: { [EXAMPLE.disk]: Number(EXAMPLE.newSizeBytes) },
    env: { FLEXVOLUME_NODE_NAME: EXAMPLE.node },
  });
  ({ sim, fixture, sandbox } = node);
});

afterAll(() => node.tearDown());

interface Output {
  stdout: string;
  stderr: string;
  exitCode: number | null;
}

/** Asynchronous: the simulator answers from this process's event loop. */
function run(file: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<Output> {
  return new Promise((resolve) => {
    execFile(file, args, { env: { ...sandbox.env, ...env }, encoding: 'utf8' }, (error, stdout, stderr) =>
      resolve({ stdout, stderr, exitCode: error ? ((error as { code?: number }).code ?? null) : 0 }),
    );
  });
}

interface PrintedExample {
  command: string;
  answers: DriverStatus;
}

/** The `$ …` lines of a help text, each with the `Answers: {…}` line under it. */
function printedExamples(help: string): PrintedExample[] {
  const examples: PrintedExample[] = [];
  const lines = help.split('\n');
  for (const [index, line] of lines.entries()) {
    const command = /^ {2}\$ (.*)$/.exec(line)?.[1];
    if (command === undefined) continue;
    const answers = /^ {2}Answers: (\{.*?\})(?: \(|$)/.exec(lines[index + 1] ?? '')?.[1];
    if (answers === undefined) throw new Error(`no Answers line under: ${line}`);
    examples.push({ command, answers: JSON.parse(answers) as DriverStatus });
  }
  return examples;
}

/** Runs a printed command line through sh, stdout and stderr in one pipe as the kubelet reads them. */
async function runLine(command: string, env: NodeJS.ProcessEnv): Promise<{ output: string; exitCode: number | null }> {
  const line = command.replaceAll(EXAMPLE.kubeletRoot, sandbox.kubeletRoot);
  const child = spawn('/bin/sh', ['-c', `exec ${line} 2>&1`], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...sandbox.env, ...env } });
  const chunks: Buffer[] = [];
  child.stdout.on('data', (chunk: Buffer) => chunks.push(chunk));
  const exitCode = await new Promise<number | null>((resolve) => child.on('close', resolve));
  return { output: Buffer.concat(chunks).toString('utf8').trim(), exitCode };
}

async function runAsPrinted(command: string, env: NodeJS.ProcessEnv): Promise<DriverStatus> {
  const { output, exitCode } = await runLine(command, env);
  try {
    return decodeDriverStatus(output, exitCode);
  } catch (error) {
    throw new Error(`${command}\nanswered ${output}: ${(error as Error).message}`);
  }
}

/** The `$ …` lines of a help text that has no Answers lines (the operator commands). */
const printedCommands = (help: string): string[] => [...help.matchAll(/^ {2}\$ (.*)$/gm)].map((match) => match[1] ?? '');

/** The documented answer with the fixture's /dev in place of the host's, as waitforattach answers it. */
const onFixture = (answers: DriverStatus): DriverStatus =>
  answers.device?.startsWith('/dev/') ? { ...answers, device: path.join(fixture.devRoot, answers.device.slice('/dev/'.length)) } : answers;

/** What the kubelet does between two calls (directories it creates, the unmount it does itself). */
type KubeletStep = (driver: string) => void;

const makeGlobalDir: KubeletStep = (driver) => fs.mkdirSync(sandbox.deviceMountPath(driver, EXAMPLE.volume), { recursive: true });
const makePodDir: KubeletStep = (driver) =>
  fs.mkdirSync(sandbox.podVolumeDir(driver, EXAMPLE.volume, EXAMPLE.podUid), { recursive: true, mode: 0o750 });

const LIFECYCLE: ReadonlyArray<{ call: string; before?: KubeletStep }> = [
  { call: 'init' },
  { call: 'getvolumename' },
  { call: 'attach' },
  { call: 'isattached' },
  { call: 'waitforattach' },
  { call: 'mountdevice', before: makeGlobalDir },
  { call: 'mount', before: makePodDir },
  { call: 'expandfs' },
  { call: 'unmount' },
  { call: 'unmountdevice' },
  { call: 'detach' },
  { call: 'expandvolume' },
];

async function replayLifecycle(driver: string, env: NodeJS.ProcessEnv = {}): Promise<Array<{ call: string; status: string }>> {
  const seen: Array<{ call: string; status: string }> = [];
  for (const { call, before } of LIFECYCLE) {
    const help = await run(sandbox.executable(driver), [call, '--help'], env);
    expect(help.exitCode).toBe(0);
    const [example, ...more] = printedExamples(help.stdout);
    expect(more).toEqual([]);
    if (example === undefined) throw new Error(`${driver} ${call} --help prints no example:\n${help.stdout}`);
    expect(help.stdout).toContain(`Usage: ${driver} ${call}`);
    expect(example.command.startsWith(`${sandbox.executable(driver)} ${call}`)).toBe(true);
    before?.(driver);
    const reply = await runAsPrinted(example.command, env);
    expect({ call, ...reply }).toMatchObject({ call, ...onFixture(example.answers) });
    seen.push({ call, status: reply.status });
  }
  return seen;
}

test('azuredisk (controller mode): every call example runs as printed and gets the documented reply', async () => {
  const seen = await replayLifecycle('azuredisk');
  expect(seen.filter((entry) => entry.status === 'Success').map((entry) => entry.call)).toEqual([
    'init', 'attach', 'isattached', 'waitforattach', 'mountdevice', 'expandfs', 'unmountdevice', 'detach',
  ]);
  expect(sim.getVM(EXAMPLE.node)?.properties.storageProfile.dataDisks).toEqual([]);
  expect(mountsUnder(sandbox.dir)).toEqual([]);
});

test('azuredisk (node mode): the examples document and get what node mode answers, mount attaching the disk', async () => {
  const env = { FLEXVOLUME_AZUREDISK_MODE: 'node', FLEXVOLUME_NODE_NAME: EXAMPLE.node };
  const seen = await replayLifecycle('azuredisk', env);
  expect(seen.find((entry) => entry.call === 'mount')).toEqual({ call: 'mount', status: 'Success' });
  expect(seen.find((entry) => entry.call === 'unmount')).toEqual({ call: 'unmount', status: 'Success' });
  expect(sim.getVM(EXAMPLE.node)?.properties.storageProfile.dataDisks).toEqual([]);
  expect(mountsUnder(sandbox.dir)).toEqual([]);
});

test.each(['nfs', 'azurefile'])('%s: every call example runs as printed; mount, expandfs and unmount succeed', async (driver) => {
  const seen = await replayLifecycle(driver);
  expect(seen.filter((entry) => entry.status === 'Success').map((entry) => entry.call)).toEqual(['init', 'mount', 'expandfs', 'unmount']);
  const mounted = sandbox.mountRecords().at(-1);
  expect(mounted?.target).toBe(sandbox.podVolumeDir(driver, EXAMPLE.volume, EXAMPLE.podUid));
  expect(mountsUnder(sandbox.dir)).toEqual([]);
});

test('run as `flexvolume --driver <name>`, the help names that driver and its paths, and its example runs', async () => {
  const help = await run(SEA, ['--driver', 'azuredisk', 'mount', '--help']);
  expect(help.stdout).toContain('Usage: flexvolume --driver azuredisk mount [options] [pod-volume-dir] [options-json]');
  expect(help.stdout).toContain(`/volumes/azure~azuredisk/${EXAMPLE.volume}`);
  expect(help.stdout).not.toContain('azure-flexvolume');
  const nfs = printedExamples((await run(SEA, ['--driver', 'nfs', 'mount', '--help'])).stdout);
  expect(nfs.map((example) => example.command.split(' ').slice(0, 4))).toEqual([[SEA, '--driver', 'nfs', 'mount']]);
  makePodDir('nfs');
  expect(await runAsPrinted(nfs[0]?.command ?? '', {})).toMatchObject({ status: 'Success' });
  expect(await runAsPrinted(`${SEA} --driver nfs unmount ${sandbox.podVolumeDir('nfs', EXAMPLE.volume, EXAMPLE.podUid)}`, {})).toMatchObject({ status: 'Success' });
});

test('the top-level help says where the log and config are, lists each driver with its options, and names doctor', async () => {
  const { stdout } = await run(sandbox.executable('azurefile'), ['--help']);
  expect(stdout).toContain(`log     ${sandbox.logFile}`);
  expect(stdout).toContain(`config  ${path.join(sandbox.pluginDir, 'azure~azurefile', 'azurefile.conf.json')}`);
  expect(stdout).toMatch(/^ {2}azuredisk +diskName\*, diskURI\*, cachingMode/m);
  expect(stdout).toMatch(/^ {2}azurefile +shareName\*, subDir/m);
  expect(stdout).toMatch(/^ {2}nfs +server\*, share\*, mountOptions$/m);
  // Within a terminal's width, but for the paths of this host.
  expect(stdout.split('\n').filter((line) => line.length > 80 && !line.includes(sandbox.dir))).toEqual([]);
});

test("doctor's examples, in the top-level help and its own, run as printed", async () => {
  const executable = sandbox.executable('azuredisk');
  const topLevel = printedCommands((await run(executable, ['--help'])).stdout);
  const own = printedCommands((await run(executable, ['doctor', '--help'])).stdout);
  expect(topLevel).toEqual([`${executable} doctor`, `${executable} doctor --volume ${EXAMPLE.volume}`]);
  expect(own).toEqual([`${executable} doctor`, `${executable} doctor --volume ${EXAMPLE.volume} --json`]);
  for (const command of new Set([...topLevel, ...own])) {
    const { output } = await runLine(command, {});
    if (command.endsWith('--json')) expect(JSON.parse(output)).toMatchObject({ node: EXAMPLE.node, subject: `volume ${EXAMPLE.volume}` });
    else expect(output).toMatch(new RegExp(`^azure-flexvolume \\S+ doctor: node ${EXAMPLE.node}`));
  }
});

test('a bare call prints the help on a terminal and one JSON Failure elsewhere; --verbose names an unknown call on stderr', async () => {
  const piped = await run(SEA, []);
  expect(piped.stderr).toBe('');
  expect(JSON.parse(piped.stdout)).toMatchObject({ status: 'Failure', message: expect.stringMatching(/no call given/) });
  expect(piped.exitCode).toBe(1);

  // script(1) gives the executable a terminal for stdout, as a person's shell does.
  const atTerminal = await run('script', ['-qec', SEA, '/dev/null']);
  expect(atTerminal.stdout).toMatch(/Usage: flexvolume \[options\] \[command\]/);
  expect(atTerminal.stdout).toContain('doctor');

  const unknown = await run(sandbox.executable('nfs'), ['--verbose', 'waitfordetach', '/dev/sdc']);
  expect(unknown.stdout).toBe('{"status":"Not supported"}\n');
  expect(unknown.stderr).toMatch(/nfs waitfordetach\[\d+\] unknown command 'waitfordetach' \(Did you mean waitforattach\?\): answering Not supported/);
  const quiet = await run(sandbox.executable('nfs'), ['waitfordetach', '/dev/sdc']);
  expect([quiet.stdout, quiet.stderr]).toEqual(['{"status":"Not supported"}\n', '']);
});
