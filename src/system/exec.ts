// Child processes: argument arrays only (no shell), bounded time, output captured into the log and
// never inherited by the caller's stdout/stderr. Secrets go in through `env` or files, never argv.
import { DriverError } from '../flexvolume/errors.ts';
import { log } from './log.ts';

/** Under `env -i` (a minimal controller-manager image) there is no PATH; tools live here. */
export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export interface RunOptions {
  timeoutMs?: number;
  /** Added to the inherited environment; names are logged, values never. */
  env?: Record<string, string>;
  input?: string;
}

export interface RunResult {
  command: string;
  exitCode: number;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

const DEFAULT_TIMEOUT_MS = 120_000;

export async function run(command: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  const started = Date.now();
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const described = [command, ...args].join(' ');
  // Loaded on first use: calls that run no command (isattached, bad input) skip its start-up cost.
  const { execa } = await import('execa');
  const result = await execa(command, args, {
    env: { PATH: process.env.PATH || DEFAULT_PATH, ...options.env },
    stdin: options.input === undefined ? 'ignore' : 'pipe',
    ...(options.input === undefined ? {} : { input: options.input }),
    stdout: 'pipe',
    stderr: 'pipe',
    reject: false,
    timeout: timeoutMs,
    forceKillAfterDelay: 2000,
    stripFinalNewline: true,
  });
  const exitCode = result.exitCode ?? (result.timedOut ? 124 : 127);
  const envNote = options.env ? ` env[${Object.keys(options.env).join(',')}]` : '';
  const status = result.timedOut ? `timed out after ${timeoutMs} ms` : `exit ${exitCode}`;
  const output = [result.stdout, result.stderr].filter((text) => text !== '').join('\n');
  log(`run: ${described}${envNote} → ${status} (${Date.now() - started} ms)${output ? `\n${output}` : ''}`);
  if (result.code === 'ENOENT') {
    throw new DriverError(`${command} is not installed on this node (not found in PATH ${process.env.PATH || DEFAULT_PATH})`);
  }
  return { command: described, exitCode, stdout: result.stdout, stderr: result.stderr, timedOut: result.timedOut };
}

/** Runs a command that must succeed; the error carries what the command itself said. */
export async function runChecked(command: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  const result = await run(command, args, options);
  if (result.timedOut) throw new DriverError(`${command} did not finish within ${(options.timeoutMs ?? DEFAULT_TIMEOUT_MS) / 1000} s`);
  if (result.exitCode !== 0) throw new DriverError(`${command} failed (exit ${result.exitCode}): ${lastLine(result)}`);
  return result;
}

export function lastLine(result: RunResult): string {
  const text = (result.stderr || result.stdout).trim();
  return text.split('\n').pop() || 'no output';
}
