// How the demo tells its story: each driver call as the event a `kubectl describe` would show
// (type, reason, who called, when), then the exact command line and the driver's JSON reply, with
// its duration and, for azuredisk, the ARM requests it made. A reply other than the expected one
// is a Warning, counts as a failure of the demo and ends the scene.
import type { ArmSimulator, LoggedRequest } from '../test/arm-simulator/index.ts';
import type { CallResult } from '../test/helpers/kubelet.ts';
import type { Sandbox } from '../test/helpers/sandbox.ts';

const color = process.stdout.isTTY === true && process.env.NO_COLOR === undefined;
const paint = (code: string, text: string): string => (color ? `\x1b[${code}m${text}\x1b[0m` : text);
export const bold = (text: string): string => paint('1', text);
const green = (text: string): string => paint('32', text);
const red = (text: string): string => paint('31', text);
const dim = (text: string): string => paint('2', text);

export type Caller = 'kubelet' | 'kube-controller-manager' | 'pod';

export interface Expected {
  status: 'Success' | 'Not supported' | 'Failure';
  device?: string;
  attached?: boolean;
  capabilities?: Record<string, boolean>;
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
}

/** Thrown to end a scene whose step went wrong; already printed and counted. */
export class SceneAborted extends Error {}

function write(line: string): void {
  process.stdout.write(`${line}\n`);
}

export function heading(text: string): void {
  write(`\n${bold(`== ${text}`)}`);
}

export function note(text: string): void {
  write(`   ${text}`);
}

export function skipped(text: string): void {
  write(`   ${paint('33', 'skipped:')} ${text}`);
}

/** Paths under the sandbox are shown relative to it, so lines stay readable. */
export function shown(story: Story, text: string): string {
  return text.split(story.sandbox.dir).join('$SANDBOX');
}

function quoteArg(story: Story, arg: string): string {
  const text = shown(story, arg);
  if (!text.startsWith('{')) return text === '' ? "''" : text;
  return `'${text.length > 150 ? `${text.slice(0, 149)}…` : text}'`;
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

/** Which ARM requests a call made, e.g. "1 token, GET disk, GET VM, PUT VM, 2 polls". */
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
  const commandLine = `     $ ${step.driver} ${step.args.map((arg) => quoteArg(story, arg)).join(' ')}`;
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
  write(`     ${shown(story, reply.output.trim())}${arm === '' ? '' : dim(`   ARM: ${arm}`)}`);
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
    write(`     ${shown(story, step.what)}`);
    return result;
  } catch (error) {
    write(eventLine(story, 'Warning', step.reason, step.from, Date.now() - started));
    write(`     ${shown(story, step.what)}`);
    return fail(story, `${step.reason}: ${(error as Error).message}`);
  }
}

/** A check the demo makes on what it saw; a false one fails the demo. */
export function check(story: Story, ok: boolean, text: string): void {
  write(`   ${ok ? green('✓') : red('✗')} ${shown(story, text)}`);
  if (!ok) fail(story, text);
}

function stopIfInterrupted(story: Story): void {
  if (story.interrupted) throw new SceneAborted('interrupted');
}

function fail(story: Story, text: string): never {
  story.failures.push(text);
  write(`     ${red(shown(story, text))}`);
  throw new SceneAborted(text);
}

export function eventsHeader(): void {
  write(dim(`  ${'Type'.padEnd(7)} ${'Reason'.padEnd(26)} ${'From'.padEnd(23)} ${'Age'.padStart(6)}  Took`));
}
