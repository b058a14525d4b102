// Child processes: argument arrays only (no shell), bounded time, output captured into the log and
// never inherited by the caller's stdout/stderr. Secrets go in through `env` or files, never argv.
//
// Built on node:child_process, not execa. Measured on this 2 vCPU machine with the pinned Node 24
// (40 spawns of /bin/true, after 3 warm-up ones, 3 runs): importing execa costs 56–69 ms against
// 2 ms for node:child_process, and a spawn 2.2–3.4 ms against 1.5–1.9 ms. execa also waits for the
// output pipes to close, which a mount helper's background process can hold open for ever.
//
// Output goes to unlinked temporary files, not pipes: the wait ends when the child exits, whoever
// still holds its stdout (a daemon a mount helper forked), and a child the driver leaves behind
// when it is killed (mkfs) keeps writing without dying of SIGPIPE.
//
// node:child_process is loaded on the first spawn, not with this module: it brings node:net,
// node:dgram and the streams with it (~7 ms of a call's start), and the calls the kubelet and the
// controller-manager make most (isattached, waitforattach, getvolumename) spawn nothing.
import type { ChildProcess, StdioOptions } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DriverError } from '../flexvolume/errors.ts';
import { entryPath } from './entry-path.ts';
import { coverChildInHeldLocks } from './lock.ts';
import { log } from './log.ts';
import { noteProgress, onCallStopped } from './progress.ts';
import { identityOf, uniqueName } from './process-identity.ts';
import { isGroupAlive } from './processes.ts';

/** Under `env -i` (a minimal controller-manager image) there is no PATH; tools live here. */
export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export interface RunOptions {
  timeoutMs?: number;
  /** Added to the inherited environment; names are logged, values never. */
  env?: Record<string, string>;
  input?: string;
  /**
   * stdout is a secret (a decrypted private key): it is read through a pipe into memory, never
   * into a file, and never logged.
   */
  secretOutput?: boolean;
}

export interface RunResult {
  command: string;
  exitCode: number;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

const DEFAULT_TIMEOUT_MS = 120_000;
const KILL_GRACE_MS = 2000;
/** After the child's exit, how long a pipe may still deliver what the child wrote before it. */
const PIPE_DRAIN_MS = 200;
/** How often a timed-out child's process group is looked at until it is gone. */
const GROUP_POLL_MS = 20;
const MAX_CAPTURE_BYTES = 4 * 1024 * 1024;

/**
 * Children that change a filesystem: when the driver is stopped (SIGTERM) they are left to finish,
 * because a half-written filesystem or a repair cut short is worse than a finished one, and the
 * lock they are registered in keeps a retry off the device until they end. Any other child (probes,
 * mount, openssl) is terminated: a retry simply runs it again.
 *
 * Every child runs in a session of its own, so a signal sent to the driver's process group does
 * not reach it, and stopping a child stops what it started: mount(8) forks mount.nfs or mount.cifs,
 * which, left running, would mount after the call has answered Failure (and a retry on top).
 */
const FINISH_WHEN_ABANDONED = /^(mkfs(\..+)?|mke2fs|mkfs\.xfs|fsck(\..+)?|e2fsck|xfs_repair|resize2fs|xfs_growfs)$/;

interface Running {
  child: ChildProcess;
  described: string;
  finish: boolean;
}

const running = new Set<Running>();

/** A file that only this process's descriptors reach: unlinked before anything is written to it. */
function anonymousFile(): number {
  const file = entryPath(os.tmpdir(), `.azure-flexvolume-${uniqueName()}`);
  const { O_RDWR, O_CREAT, O_EXCL, O_NOFOLLOW } = fs.constants;
  const fd = fs.openSync(file, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW, 0o600);
  fs.unlinkSync(file);
  return fd;
}

/** Where one output stream of a child goes, and how it is read back once the child has exited. */
interface Capture {
  stdio: 'pipe' | number;
  attach(stream: NodeJS.ReadableStream | null): void;
  read(): Promise<string>;
}

function fileCapture(): Capture {
  let fd: number;
  try {
    fd = anonymousFile();
  } catch (error) {
    log(`no temporary file in ${os.tmpdir()} for a child's output (${(error as NodeJS.ErrnoException).code}); using a pipe`);
    return pipeCapture();
  }
  return {
    stdio: fd,
    attach: () => undefined,
    async read() {
      try {
        const size = Math.min(fs.fstatSync(fd).size, MAX_CAPTURE_BYTES);
        const buffer = Buffer.alloc(size);
        fs.readSync(fd, buffer, 0, size, 0);
        return buffer.toString('utf8');
      } finally {
        fs.closeSync(fd);
      }
    },
  };
}

function pipeCapture(): Capture {
  const chunks: Buffer[] = [];
  let stream: NodeJS.ReadableStream | null = null;
  return {
    stdio: 'pipe',
    attach(readable) {
      stream = readable;
      readable?.on('data', (chunk: Buffer) => chunks.push(chunk));
    },
    async read() {
      const open = stream as (NodeJS.ReadableStream & { destroy(): void; readableEnded: boolean }) | null;
      if (open !== null && !open.readableEnded) {
        // What the child wrote before it exited arrives within moments; a process it left behind
        // holding the pipe is not waited for.
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, PIPE_DRAIN_MS);
          open.once('end', () => {
            clearTimeout(timer);
            resolve();
          });
        });
        open.destroy();
      }
      return Buffer.concat(chunks).toString('utf8');
    },
  };
}

/** The inherited environment minus Node's own options, which must not reach a child that is a Node program. */
function childEnvironment(extra: Record<string, string> | undefined): NodeJS.ProcessEnv {
  const { NODE_OPTIONS: _ignored, ...inherited } = process.env;
  return { ...inherited, PATH: process.env.PATH || DEFAULT_PATH, ...extra };
}

interface Exit {
  code: number | null;
  spawnError: NodeJS.ErrnoException | undefined;
  timedOut: boolean;
}

/** Sends `signal` to the child and to every process it started (its process group). */
function signalGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // The group is gone.
  }
}

/**
 * Waits for the child's exit (not for its pipes), killing it and what it started when `timeoutMs`
 * is up; then also for those to be gone, so nothing it started acts after the call has given up.
 */
function waitForExit(child: ChildProcess, timeoutMs: number): Promise<Exit> {
  return new Promise((resolve) => {
    let timedOut = false;
    let spawnError: NodeJS.ErrnoException | undefined;
    let exitCode: number | null = null;
    let settled = false;
    const timers: NodeJS.Timeout[] = [];
    const done = () => {
      settled = true;
      for (const timer of timers) clearTimeout(timer);
      resolve({ code: exitCode, spawnError, timedOut });
    };
    const whenGroupGone = () => {
      if (settled) return;
      if (child.pid !== undefined && isGroupAlive(child.pid)) timers.push(setTimeout(whenGroupGone, GROUP_POLL_MS));
      else done();
    };
    timers.push(
      setTimeout(() => {
        timedOut = true;
        signalGroup(child, 'SIGTERM');
        timers.push(setTimeout(() => signalGroup(child, 'SIGKILL'), KILL_GRACE_MS));
        // A process stuck in the kernel may not even die of SIGKILL; the call's bound still holds.
        timers.push(setTimeout(done, 2 * KILL_GRACE_MS));
      }, timeoutMs),
    );
    child.once('error', (error: NodeJS.ErrnoException) => {
      spawnError = error;
      if (child.pid === undefined) done();
    });
    child.once('exit', (code, signal) => {
      exitCode = code ?? (signal === null ? null : 128 + (os.constants.signals[signal] ?? 0));
      if (timedOut) whenGroupGone();
      else done();
    });
  });
}

export async function run(command: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  const started = Date.now();
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const described = [command, ...args].join(' ');
  const finish = FINISH_WHEN_ABANDONED.test(path.basename(command));
  const stdout = options.secretOutput ? pipeCapture() : fileCapture();
  const stderr = fileCapture();
  const stdio: StdioOptions = [options.input === undefined ? 'ignore' : 'pipe', stdout.stdio, stderr.stdio];
  const child = process.getBuiltinModule('node:child_process').spawn(command, args, { env: childEnvironment(options.env), stdio, detached: true });
  const entry: Running = { child, described, finish };
  const name = path.basename(command);
  let stepDone: ((outcome: string) => void) | undefined;
  if (child.pid !== undefined) {
    // Registered at once, so that a lock this process holds stays held while the child lives,
    // even when this process is killed right now.
    const identity = identityOf(child.pid);
    if (identity !== undefined) coverChildInHeldLocks(identity);
    running.add(entry);
    stepDone = noteProgress(`started ${name} (pid ${child.pid})`);
  }
  stdout.attach(child.stdout);
  stderr.attach(child.stderr);
  child.stdin?.on('error', () => undefined);
  child.stdin?.end(options.input);
  const exit = await waitForExit(child, timeoutMs);
  running.delete(entry);
  const [out, err] = await Promise.all([stdout.read(), stderr.read()]);
  const result: RunResult = {
    command: described,
    exitCode: exit.code ?? (exit.timedOut ? 124 : 127),
    stdout: out.replace(/\n$/, ''),
    stderr: err.replace(/\n$/, ''),
    timedOut: exit.timedOut,
  };
  logRun(result, options, timeoutMs, Date.now() - started);
  if (exit.spawnError?.code === 'ENOENT') {
    throw new DriverError(`${command} is not installed on this node (not found in PATH ${process.env.PATH || DEFAULT_PATH})`);
  }
  if (exit.spawnError !== undefined && child.pid === undefined) throw new DriverError(`${command} could not be started: ${exit.spawnError.message}`);
  stepDone?.(`ran ${name}: ${result.timedOut ? 'timed out' : `exit ${result.exitCode}`}`);
  return result;
}

function logRun(result: RunResult, options: RunOptions, timeoutMs: number, elapsedMs: number): void {
  const envNote = options.env ? ` env[${Object.keys(options.env).join(',')}]` : '';
  const status = result.timedOut ? `timed out after ${timeoutMs} ms` : `exit ${result.exitCode}`;
  const stdout = options.secretOutput && result.stdout !== '' ? '(stdout withheld: it holds a secret)' : result.stdout;
  const output = [stdout, result.stderr].filter((text) => text !== '').join('\n');
  log(`run: ${result.command}${envNote} → ${status} (${elapsedMs} ms)${output ? `\n${output}` : ''}`);
}

/**
 * What becomes of the children still running when the driver is stopped: filesystem writers are
 * left to finish (see FINISH_WHEN_ABANDONED), the rest are sent SIGTERM.
 */
onCallStopped(() =>
  [...running].map(({ child, described, finish }) => {
    if (!finish) signalGroup(child, 'SIGTERM');
    return `${described} (pid ${child.pid}) ${finish ? 'left to finish' : 'terminated'}`;
  }),
);

/** Runs a command that must succeed; the error carries what the command itself said. */
export async function runChecked(command: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  const result = await run(command, args, options);
  if (result.timedOut) throw new DriverError(`${command} did not finish within ${(options.timeoutMs ?? DEFAULT_TIMEOUT_MS) / 1000} s`);
  if (result.exitCode !== 0) throw new DriverError(`${command} failed (exit ${result.exitCode}): ${lastLine(result)}`);
  return result;
}

/** Lines tools add to every failure that say nothing about this one. */
const GENERIC_LINES: RegExp[] = [
  /dmesg\(1\) may have more information after failed mount/i,
  /^Refer to the mount\.cifs\(8\) manual page/i,
  /^mount: \(hint\)/i,
  /^(mke2fs|e2fsck|resize2fs|tune2fs|fsck from util-linux) [\d.]+( \(.*\))?$/,
];
const MAX_REASON_LINES = 6;

/** The lines of a child's output that say why it failed: stderr's, else stdout's, without boilerplate. */
export function meaningfulLines(result: RunResult): string[] {
  const pick = (text: string) =>
    text
      .split('\n')
      .map((line) => line.trim())
      .filter((line) => line !== '' && !GENERIC_LINES.some((pattern) => pattern.test(line)));
  const lines = pick(result.stderr);
  return (lines.length > 0 ? lines : pick(result.stdout)).slice(-MAX_REASON_LINES);
}

const CIFS_TYPES = /^(cifs|smb3?)$/;

/** For the failures an operator meets most, what to do about them. */
export function adviceFor(result: RunResult): string | undefined {
  const text = `${result.stderr}\n${result.stdout}`;
  const fsType = /(?:^| )-t (\S+)/.exec(result.command)?.[1] ?? '';
  const unknownType = /unknown filesystem type '([^']+)'|you might need a \/sbin\/mount\.<type> helper/.exec(text);
  if (unknownType) {
    const type = unknownType[1] ?? fsType;
    if (type.startsWith('nfs')) return 'install the NFS client on the node (nfs-common on Debian and Ubuntu, nfs-utils elsewhere)';
    if (CIFS_TYPES.test(type)) return 'install the SMB client on the node (cifs-utils)';
    return `the node's kernel or tools do not support ${type || 'this filesystem'}; install its tools or pick another fsType`;
  }
  if (/mount error\(13\)/.test(text)) {
    return 'the storage account key was rejected: it was rotated, or it belongs to another account; put the current key in the Kubernetes secret';
  }
  if (/mount error\((115|110|112)\)/.test(text) || (CIFS_TYPES.test(fsType) && /timed out/i.test(text))) {
    return 'the node cannot reach the file server on port 445, which networks and ISPs often block; open TCP 445 from the node to the storage account, or use a private endpoint';
  }
  if (/mount error\(2\)/.test(text)) return 'the share does not exist on that storage account; check shareName and the account name';
  if (/access denied by server/i.test(text)) {
    return "the NFS server refuses this node: check the export's allowed clients (for Azure storage, the account's virtual network rules)";
  }
  if (/No route to host/i.test(text)) return 'the node has no route to the server: check its address, the routes and the network security groups';
  if (/Connection refused/i.test(text)) return 'nothing accepts connections on the server (NFS uses TCP 2049): check that the service runs and the port is open';
  if (/Connection timed out/i.test(text)) return 'the server did not answer: check its address and that a firewall lets the node reach it';
  return undefined;
}

/** Why a child failed, for a reply: its meaningful lines on one line, and what to do when that is known. */
export function lastLine(result: RunResult): string {
  const lines = meaningfulLines(result);
  const reason = lines.length > 0 ? lines.join('; ') : result.timedOut ? 'timed out' : 'no output';
  const advice = adviceFor(result);
  return advice === undefined ? reason : `${reason}. What to do: ${advice}`;
}
