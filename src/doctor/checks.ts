// The doctor's checks. Each answers one question an operator asks at 3 a.m., with the evidence
// and, when something is wrong, what to do about it. None changes anything on the node.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DRIVER_NAMES } from '../flexvolume/driver.ts';
import { describeError } from '../flexvolume/errors.ts';
import { checkPluginDirUsers, findPluginDirUsers } from '../install/detect.ts';
import { PRESETS } from '../install/presets.ts';
import { configFileName, readDriverConfig, type Settings } from '../settings.ts';
import { DEFAULT_PATH } from '../system/exec.ts';
import { parseMountInfo, type MountEntry } from '../system/mount-table.ts';
import { parseDriverLog, readDriverLog } from './driver-log.ts';
import { volumeRecords } from '../drivers/azuredisk/controller.ts';

export type Status = 'ok' | 'warn' | 'fail' | 'skip';

/** One piece of evidence: a line for a person, and the same facts as fields for --json. */
export interface Detail {
  line: string;
  data: Record<string, unknown>;
}

export interface CheckResult {
  name: string;
  status: Status;
  summary: string;
  details: Detail[];
}

export const detail = (line: string, data: Record<string, unknown>): Detail => ({ line, data });

const result = (name: string, status: Status, summary: string, details: Detail[] = []): CheckResult => ({ name, status, summary, details });

/**
 * The host as this process reaches it: itself ('/'), or through `/host/proc/1/root` from the
 * installer's pod. Paths in settings, configs and reports stay the host's own.
 */
export interface HostView {
  root: string;
  /** A host path as this process opens it. */
  path(hostPath: string): string;
}

export function hostView(root: string): HostView {
  const resolved = path.resolve(root);
  return { root: resolved, path: (hostPath) => (resolved === '/' ? hostPath : path.join(resolved, hostPath)) };
}

export interface DoctorContext {
  /** azuredisk's settings as the installed config gives them (host paths). */
  settings: Settings;
  host: HostView;
  /** The plugin dir on the host. */
  pluginDir: string;
  /** The host's /proc as this process reaches it. */
  hostProc: string;
}

/** The plugin dir this executable is installed in, if it runs from one. */
export function installedPluginDir(executablePath: string): string | undefined {
  const driverDir = path.dirname(executablePath);
  const [vendor, driver] = path.basename(driverDir).split('~');
  return vendor && driver && driver === path.basename(executablePath) ? path.dirname(driverDir) : undefined;
}

/** `key: value` lines of a driver's config, the keys padded to one width. */
function configLines(config: Record<string, unknown>): string[] {
  const keys = Object.keys(config);
  const width = Math.max(0, ...keys.map((key) => key.length));
  return keys.map((key) => `  ${`${key}:`.padEnd(width + 1)} ${typeof config[key] === 'string' ? config[key] : JSON.stringify(config[key])}`);
}

function describeDriverDir(context: DoctorContext, entry: string, driver: string): Detail {
  const executable = path.join(context.pluginDir, entry, driver);
  let stat: fs.Stats;
  try {
    stat = fs.statSync(context.host.path(executable));
  } catch {
    return detail(`${path.join(context.pluginDir, entry)} has no executable named ${driver}: the kubelet logs "no such file" for it`, {
      driver,
      executable,
      present: false,
    });
  }
  const configFile = path.join(context.pluginDir, entry, configFileName(driver));
  const config = readDriverConfig(context.host.path(configFile));
  const executableBit = (stat.mode & 0o111) !== 0;
  const head = `${executable} (${(stat.size / 2 ** 20).toFixed(0)} MiB, inode ${stat.ino})${executableBit ? '' : ' NOT EXECUTABLE'}`;
  const configText = config === undefined ? ['  (no config file: defaults)'] : configLines(config);
  return detail([head, ...configText].join('\n'), {
    driver,
    executable,
    present: true,
    sizeBytes: stat.size,
    inode: stat.ino,
    executableBit,
    configFile,
    config: config ?? null,
  });
}

export function checkInstallation(context: DoctorContext): CheckResult {
  let entries: string[];
  try {
    entries = fs.readdirSync(context.host.path(context.pluginDir));
  } catch (error) {
    const others = Object.values(PRESETS)
      .map((preset) => preset.pluginDir)
      .filter((dir) => dir !== context.pluginDir && fs.existsSync(context.host.path(dir)));
    const unique = [...new Set(others)];
    return result('installation', 'fail', `cannot read ${context.pluginDir}: ${describeError(error)}`, [
      unique.length > 0
        ? detail(`plugin dirs that exist here: ${unique.join(', ')} (use --plugin-dir)`, { existingPluginDirs: unique })
        : detail('install with: flexvolume install --preset <name>', { existingPluginDirs: [] }),
    ]);
  }
  const visible = entries.filter((name) => !name.startsWith('.')).sort();
  const details = visible.flatMap((entry) => {
    const driver = entry.split('~')[1];
    return driver !== undefined && (DRIVER_NAMES as readonly string[]).includes(driver) ? [describeDriverDir(context, entry, driver)] : [];
  });
  const installed = details.filter((item) => item.data.present === true);
  const stray = visible.filter((name) => !fs.statSync(context.host.path(path.join(context.pluginDir, name))).isDirectory());
  if (stray.length > 0) details.push(detail(`stray files in the plugin dir root make the kubelet probe them: ${stray.join(', ')}`, { strayFiles: stray }));
  if (installed.length === 0) return result('installation', 'fail', `no driver is installed in ${context.pluginDir}`, details);
  const inodes = new Set(installed.map((item) => item.data.inode));
  const broken = details.some((item) => item.data.present === false || item.data.executableBit === false);
  return result('installation', stray.length > 0 || broken ? 'warn' : 'ok', `${installed.length} driver(s) in ${context.pluginDir}, ${inodes.size} binary file(s)`, details);
}

export function checkPluginDir(context: DoctorContext): CheckResult {
  const users = findPluginDirUsers(context.hostProc);
  const check = checkPluginDirUsers(context.pluginDir, users, { controllerAttach: context.settings.azurediskMode === 'controller' });
  const details = [
    ...users.map((user) => detail(`${user.process} (pid ${user.pid}) uses ${user.pluginDir} (${user.origin})`, { ...user })),
    ...[...check.errors.slice(1), ...check.notes].map((note) => detail(note, { note })),
  ];
  if (check.errors.length > 0) return result('plugin dir', 'fail', check.errors[0] ?? '', details);
  if (!users.some((user) => user.process === 'kubelet')) return result('plugin dir', 'warn', 'no kubelet process is visible here', details);
  return result('plugin dir', 'ok', `the kubelet uses ${context.pluginDir}`, details);
}

const TOOLS: ReadonlyArray<{ tool: string; needed: string }> = [
  { tool: 'mount', needed: 'every driver' },
  { tool: 'umount', needed: 'every driver' },
  { tool: 'mount.nfs', needed: 'nfs, azurefile protocol nfs (Debian: nfs-common)' },
  { tool: 'mount.cifs', needed: 'azurefile (Debian: cifs-utils)' },
  { tool: 'blkid', needed: 'azuredisk' },
  { tool: 'wipefs', needed: 'azuredisk' },
  { tool: 'fsck', needed: 'azuredisk' },
  { tool: 'mkfs.ext4', needed: 'azuredisk (e2fsprogs)' },
  { tool: 'resize2fs', needed: 'azuredisk (e2fsprogs)' },
  { tool: 'mkfs.xfs', needed: 'azuredisk with fsType xfs (xfsprogs)' },
  { tool: 'xfs_growfs', needed: 'azuredisk with fsType xfs (xfsprogs)' },
];

/**
 * The host's file at a host path, following its symbolic links as the host would: through
 * /host/proc/1/root an absolute link target would otherwise resolve inside this pod.
 */
function resolveOnHost(host: HostView, hostPath: string): string | undefined {
  let current = hostPath;
  for (let hops = 0; hops < 16; hops++) {
    let target: string;
    try {
      target = fs.readlinkSync(host.path(current));
    } catch (error) {
      return (error as NodeJS.ErrnoException).code === 'EINVAL' ? current : undefined;
    }
    current = path.resolve(path.dirname(current), target);
  }
  return undefined;
}

function findTool(host: HostView, tool: string, searchPath: string): string | undefined {
  for (const dir of searchPath.split(':')) {
    const candidate = path.join(dir, tool);
    const resolved = resolveOnHost(host, candidate);
    if (resolved === undefined) continue;
    try {
      fs.accessSync(host.path(resolved), fs.constants.X_OK);
      return candidate;
    } catch {
      // not executable here
    }
  }
  return undefined;
}

export function checkTools(host: HostView): CheckResult {
  // The host's own PATH is not known from its pod; the driver runs with this one there too.
  const searchPath = host.root === '/' ? process.env.PATH || DEFAULT_PATH : DEFAULT_PATH;
  const details: Detail[] = [];
  const missing: string[] = [];
  for (const { tool, needed } of TOOLS) {
    const where = findTool(host, tool, searchPath);
    if (where === undefined) missing.push(tool);
    details.push(
      detail(where === undefined ? `${tool}: MISSING (needed by ${needed})` : `${tool}: ${where}`, { tool, path: where ?? null, neededBy: needed }),
    );
  }
  if (missing.length === 0) return result('tools', 'ok', `all ${TOOLS.length} tools found`, details);
  const essential = missing.filter((tool) => tool === 'mount' || tool === 'umount');
  return result('tools', essential.length > 0 ? 'fail' : 'warn', `missing: ${missing.join(', ')}`, details);
}

/** Global mounts and pod mounts of this project's drivers, from the host's mount table. */
export function checkVolumes(context: DoctorContext): CheckResult {
  const mountInfo = path.join(context.hostProc, context.host.root === '/' ? 'self' : '1', 'mountinfo');
  let table: MountEntry[];
  try {
    table = parseMountInfo(fs.readFileSync(mountInfo, 'utf8'));
  } catch (error) {
    return result('volumes', 'warn', `cannot read the host's mount table: ${describeError(error)}`, [detail('pass --host-proc <the host /proc>', { mountInfo })]);
  }
  const ours = table.filter((entry) =>
    DRIVER_NAMES.some((driver) => entry.mountPoint.includes(`~${driver}/`) || entry.mountPoint.includes(`/${driver}/mounts/`)),
  );
  const details = ours.map((entry) => {
    const readOnly = entry.options.includes('ro');
    return detail(`${entry.mountPoint} ← ${entry.source} (${entry.fsType}${readOnly ? ', ro' : ''})`, {
      mountPoint: entry.mountPoint,
      source: entry.source,
      fsType: entry.fsType,
      readOnly,
    });
  });
  const records = volumeRecords(context.host.path(context.settings.stateDir));
  for (const volume of records.keys()) {
    const diskUri = records.read(volume)?.diskUri ?? null;
    details.push(detail(`record: PV ${volume} is disk ${diskUri ?? '?'}`, { volume, diskUri }));
  }
  return result('volumes', 'ok', `${ours.length} mount(s) of these drivers, ${records.keys().length} azuredisk record(s)`, details);
}

/** The last failures in the driver log: what the kubelet saw, with the call that got it. */
export function checkLog(context: DoctorContext, maxCalls = 10): CheckResult {
  const file = context.settings.logFile;
  const { text, files } = readDriverLog(context.host.path(file));
  if (files.length === 0) return result('log', 'warn', `cannot read ${file}: no such file (no driver call has run on this host yet?)`);
  const failures = parseDriverLog(text).filter((call) => call.reply === undefined || call.reply.status === 'Failure');
  if (failures.length === 0) return result('log', 'ok', `no failed call in ${file} (${(text.length / 1024).toFixed(0)} KiB)`);
  const shown = failures.slice(-maxCalls).map((call) => {
    const message = call.reply?.message ?? 'no reply (killed or still running)';
    return detail(`${call.time} ${call.driver} ${call.call}: ${message}`, { time: call.time, driver: call.driver, call: call.call, pid: call.pid, message });
  });
  return result('log', 'warn', `${failures.length} failed call(s) in ${file}; the last ${shown.length} (see doctor --volume <pv>):`, shown);
}
