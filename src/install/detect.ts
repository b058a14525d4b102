// Which plugin directory the host's kubelet and kube-controller-manager really use, read from their
// command lines and the kubelet's config files under a /proc that may be the host's one mounted
// into the installer's container. Each is then checked through that process's own root, so a
// directory that only exists inside the installer's container (a missing hostPath) is caught too.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { KUBELET_DEFAULT_PLUGIN_DIR } from './presets.ts';

export type Consumer = 'kubelet' | 'kube-controller-manager';

export interface PluginDirUser {
  process: Consumer;
  pid: number;
  pluginDir: string;
  /** Where the value came from, for the operator: a flag, a config file, or the default. */
  origin: string;
  /** The process's view of the filesystem: `<proc>/<pid>/root`. */
  root: string;
}

interface CommandLine {
  pid: number;
  program: string;
  args: string[];
}

function readCommandLines(procRoot: string): CommandLine[] {
  let entries: string[];
  try {
    entries = fs.readdirSync(procRoot).filter((name) => /^\d+$/.test(name));
  } catch {
    return [];
  }
  const lines: CommandLine[] = [];
  for (const entry of entries) {
    let argv: string[];
    try {
      argv = fs.readFileSync(path.join(procRoot, entry, 'cmdline'), 'utf8').split('\0');
    } catch {
      continue;
    }
    if (argv.at(-1) === '') argv.pop();
    const [first = '', ...rest] = argv;
    // hyperkube runs every component as `hyperkube <component> ...`.
    const hyperkube = path.basename(first) === 'hyperkube';
    const program = hyperkube ? (rest[0] ?? '') : path.basename(first);
    lines.push({ pid: Number(entry), program, args: hyperkube ? rest.slice(1) : rest });
  }
  return lines;
}

/** The last value of a Go-style flag, given as `--name=value` or `--name value`. */
export function flagValue(args: readonly string[], name: string): string | undefined {
  let value: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string;
    if (arg === `--${name}` || arg === `-${name}`) value = args[++i];
    else if (arg.startsWith(`--${name}=`) || arg.startsWith(`-${name}=`)) value = arg.slice(arg.indexOf('=') + 1);
  }
  return value;
}

/**
 * `volumePluginDir` from a KubeletConfiguration, JSON or YAML. Only a top-level scalar is read, so a
 * few lines do instead of a YAML library in every driver call's bundle.
 */
export function volumePluginDirOf(configText: string): string | undefined {
  const text = configText.trim();
  if (text.startsWith('{')) {
    try {
      const value = (JSON.parse(text) as { volumePluginDir?: unknown }).volumePluginDir;
      return typeof value === 'string' && value !== '' ? value : undefined;
    } catch {
      return undefined;
    }
  }
  let found: string | undefined;
  for (const line of text.split('\n')) {
    const match = /^volumePluginDir\s*:\s*(.*?)\s*$/.exec(line);
    if (match === null) continue;
    const raw = (match[1] as string).replace(/\s+#.*$/, '');
    const value = /^(["'])(.*)\1$/.exec(raw)?.[2] ?? raw;
    if (value !== '') found = value;
  }
  return found;
}

function readInRoot(procRoot: string, pid: number, file: string): string | undefined {
  const base = path.isAbsolute(file) ? path.join(procRoot, String(pid), 'root') : path.join(procRoot, String(pid), 'cwd');
  try {
    return fs.readFileSync(path.join(base, file), 'utf8');
  } catch {
    return undefined;
  }
}

function listInRoot(procRoot: string, pid: number, dir: string): string[] {
  const base = path.isAbsolute(dir) ? path.join(procRoot, String(pid), 'root') : path.join(procRoot, String(pid), 'cwd');
  try {
    return fs.readdirSync(path.join(base, dir)).filter((name) => name.endsWith('.conf')).sort();
  } catch {
    return [];
  }
}

/** Flag first, then drop-in config files (the last one wins), then the main config file, then the default. */
function kubeletPluginDir(procRoot: string, line: CommandLine): { pluginDir: string; origin: string } {
  const flag = flagValue(line.args, 'volume-plugin-dir');
  if (flag !== undefined) return { pluginDir: flag, origin: '--volume-plugin-dir' };
  const dropInDir = flagValue(line.args, 'config-dir');
  if (dropInDir !== undefined) {
    for (const name of listInRoot(procRoot, line.pid, dropInDir).reverse()) {
      const file = path.join(dropInDir, name);
      const value = volumePluginDirOf(readInRoot(procRoot, line.pid, file) ?? '');
      if (value !== undefined) return { pluginDir: value, origin: `volumePluginDir in ${file}` };
    }
  }
  const config = flagValue(line.args, 'config');
  if (config !== undefined) {
    const value = volumePluginDirOf(readInRoot(procRoot, line.pid, config) ?? '');
    if (value !== undefined) return { pluginDir: value, origin: `volumePluginDir in ${config}` };
  }
  return { pluginDir: KUBELET_DEFAULT_PLUGIN_DIR, origin: 'the kubelet default' };
}

export function findPluginDirUsers(procRoot: string): PluginDirUser[] {
  const users: PluginDirUser[] = [];
  for (const line of readCommandLines(procRoot)) {
    const root = path.join(procRoot, String(line.pid), 'root');
    if (line.program === 'kubelet') {
      users.push({ process: 'kubelet', pid: line.pid, root, ...kubeletPluginDir(procRoot, line) });
    } else if (line.program === 'kube-controller-manager' || line.program === 'controller-manager') {
      const flag = flagValue(line.args, 'flex-volume-plugin-dir');
      users.push({
        process: 'kube-controller-manager',
        pid: line.pid,
        root,
        pluginDir: flag ?? KUBELET_DEFAULT_PLUGIN_DIR,
        origin: flag === undefined ? 'the kube-controller-manager default' : '--flex-volume-plugin-dir',
      });
    }
  }
  return users;
}

export interface UsageCheck {
  errors: string[];
  notes: string[];
}

const normalize = (dir: string): string => path.resolve(dir);

function statOrUndefined(file: string): fs.Stats | undefined {
  try {
    return fs.statSync(file);
  } catch {
    return undefined;
  }
}

/**
 * Checks `pluginDir` against every process that executes drivers. A mismatch is an error for the
 * kubelet always, and for kube-controller-manager when it must run the driver (attach in controller mode).
 */
export function checkPluginDirUsers(pluginDir: string, users: readonly PluginDirUser[], options: { controllerAttach: boolean }): UsageCheck {
  const check: UsageCheck = { errors: [], notes: [] };
  if (!users.some((user) => user.process === 'kubelet')) {
    check.notes.push('no kubelet process is visible, so the plugin directory could not be checked against it (mount the host /proc and pass --host-proc)');
  }
  const ours = statOrUndefined(pluginDir);
  for (const user of users) {
    const who = `${user.process} (pid ${user.pid})`;
    const binding = user.process === 'kubelet' || options.controllerAttach;
    const report = (message: string): void => {
      (binding ? check.errors : check.notes).push(message);
    };
    if (normalize(user.pluginDir) !== normalize(pluginDir)) {
      report(
        `${who} uses ${user.pluginDir} (${user.origin}), but the driver would be installed into ${pluginDir}; ` +
          `install with --plugin-dir ${user.pluginDir} (and mount that host directory at the same path in the installer's pod)`,
      );
      continue;
    }
    const theirs = statOrUndefined(path.join(user.root, pluginDir));
    if (theirs === undefined || ours === undefined) {
      if (theirs !== undefined) {
        report(`${who} has ${pluginDir} but this installer does not see it; mount the host's ${pluginDir} at the same path in the installer's pod`);
      } else {
        check.notes.push(`${who}: could not look at ${pluginDir} through ${user.root}`);
      }
      continue;
    }
    if (theirs.dev !== ours.dev || theirs.ino !== ours.ino) {
      report(`${who} sees a different directory at ${pluginDir} than this installer; mount the host's ${pluginDir} at the same path in the installer's pod`);
      continue;
    }
    check.notes.push(`${who} uses ${pluginDir} (${user.origin})`);
  }
  return check;
}

function mountNamespaceOf(procDir: string): string | undefined {
  try {
    return fs.readlinkSync(path.join(procDir, 'ns/mnt'));
  } catch {
    return undefined;
  }
}

/**
 * Other installers that keep `pluginDir` installed: `flexvolume install` processes (not uninstalls)
 * in another mount namespace than this one, to whose root `pluginDir` is the very directory this
 * process sees. During a DaemonSet rolling update with surge, that is the new pod.
 */
export function findOtherInstallers(procRoot: string, pluginDir: string): number[] {
  const own = mountNamespaceOf('/proc/self');
  const ours = statOrUndefined(pluginDir);
  if (own === undefined || ours === undefined) return [];
  return readCommandLines(procRoot)
    .filter((line) => line.program === 'flexvolume' && line.args[0] === 'install' && !line.args.includes('--uninstall'))
    .filter((line) => {
      const procDir = path.join(procRoot, String(line.pid));
      const namespace = mountNamespaceOf(procDir);
      const theirs = statOrUndefined(path.join(procDir, 'root', pluginDir));
      return namespace !== undefined && namespace !== own && theirs?.dev === ours.dev && theirs.ino === ours.ino;
    })
    .map((line) => line.pid);
}
