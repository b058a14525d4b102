// The doctor's checks. Each answers one question an operator asks at 3 a.m., with the evidence
// and, when something is wrong, what to do about it. None changes anything on the node.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DRIVER_NAMES } from '../flexvolume/driver.ts';
import { describeError } from '../flexvolume/errors.ts';
import { checkPluginDirUsers, findPluginDirUsers } from '../install/detect.ts';
import { PRESETS } from '../install/presets.ts';
import type { Settings } from '../settings.ts';
import { DEFAULT_PATH } from '../system/exec.ts';
import { readMountTable } from '../system/mount-table.ts';
import { volumeRecords } from '../drivers/azuredisk/controller.ts';

export type Status = 'ok' | 'warn' | 'fail' | 'skip';

export interface CheckResult {
  name: string;
  status: Status;
  summary: string;
  details: string[];
}

const result = (name: string, status: Status, summary: string, details: string[] = []): CheckResult => ({ name, status, summary, details });

export interface DoctorContext {
  settings: Settings;
  /** The executable running now; an installed one sits at <plugin dir>/<vendor>~<driver>/<driver>. */
  executablePath: string;
  pluginDir: string;
  hostProc: string;
}

/** The plugin dir this executable is installed in, if it runs from one. */
export function installedPluginDir(executablePath: string): string | undefined {
  const driverDir = path.dirname(executablePath);
  const [vendor, driver] = path.basename(driverDir).split('~');
  return vendor && driver && driver === path.basename(executablePath) ? path.dirname(driverDir) : undefined;
}

/** Drivers with a directory in the plugin dir, whether or not their executable is sound. */
export function installedDrivers(pluginDir: string): string[] {
  try {
    return fs
      .readdirSync(pluginDir)
      .map((entry) => entry.split('~')[1] ?? '')
      .filter((driver) => (DRIVER_NAMES as readonly string[]).includes(driver));
  } catch {
    return [];
  }
}

export function checkInstallation(context: DoctorContext): CheckResult {
  const details: string[] = [];
  let found = 0;
  let entries: string[] = [];
  try {
    entries = fs.readdirSync(context.pluginDir);
  } catch (error) {
    const others = Object.values(PRESETS).map((preset) => preset.pluginDir).filter((dir) => dir !== context.pluginDir && fs.existsSync(dir));
    return result('installation', 'fail', `cannot read ${context.pluginDir}: ${describeError(error)}`, [
      others.length > 0 ? `plugin dirs that exist here: ${[...new Set(others)].join(', ')} (use --plugin-dir)` : 'install with: flexvolume install --preset <name>',
    ]);
  }
  const inodes = new Set<number>();
  for (const entry of entries.filter((name) => !name.startsWith('.')).sort()) {
    const driver = entry.split('~')[1];
    if (driver === undefined || !(DRIVER_NAMES as readonly string[]).includes(driver)) continue;
    const executable = path.join(context.pluginDir, entry, driver);
    try {
      const stat = fs.statSync(executable);
      inodes.add(stat.ino);
      found++;
      const config = path.join(context.pluginDir, entry, `${driver}.conf.json`);
      const configText = fs.existsSync(config) ? ` config ${fs.readFileSync(config, 'utf8').trim()}` : '';
      const executableMode = (stat.mode & 0o111) === 0 ? ' NOT EXECUTABLE' : '';
      details.push(`${executable} (${(stat.size / 2 ** 20).toFixed(0)} MiB, inode ${stat.ino})${executableMode}${configText}`);
    } catch {
      details.push(`${path.join(context.pluginDir, entry)} has no executable named ${driver}: the kubelet logs "no such file" for it`);
    }
  }
  const stray = entries.filter((name) => !name.startsWith('.') && !fs.statSync(path.join(context.pluginDir, name)).isDirectory());
  if (stray.length > 0) details.push(`stray files in the plugin dir root make the kubelet probe them: ${stray.join(', ')}`);
  if (found === 0) return result('installation', 'fail', `no driver is installed in ${context.pluginDir}`, details);
  const status = stray.length > 0 || details.some((line) => line.includes('NOT EXECUTABLE') || line.includes('no executable')) ? 'warn' : 'ok';
  return result('installation', status, `${found} driver(s) in ${context.pluginDir}, ${inodes.size} binary file(s)`, details);
}

export function checkPluginDir(context: DoctorContext): CheckResult {
  const users = findPluginDirUsers(context.hostProc);
  const check = checkPluginDirUsers(context.pluginDir, users, { controllerAttach: context.settings.azurediskMode === 'controller' });
  if (check.errors.length > 0) return result('plugin dir', 'fail', check.errors[0] ?? '', [...check.errors.slice(1), ...check.notes]);
  if (!users.some((user) => user.process === 'kubelet')) return result('plugin dir', 'warn', 'no kubelet process is visible here', check.notes);
  return result('plugin dir', 'ok', `the kubelet uses ${context.pluginDir}`, check.notes);
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

function findTool(tool: string, searchPath: string): string | undefined {
  for (const dir of searchPath.split(':')) {
    const candidate = path.join(dir, tool);
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      return candidate;
    } catch {
      // not in this directory
    }
  }
  return undefined;
}

export function checkTools(): CheckResult {
  const searchPath = process.env.PATH || DEFAULT_PATH;
  const details: string[] = [];
  const missing: string[] = [];
  for (const { tool, needed } of TOOLS) {
    const where = findTool(tool, searchPath);
    if (where === undefined) missing.push(tool);
    details.push(where === undefined ? `${tool}: MISSING (needed by ${needed})` : `${tool}: ${where}`);
  }
  if (missing.length === 0) return result('tools', 'ok', `all ${TOOLS.length} tools found`, details);
  const essential = missing.filter((tool) => tool === 'mount' || tool === 'umount');
  return result('tools', essential.length > 0 ? 'fail' : 'warn', `missing: ${missing.join(', ')}`, details);
}

/** Global mounts and pod mounts of this project's drivers, from the mount table. */
export function checkVolumes(context: DoctorContext): CheckResult {
  const table = readMountTable();
  const ours = table.filter((entry) =>
    DRIVER_NAMES.some((driver) => entry.mountPoint.includes(`~${driver}/`) || entry.mountPoint.includes(`/${driver}/mounts/`)),
  );
  const details = ours.map((entry) => `${entry.mountPoint} ← ${entry.source} (${entry.fsType}${entry.options.includes('ro') ? ', ro' : ''})`);
  const records = volumeRecords(context.settings.stateDir);
  for (const volume of records.keys()) details.push(`record: PV ${volume} is disk ${records.read(volume)?.diskUri ?? '?'}`);
  return result('volumes', 'ok', `${ours.length} mount(s) of these drivers, ${records.keys().length} azuredisk record(s)`, details);
}

/** The last failures in the driver log: what the kubelet saw, with the call that got it. */
export function checkLog(context: DoctorContext, maxLines = 10): CheckResult {
  const file = context.settings.logFile;
  let text: string;
  try {
    const fd = fs.openSync(file, 'r');
    const size = fs.fstatSync(fd).size;
    const length = Math.min(size, 1024 * 1024);
    const buffer = Buffer.alloc(length);
    fs.readSync(fd, buffer, 0, length, size - length);
    fs.closeSync(fd);
    text = buffer.toString('utf8');
  } catch (error) {
    return result('log', 'warn', `cannot read ${file}: ${describeError(error)}`);
  }
  const failures = text.split('\n').filter((line) => /reply: \{"status":"Failure"|fatal:/.test(line));
  if (failures.length === 0) return result('log', 'ok', `no failures in the last ${(text.length / 1024).toFixed(0)} KiB of ${file}`);
  return result('log', 'warn', `${failures.length} failed call(s) in ${file}; the last ${Math.min(maxLines, failures.length)}:`, failures.slice(-maxLines));
}
