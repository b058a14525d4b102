// The child processes a driver call runs, read from its log ("run: <argv> → exit N"), and the same
// children run by hand (the reference that shows what a call costs beyond the tools it must run) or
// by a bare Node script through node:child_process (what any Node program pays to run them).
import * as fs from 'node:fs';
import { NODE } from './layout.ts';
import { addUsage, NO_USAGE, usageRun, type Usage } from './measure.ts';

export interface LoggedChild {
  argv: string[];
  exitCode: number;
}

const RUN_LINE = /\] run: (.+?)(?: env\[[^\]]*\])? → exit (\d+) \(/;

export function logSize(file: string): number {
  try {
    return fs.statSync(file).size;
  } catch {
    return 0;
  }
}

/**
 * What the calls logged after `offset` ran, in order. The driver logs argv joined by spaces; the
 * benchmark's paths and options have none, so splitting gives the argv back.
 */
export function childrenLoggedSince(file: string, offset: number): LoggedChild[] {
  const text = fs.readFileSync(file).subarray(offset).toString('utf8');
  return text.split('\n').flatMap((line) => {
    const match = RUN_LINE.exec(line);
    return match ? [{ argv: (match[1] ?? '').split(' '), exitCode: Number(match[2]) }] : [];
  });
}

export const describeChildren = (children: readonly LoggedChild[]): string =>
  children.length === 0 ? 'no child process' : children.map((child) => child.argv[0]).join(' + ');

/** Runs the children one after another, as the driver does, each ending as it did for the driver. */
export function runByHand(childUsage: string, report: string, children: readonly LoggedChild[], env: NodeJS.ProcessEnv): Usage {
  return children.reduce(
    (total, { argv: [command = '', ...args], exitCode }) => addUsage(total, usageRun(childUsage, report, { command, args, env, exitCode })),
    NO_USAGE,
  );
}

/**
 * The children run in turn by the same pinned Node through node:child_process, each ending as it
 * did for the driver: a bare start, the module's load and a spawn per child, and nothing else.
 */
const SPAWN_IN_TURN = `const { spawn } = require('node:child_process');
const children = JSON.parse(process.argv[1]);
(function next(i) {
  if (i === children.length) return;
  const [command, ...args] = children[i].argv;
  spawn(command, args, { stdio: 'ignore' }).on('exit', (code) => (code === children[i].exitCode ? next(i + 1) : process.exit(1)));
})(0);`;

export function runThroughNode(childUsage: string, report: string, children: readonly LoggedChild[], env: NodeJS.ProcessEnv): Usage {
  return usageRun(childUsage, report, { command: NODE, args: ['-e', SPAWN_IN_TURN, JSON.stringify(children)], env });
}
