// How this process was started: under which name (which picks the driver, like busybox), from
// which path (the driver's config file sits beside it), and with which arguments.
import * as path from 'node:path';
import { isSea } from 'node:sea';

export interface Invocation {
  /** The path the kubelet executed, e.g. `<plugin dir>/azure~nfs/nfs`. */
  executablePath: string;
  /** The executable's own name without extension: `nfs`, `azuredisk`, or anything else. */
  invokedAs: string;
  args: string[];
}

export function readInvocation(): Invocation {
  if (isSea()) {
    // argv0 keeps the name the binary was started under even through a symlink; execPath would not.
    const started = process.argv0;
    const executablePath = started.includes('/') ? path.resolve(started) : process.execPath;
    return { executablePath, invokedAs: path.basename(started), args: process.argv.slice(2) };
  }
  const script = process.argv[1] ?? '';
  return {
    executablePath: script,
    invokedAs: path.basename(script).replace(/\.(c?js|ts)$/, ''),
    args: process.argv.slice(2),
  };
}

export const VERSION = process.env.FLEXVOLUME_BUILD_VERSION ?? 'dev';
