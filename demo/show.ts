// How the demo tells its story: each driver call as the event a `kubectl describe` would show
// (type, reason, who called, when), then the command line and the driver's JSON reply, with its
// duration and, for azuredisk, the requests it made to the ARM simulator. A reply other than the
// expected one is a Warning, counts as a failure of the demo and ends the scene. Everything fits
// 80 columns: long paths are named once ($POD=…) and long lines wrap.
import type { ArmSimulator, LoggedRequest } from '../test/arm-simulator/index.ts';
import type { CallResult } from '../test/helpers/kubelet.ts';
import type { Sandbox } from '../test/helpers/sandbox.ts';
import { wrapText } from '../src/terminal-text.ts';

const color = process.stdout.isTTY === true && process.env.NO_COLOR === undefined;
const paint = (code: string, text: string): string => (color ? `\x1b[${code}m${text}\x1b[0m` : text);
export const bold = (text: string): string => paint('1', text);
const green = (text: string): string => paint('32', text);
const red = (text: string): string => paint('31', text);
const dim = (text: string): string => paint('2', text);

export type Caller = 'kubelet' | 'kube-controller-manager' | 'pod' | 'kubectl' | 'provisioner';

export interface Expected {
  status: 'Success' | 'Not supported' | 'Failure';
  device?: string;
  attached?: boolean;
  capabilities?: Record<string, boolean>;
}

/** What the summary table tells of one scene. */
export interface SceneRecord {
  name: string;
  startedAt: number;
  endedAt: number | undefined;
  calls: number;
  armAtStart: number;
  armAtEnd: number | undefined;
  failures: number;
}

export interface Story {
  sandbox: Sandbox;
  sim: ArmSimulator | undefined;
  failures: string[];
  startedAt: number;
  /** Set by a signal: no new step starts. */
  interrupted: boolean;
  /** The driver call running now, which clean-up must outwait (it may be mounting). */
  inFlight: Promise<unknown> | undefined;
  /** Short names for long paths, as `$POD`: [name, path], shown in place of the path. */
  aliases: Array<[string, string]>;
  scenes: SceneRecord[];
}

/** Thrown to end a scene whose step went wrong; already printed and counted. */
export class SceneAborted extends Error {}

function write(line: string): void {
  process.stdout.write(`${line}\n`);
}

/** `text` after `indent` spaces, wrapped at 80 columns under the same indentation. */
function writeWrapped(indent: number, text: string, style: (line: string) => string = (line) => line): void {
  write(`${' '.repeat(indent)}${style(wrapText(text, indent))}`);
}

export function heading(text: string): void {
  write(`\n${bold(wrapText(`== ${text}`, 3, 0))}`);
}

export function note(text: string): void {
  writeWrapped(3, text);
}

/** A part of the demo that plays something real (Azure, a disk, a CIFS or NFS client), said where it is used. */
export function standIn(text: string): void {
  write(`   ${paint('36', 'stand-in:')} ${wrapText(text, 3, 13)}`);
}

/** A file or log shown as it is, dimmed: one line each, wrapped under the same indentation. */
export function listing(story: Story, text: string): void {
  for (const line of shown(story, text).split('\n')) {
    const indent = 5 + (/^ */.exec(line)?.[0].length ?? 0);
    writeWrapped(indent, line.trimStart(), dim);
  }
}

export function skipped(text: string): void {
  write(`   ${paint('33', 'skipped:')} ${wrapText(text, 3, 12)}`);
}

/** Paths are shown by their short names (`$POD`), and anything under the sandbox relative to it. */
export function shown(story: Story, text: string): string {
  let out = text;
  for (const [name, dir] of [...story.aliases].sort((a, b) => b[1].length - a[1].length)) out = out.split(dir).join(name);
  return out.split(story.sandbox.dir).join('$SANDBOX');
}

/**
 * Names a long path once (`$POD = …`), so the command lines that use it fit a terminal. A pod's
 * uid is spelled out on a line of its own.
 */
export function alias(story: Story, name: string, dir: string): void {
  const text = shown(story, dir);
  const uid = /\/pods\/([^/]+)\//.exec(text)?.[1];
  const lines = uid === undefined ? [text] : [`${text.replace(`/pods/${uid}/`, '/pods/<uid>/')},`, `<uid> = ${uid}`];
  const hanging = ' '.repeat(name.length + 3);
  story.aliases.push([name, dir]);
  write(dim(`   ${name} = ${lines.map((line) => wrapText(line, 3 + hanging.length)).join(`\n   ${hanging}`)}`));
}

/**
 * The options JSON as a person needs it: the driver's own options, the kubelet's reserved keys
 * elided, and an Azure resource id cut to its last part.
 */
function briefOptions(text: string): string {
  let options: Record<string, string>;
  try {
    options = JSON.parse(text) as Record<string, string>;
  } catch {
    return text;
  }
  const own = Object.entries(options).filter(([key]) => !key.startsWith('kubernetes.io/'));
  const hidden = own.length < Object.keys(options).length ? ['…'] : [];
  const members = own.map(([key, value]) => `${JSON.stringify(key)}:${JSON.stringify(value.replace(/^\/subscriptions\/.*\/(\w+\/[^/]+)$/, '…/$1'))}`);
  return `{${[...hidden, ...members].join(',')}}`;
}

function quoteArg(story: Story, arg: string): string {
  const text = shown(story, arg);
  if (!text.startsWith('{')) return text === '' ? "''" : text;
  return `'${briefOptions(text)}'`;
}

/** Starts a scene of the summary table; the one before it ends here. */
export function beginScene(story: Story, name: string, title: string): void {
  endScene(story);
  story.scenes.push({ name, startedAt: Date.now(), endedAt: undefined, calls: 0, armAtStart: armCount(story), armAtEnd: undefined, failures: 0 });
  heading(title);
}

export function endScene(story: Story): void {
  const current = story.scenes.at(-1);
  if (current === undefined || current.endedAt !== undefined) return;
  current.endedAt = Date.now();
  current.armAtEnd = armCount(story);
}

const armCount = (story: Story): number => story.sim?.count({ kind: 'arm' }) ?? 0;

/** One row per scene: driver calls made, ARM requests, time, result. */
export function summaryTable(story: Story): void {
  endScene(story);
  const width = Math.max(5, ...story.scenes.map((scene) => scene.name.length));
  write(dim(`  ${'scene'.padEnd(width)}  ${'calls'.padStart(5)}  ${'ARM requests'.padStart(12)}  ${'time'.padStart(7)}  result`));
  for (const scene of story.scenes) {
    const seconds = `${(((scene.endedAt ?? Date.now()) - scene.startedAt) / 1000).toFixed(1)} s`;
    const arm = (scene.armAtEnd ?? armCount(story)) - scene.armAtStart;
    const result = scene.failures === 0 ? green('ok') : red(`${scene.failures} failed`);
    write(`  ${scene.name.padEnd(width)}  ${String(scene.calls).padStart(5)}  ${String(arm).padStart(12)}  ${seconds.padStart(7)}  ${result}`);
  }
}

function eventLine(story: Story, type: 'Normal' | 'Warning', reason: string, from: Caller, tookMs?: number): string {
  const age = `+${((Date.now() - story.startedAt) / 1000).toFixed(1)}s`;
  const took = tookMs === undefined ? '' : `${tookMs} ms`;
  const kind = type === 'Normal' ? green(type.padEnd(7)) : red(type.padEnd(7));
  return `  ${kind} ${reason.padEnd(26)} ${from.padEnd(23)} ${age.padStart(6)}  ${dim(took)}`;
}

function mismatch(reply: CallResult, expected: Expected): string | undefined {
  if (reply.status !== expected.status) return `expected ${expected.status}, got ${reply.status}`;
  if (expected.device !== undefined && reply.device !== expected.device) return `expected device ${expected.device}, got ${reply.device}`;
  if (expected.attached !== undefined && reply.attached !== expected.attached) return `expected attached ${expected.attached}`;
  for (const [name, value] of Object.entries(expected.capabilities ?? {})) {
    if (reply.capabilities?.[name] !== value) return `expected capability ${name} ${value}`;
  }
  return undefined;
}

/** Which ARM requests a call made, e.g. "token, GET disk, GET VM, PUT VM, 2× poll". */
function armSummary(requests: readonly LoggedRequest[]): string {
  const counts = new Map<string, number>();
  for (const request of requests) {
    const what =
      request.kind !== 'arm'
        ? request.kind
        : request.path.includes('/operations/')
          ? 'poll'
          : `${request.method} ${request.path.toLowerCase().includes('/disks/') ? 'disk' : 'VM'}`;
    counts.set(what, (counts.get(what) ?? 0) + 1);
  }
  return [...counts].map(([what, count]) => (count === 1 ? what : `${count}× ${what}`)).join(', ');
}

export interface DriverStep {
  from: Caller;
  reason: string;
  driver: string;
  args: string[];
  env?: NodeJS.ProcessEnv;
  expect: Expected;
}

/** Runs one driver call exactly as the kubelet does and prints it; a wrong reply ends the scene. */
export async function driverCall(story: Story, step: DriverStep): Promise<CallResult> {
  stopIfInterrupted(story);
  const armBefore = story.sim?.requests.length ?? 0;
  const commandLine = `     $ ${wrapText(`${step.driver} ${step.args.map((arg) => quoteArg(story, arg)).join(' ')}`, 9, 7)}`;
  const scene = story.scenes.at(-1);
  if (scene !== undefined) scene.calls++;
  let reply: CallResult;
  try {
    const call = story.sandbox.call(step.driver, step.args, step.env);
    story.inFlight = call.catch(() => undefined);
    reply = await call;
    stopIfInterrupted(story);
  } catch (error) {
    stopIfInterrupted(story);
    write(eventLine(story, 'Warning', step.reason, step.from));
    write(commandLine);
    return fail(story, `${step.driver} ${step.args[0]}: ${(error as Error).message}`);
  }
  const problem = mismatch(reply, step.expect);
  write(eventLine(story, problem === undefined ? 'Normal' : 'Warning', step.reason, step.from, reply.durationMs));
  write(commandLine);
  const arm = story.sim === undefined ? '' : armSummary(story.sim.requests.slice(armBefore));
  writeWrapped(5, shown(story, reply.output.trim()));
  if (arm !== '') writeWrapped(5, `ARM simulator: ${arm}`, dim);
  if (problem !== undefined) return fail(story, `${step.driver} ${step.args[0]}: ${problem}`);
  return reply;
}

/** Something the kubelet, the pod or Azure does itself, without the driver. */
export async function action<T>(story: Story, step: { from: Caller; reason: string; what: string }, work: () => T | Promise<T>): Promise<T> {
  stopIfInterrupted(story);
  const started = Date.now();
  try {
    const result = await work();
    write(eventLine(story, 'Normal', step.reason, step.from, Date.now() - started));
    writeWrapped(5, shown(story, step.what));
    return result;
  } catch (error) {
    write(eventLine(story, 'Warning', step.reason, step.from, Date.now() - started));
    writeWrapped(5, shown(story, step.what));
    return fail(story, `${step.reason}: ${(error as Error).message}`);
  }
}

/** A check the demo makes on what it saw; a false one fails the demo. */
export function check(story: Story, ok: boolean, text: string): void {
  write(`   ${ok ? green('✓') : red('✗')} ${wrapText(shown(story, text), 5)}`);
  if (!ok) fail(story, text);
}

function stopIfInterrupted(story: Story): void {
  if (story.interrupted) throw new SceneAborted('interrupted');
}

function fail(story: Story, text: string): never {
  story.failures.push(text);
  const scene = story.scenes.at(-1);
  if (scene !== undefined) scene.failures++;
  writeWrapped(5, shown(story, text), red);
  throw new SceneAborted(text);
}

export function eventsHeader(): void {
  write(dim(`  ${'Type'.padEnd(7)} ${'Reason'.padEnd(26)} ${'From'.padEnd(23)} ${'Age'.padStart(6)}  Took`));
}
