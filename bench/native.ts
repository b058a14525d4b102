// The benchmark's two small C programs, compiled at bench time with the machine's cc into the
// bench's temp dir (never committed as binaries): the static floor, and the runner that reports a
// child's wall and CPU time.
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { run } from './measure.ts';

const SOURCES = fileURLToPath(new URL('./native/', import.meta.url));

export interface Native {
  /** A static program that only exits: the least a process can cost. */
  floor: string;
  /** `child-usage REPORT COMMAND...`: see bench/native/child-usage.c. */
  childUsage: string;
}

function compile(dir: string, name: string): string {
  const output = path.join(dir, name);
  run('cc', ['-static', '-O2', '-o', output, path.join(SOURCES, `${name}.c`)]);
  return output;
}

export function compileNative(dir: string): Native {
  return { floor: compile(dir, 'floor'), childUsage: compile(dir, 'child-usage') };
}
