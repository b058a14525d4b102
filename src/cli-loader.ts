// Everything but the `init` fast path (commander, zod, the drivers, the Azure SDK: about
// 2 MB) is built into a second bundle, so that `init` does not pay to load it: a single 2 MB
// script costs every call ~10 ms of V8 work before the first line runs. The second bundle comes
// with V8 code cache made at build time by the same Node, so the calls that load it do not
// compile it either.
//
// The modules this entry bundle already contains are handed to the second bundle instead of
// being bundled twice (the build checks that the list below matches): the log, the stdio guard
// and the error classes hold state or identity that must be one.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as sea from 'node:sea';
import * as vm from 'node:vm';
import type * as Cli from './cli.ts';
import * as identity from './drivers/identity.ts';
import * as driver from './flexvolume/driver.ts';
import * as errors from './flexvolume/errors.ts';
import * as reply from './flexvolume/reply.ts';
import * as invocation from './invocation.ts';
import * as settings from './settings.ts';
import * as log from './system/log.ts';
import * as progress from './system/progress.ts';
import * as stdioGuard from './system/stdio-guard.ts';

/** Source path (relative to src/) → the instance this bundle holds; the second bundle requires `flexvolume:<path>`. */
export const SHARED_MODULES: Readonly<Record<string, unknown>> = {
  'drivers/identity.ts': identity,
  'flexvolume/driver.ts': driver,
  'flexvolume/errors.ts': errors,
  'flexvolume/reply.ts': reply,
  'invocation.ts': invocation,
  'settings.ts': settings,
  'system/log.ts': log,
  'system/progress.ts': progress,
  'system/stdio-guard.ts': stdioGuard,
};

export const CLI_BUNDLE = 'flexvolume-cli.cjs';
export const CLI_CODE_CACHE = 'flexvolume-cli.cache';
/**
 * The second bundle is one function expression, compiled the same way at build time and here.
 * `__dirname` is the entry's, so a bundle can load the next one from beside the executable.
 */
export const CLI_PARAMETERS = ['exports', 'require', 'module', '__dirname'] as const;

function readPart(name: string): Buffer | undefined {
  try {
    return sea.isSea() ? Buffer.from(sea.getAsset(name)) : fs.readFileSync(path.join(__dirname, name));
  } catch {
    return undefined;
  }
}

export function loadCli(): typeof Cli {
  return loadBundle<typeof Cli>(CLI_BUNDLE, CLI_CODE_CACHE);
}

/** Runs a bundle built as one function expression (see esbuild.config.mjs) and returns its exports. */
export function loadBundle<Exports>(bundle: string, codeCache?: string): Exports {
  const code = readPart(bundle);
  if (code === undefined) throw new Error(`${bundle} is missing beside the executable; rebuild it`);
  const cachedData = codeCache === undefined ? undefined : readPart(codeCache);
  const script = new vm.Script(code.toString('utf8'), { filename: bundle, ...(cachedData ? { cachedData } : {}) });
  if (script.cachedDataRejected === true) log.log(`${codeCache} was rejected by V8; compiling ${bundle} instead`);
  const factory = script.runInThisContext() as (exports: object, require: (id: string) => unknown, module: { exports: object }, dirname: string) => void;
  const module = { exports: {} };
  factory(module.exports, (id) => (id.startsWith('flexvolume:') ? SHARED_MODULES[id.slice('flexvolume:'.length)] : require(id)), module, __dirname);
  return module.exports as Exports;
}
