// Everything but the entry (the stdio guard and the `init` fast path) is built into parts, each a
// bundle of its own loaded on first use, so that a call pays only for what it runs: a kubelet call
// loads the call table and its one driver, never commander, the operator commands or the Azure
// SDK unless it needs them. A single 2 MB script costs every call ~10 ms of V8 work before the
// first line runs, and decoding it as UTF-8 another 4. Each part comes with V8 code cache made
// at build time by the same Node, so loading one does not compile it either.
//
// The build (esbuild.config.mjs) links the parts: a module lives in exactly one of them (the build
// checks it), a part requires the modules of the entry as `flexvolume:<path>` and those of another
// part as `flexvolume-part:<part>:<path>`, and each part's bundle exports all of its modules by
// path. The modules this entry bundle already contains are handed to the parts instead of being
// bundled twice (the build checks that the list below matches): the log, the stdio guard and the
// error classes hold state or identity that must be one.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as sea from 'node:sea';
import * as vm from 'node:vm';
import type * as Cli from './cli.ts';
import type * as KubeletCall from './flexvolume/kubelet-call.ts';
import * as identity from './drivers/identity.ts';
import * as driver from './flexvolume/driver.ts';
import * as errors from './flexvolume/errors.ts';
import * as reply from './flexvolume/reply.ts';
import * as invocation from './invocation.ts';
import * as settings from './settings.ts';
import * as entryPath from './system/entry-path.ts';
import * as log from './system/log.ts';
import * as progress from './system/progress.ts';
import * as stdioGuard from './system/stdio-guard.ts';

/** Source path (relative to src/) → the instance this bundle holds; the parts require `flexvolume:<path>`. */
export const SHARED_MODULES: Readonly<Record<string, unknown>> = {
  'drivers/identity.ts': identity,
  'flexvolume/driver.ts': driver,
  'flexvolume/errors.ts': errors,
  'flexvolume/reply.ts': reply,
  'invocation.ts': invocation,
  'settings.ts': settings,
  'system/entry-path.ts': entryPath,
  'system/log.ts': log,
  'system/progress.ts': progress,
  'system/stdio-guard.ts': stdioGuard,
};

/**
 * The parts in build order. A part bundles its entry, the extra modules listed in `include` (ones
 * several later parts use, which must not be bundled twice) and whatever they import that no
 * earlier part holds; it loads a later part only through that part's entry, which the kubelet calls
 * reach by dynamic import. Paths are relative to the repository root.
 */
export const PARTS = {
  /**
   * A kubelet call: the call table, the system tools, and every driver's options with zod/mini (the
   * nfs and azurefile drivers are small enough to come along; their schemas are built on first use).
   */
  core: {
    entry: 'src/flexvolume/kubelet-call.ts',
    include: ['src/drivers/nfs.ts', 'src/drivers/azurefile.ts', 'src/drivers/azuredisk/options.ts', 'src/system/exec.ts', 'src/system/state.ts'],
  },
  /** The azuredisk driver but its options: finding the LUN, formatting, mounting, the controller side. */
  azuredisk: { entry: 'src/drivers/azuredisk/index.ts', include: [] },
  /** The Azure SDK and what talks to ARM, for attach, detach and isattached. */
  azure: { entry: 'src/azure/arm-session.ts', include: [] },
  /** commander, the help, doctor and install: a person's commands and any call with flags. */
  cli: { entry: 'src/cli.ts', include: [] },
  /** The external provisioner (a long-running pod) with the Kubernetes client: no driver call loads it. */
  provisioner: { entry: 'src/provisioner/main.ts', include: [] },
} as const satisfies Record<string, { entry: string; include: readonly string[] }>;

export type PartName = keyof typeof PARTS;

/**
 * Packages a part bundles a copy of rather than take from the part that holds them: a module
 * handed across parts must be built as a namespace object of every export (zod's cost 2 ms more
 * to load than the library itself). Only for libraries whose values work across copies: a zod
 * schema parses through its own internals, so the provisioner's schemas may hold the drivers'
 * pieces (a server name, a caseless enum) that the core part's copy built. Each copy keeps its
 * own configuration: the core part's runs without zod's JIT, the provisioner's with it.
 */
export const COPIED_PACKAGES = ['zod'] as const;

export const PART_NAMES = Object.keys(PARTS) as PartName[];
export const partBundle = (part: PartName): string => `flexvolume-${part}.cjs`;
export const partCodeCache = (part: PartName): string => `flexvolume-${part}.cache`;
/** Every file the parts are built into, beside the entry bundle (and assets of the single executable). */
export const PART_FILES = PART_NAMES.flatMap((part) => [partBundle(part), partCodeCache(part)]);
/** A part is one function expression, compiled the same way at build time and here. */
export const PART_PARAMETERS = ['exports', 'require', 'module'] as const;
export const SHARED_PREFIX = 'flexvolume:';
export const PART_PREFIX = 'flexvolume-part:';
/** What a part's bundle exports: its modules' namespaces by path. */
export const PART_MODULES = 'modules';

function readPart(name: string): Buffer | undefined {
  try {
    return sea.isSea() ? Buffer.from(sea.getAsset(name)) : fs.readFileSync(path.join(__dirname, name));
  } catch {
    return undefined;
  }
}

function isPartName(name: string): name is PartName {
  return Object.hasOwn(PARTS, name);
}

/** A Node built-in, as `require` gives it; parts require nothing else (a single executable could not). */
function requireBuiltin(id: string): unknown {
  const builtin = process.getBuiltinModule(id);
  if (builtin !== undefined) return builtin;
  throw Object.assign(new Error(`Cannot find module '${id}'`), { code: 'MODULE_NOT_FOUND' });
}

type PartFactory = (exports: object, require: (id: string) => unknown, module: { exports: object }) => void;

export interface PartLoader {
  /** A part's modules by path, the part and those it requires loaded on first use. */
  load(part: PartName): Readonly<Record<string, unknown>>;
  /** The scripts loaded so far: the build makes their code cache once they have run. */
  scripts(): ReadonlyMap<PartName, vm.Script>;
}

/** Loads and links the parts; `read` gives a file of the build (a part, a code cache) by name. */
export function createPartLoader(read: (name: string) => Buffer | undefined): PartLoader {
  const loaded = new Map<PartName, { modules: Readonly<Record<string, unknown>>; script: vm.Script }>();

  /** `flexvolume:<src path>` from the entry bundle, `flexvolume-part:<part>:<path>` from a part. */
  function requireModule(id: string): unknown {
    if (id.startsWith(SHARED_PREFIX)) return SHARED_MODULES[id.slice(SHARED_PREFIX.length)];
    if (!id.startsWith(PART_PREFIX)) return requireBuiltin(id);
    const [part = '', ...rest] = id.slice(PART_PREFIX.length).split(':');
    const source = rest.join(':');
    if (!isPartName(part)) throw new Error(`${id}: no part named ${part}; rebuild the driver`);
    const module = load(part)[source];
    if (module === undefined) throw new Error(`${id}: ${partBundle(part)} has no module ${source}; rebuild the driver`);
    return module;
  }

  function load(part: PartName): Readonly<Record<string, unknown>> {
    const done = loaded.get(part);
    if (done !== undefined) return done.modules;
    const name = partBundle(part);
    const code = read(name);
    if (code === undefined) throw new Error(`${name} is missing beside the executable; rebuild it`);
    const cachedData = read(partCodeCache(part));
    const script = new vm.Script(code.toString('utf8'), { filename: name, ...(cachedData ? { cachedData } : {}) });
    if (script.cachedDataRejected === true) log.log(`${partCodeCache(part)} was rejected by V8; compiling ${name} instead`);
    const module = { exports: {} as Record<string, unknown> };
    (script.runInThisContext() as PartFactory)(module.exports, requireModule, module);
    const modules = module.exports[PART_MODULES] as Record<string, unknown>;
    loaded.set(part, { modules, script });
    return modules;
  }

  return { load, scripts: () => new Map([...loaded].map(([part, { script }]) => [part, script])) };
}

const parts = createPartLoader(readPart);

export function loadCli(): typeof Cli {
  return parts.load('cli')[PARTS.cli.entry] as typeof Cli;
}

export function loadKubeletCall(): typeof KubeletCall {
  return parts.load('core')[PARTS.core.entry] as typeof KubeletCall;
}
