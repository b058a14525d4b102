// Puts the driver into a plugin directory the way the kubelet's prober needs it (protocol doc 5):
//
//   <plugin dir>/<vendor>~azuredisk/azuredisk          one executable, hard-linked under each name
//   <plugin dir>/<vendor>~azuredisk/azuredisk.conf.json the attach mode, the node name in node mode (and a non-default log file)
//   <plugin dir>/<vendor>~azuredisk/.lib-<digest>/      glibc and friends, when bundled
//   <plugin dir>/<vendor>~azurefile/azurefile, <plugin dir>/<vendor>~nfs/nfs
//
// Nothing the prober acts on is ever incomplete: a new driver directory is filled under a dot name
// and renamed into place whole; an executable is written under a dot name, synced, made
// executable and renamed; libraries live in a directory named after their content, complete
// before any executable points at it. The same version again changes nothing at all, so the
// kubelet sees no event and re-probes nothing.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DriverError } from '../flexvolume/errors.ts';
import { DRIVER_NAMES, type DriverName } from '../flexvolume/driver.ts';
import { configFileName, readDriverConfig, type AzurediskMode } from '../settings.ts';
import { DEFAULT_LOG_FILE } from '../system/log.ts';
import { patchField, readElf, unpadPath, type Patch } from './elf.ts';
import {
  bufferContent,
  fileMatches,
  isTemporaryName,
  linkAtomically,
  patchedFileContent,
  publish,
  sameInode,
  syncDirectory,
  temporaryNameFor,
  writeFileAtomically,
  writeTemporary,
  type Content,
} from './files.ts';
import { runtimeLibrariesOf, type RuntimeLibraries } from './libraries.ts';
import { DEFAULT_RUNPATH, padPath, SYSTEM_INTERPRETER } from './reserved-paths.ts';

/** bundled: ship the loader and libraries in the plugin tree; host: use the host's (needs glibc >= 2.28 there). */
export type LibrarySource = 'bundled' | 'host';

export interface InstallOptions {
  pluginDir: string;
  vendor: string;
  drivers: readonly DriverName[];
  azurediskMode: AzurediskMode;
  /** In node mode, the node's Kubernetes name (the kubelet does not pass it to `mount`). */
  nodeName?: string | undefined;
  logFile: string;
  libraries: LibrarySource;
  /** The standalone executable to install; the running one when run from the command line. */
  source: string;
  /** Where the source's libraries are found loaded: the running process's memory map. */
  mapsFile?: string;
}

export interface InstallReport {
  /** What was changed on disk, one line each; empty when everything was already in place. */
  changes: string[];
  notes: string[];
}

const EXECUTABLE_MODE = 0o755;
const CONFIG_MODE = 0o644;
const LIBRARY_DIR = /^\.lib-[0-9a-f]{12}$/;

const driverDirName = (vendor: string, driver: DriverName): string => `${vendor}~${driver}`;

interface Slot {
  driver: DriverName;
  final: string;
  /** Where the slot is being filled: `final`, or a dot-named directory renamed onto it at the end. */
  work: string;
}

const isStaged = (slot: Slot): boolean => slot.work !== slot.final;

export function install(options: InstallOptions): InstallReport {
  const report: InstallReport = { changes: [], notes: [] };
  const drivers = DRIVER_NAMES.filter((name) => options.drivers.includes(name));
  if (drivers.length === 0) throw new DriverError('no driver selected');
  fs.mkdirSync(options.pluginDir, { recursive: true, mode: 0o755 });
  removeLeftovers(options.pluginDir, options.vendor, report);

  const slots = drivers.map((driver): Slot => {
    const final = path.join(options.pluginDir, driverDirName(options.vendor, driver));
    return { driver, final, work: final };
  });
  const previousLibraryDirs = libraryDirsInUse(options.pluginDir, options.vendor);
  try {
    for (const slot of slots) {
      if (fs.existsSync(slot.final)) continue;
      slot.work = temporaryNameFor(slot.final);
      fs.mkdirSync(slot.work, { mode: 0o755 });
    }
    const anchor = slots[0] as Slot;
    const { interpreter, runpath } = placeLibraries(anchor, options, report);
    for (const slot of slots) ensureConfig(slot, options, report);
    const replaced = placeExecutables(slots, executableContent(options.source, options.libraries, interpreter, runpath), report);
    if (replaced) removeUnusedLibraryDirs(slots, options, previousLibraryDirs, report);
  } finally {
    for (const slot of slots) if (isStaged(slot)) fs.rmSync(slot.work, { recursive: true, force: true });
  }
  return report;
}

/** The interpreter and library path the installed executable must name. */
function placeLibraries(anchor: Slot, options: InstallOptions, report: InstallReport): { interpreter: string; runpath: string } {
  if (options.libraries === 'host') return { interpreter: SYSTEM_INTERPRETER, runpath: DEFAULT_RUNPATH };
  const libraries = runtimeLibrariesOf(options.source, options.mapsFile);
  const name = `.lib-${libraries.digest}`;
  const finalDir = path.join(anchor.final, name);
  ensureLibraryDir(path.join(anchor.work, name), finalDir, libraries, report);
  return { interpreter: path.join(finalDir, libraries.interpreter), runpath: finalDir };
}

function libraryDirMatches(dir: string, libraries: RuntimeLibraries): boolean {
  let entries: string[];
  try {
    entries = fs.readdirSync(dir).sort();
  } catch {
    return false;
  }
  const expected = libraries.libraries.map((library) => library.soname).sort();
  return (
    entries.join('/') === expected.join('/') &&
    libraries.libraries.every((library) => fileMatches(path.join(dir, library.soname), bufferContent(fs.readFileSync(library.path)), EXECUTABLE_MODE))
  );
}

/** `shownAs`: the directory's final path, which `dir` becomes when its driver directory is published. */
function ensureLibraryDir(dir: string, shownAs: string, libraries: RuntimeLibraries, report: InstallReport): void {
  if (libraryDirMatches(dir, libraries)) return;
  const staging = temporaryNameFor(dir);
  fs.mkdirSync(staging, { mode: 0o755 });
  try {
    for (const library of libraries.libraries) {
      writeFileAtomically(path.join(staging, library.soname), bufferContent(fs.readFileSync(library.path)), EXECUTABLE_MODE);
    }
    if (fs.existsSync(dir)) {
      // Same digest, different bytes: someone changed the files. Swap in a good copy.
      const aside = temporaryNameFor(dir);
      fs.renameSync(dir, aside);
      fs.renameSync(staging, dir);
      fs.rmSync(aside, { recursive: true, force: true });
    } else {
      fs.renameSync(staging, dir);
    }
    syncDirectory(path.dirname(dir));
  } finally {
    fs.rmSync(staging, { recursive: true, force: true });
  }
  report.changes.push(`installed ${libraries.libraries.map((library) => library.soname).join(', ')} into ${shownAs}`);
}

function executableContent(source: string, libraries: LibrarySource, interpreter: string, runpath: string): Content {
  const elf = readElf(source);
  if (elf.interpreter === undefined || elf.runpath === undefined) {
    if (libraries === 'host') return patchedFileContent(source, []);
    throw new DriverError(`${source} has no room for a bundled interpreter and library path; build it with npm run build (which needs patchelf)`);
  }
  const patches: Patch[] = [];
  for (const [field, value] of [
    [elf.interpreter, interpreter],
    [elf.runpath, runpath],
  ] as const) {
    if (value.length > field.capacity) {
      throw new DriverError(`${value} is longer than the ${field.capacity} characters the executable has room for; use a shorter plugin directory`);
    }
    patches.push(patchField(field, padPath(value, field.capacity)));
  }
  return patchedFileContent(source, patches);
}

/**
 * One inode under every driver name. Returns whether the executable changed. New driver
 * directories are published before existing ones are touched, the anchor (which holds the
 * libraries) first, so every executable that becomes visible can already load.
 */
function placeExecutables(slots: Slot[], content: Content, report: InstallReport): boolean {
  const anchor = slots[0] as Slot;
  let inode = path.join(anchor.work, anchor.driver);
  let pending: string | undefined;
  let replaced = false;
  if (!fileMatches(inode, content, EXECUTABLE_MODE)) {
    replaced = true;
    if (isStaged(anchor)) writeFileAtomically(inode, content, EXECUTABLE_MODE);
    else inode = pending = writeTemporary(inode, content, EXECUTABLE_MODE);
  }
  for (const slot of slots.slice(1)) {
    if (isStaged(slot)) fs.linkSync(inode, path.join(slot.work, slot.driver));
  }
  for (const slot of slots.filter(isStaged)) {
    syncDirectory(slot.work);
    fs.renameSync(slot.work, slot.final);
    if (inode.startsWith(`${slot.work}/`)) inode = path.join(slot.final, path.relative(slot.work, inode));
    slot.work = slot.final;
    report.changes.push(`created ${slot.final}`);
  }
  syncDirectory(path.dirname(anchor.final));
  if (pending !== undefined) {
    inode = path.join(anchor.final, anchor.driver);
    publish(pending, inode);
    report.changes.push(`installed ${inode}`);
  }
  for (const slot of slots.slice(1)) {
    const target = path.join(slot.final, slot.driver);
    if (sameInode(target, inode)) continue;
    linkAtomically(inode, target);
    report.changes.push(`linked ${target} to ${inode}`);
  }
  return replaced;
}

function ensureConfig(slot: Slot, options: InstallOptions, report: InstallReport): void {
  const file = path.join(slot.work, configFileName(slot.driver));
  const shownAs = path.join(slot.final, configFileName(slot.driver));
  const existing = readDriverConfig(file);
  // The installer owns these keys; anything else an operator added stays.
  const { mode: _mode, logFile: _logFile, nodeName: _nodeName, ...kept } = existing ?? {};
  const desired: Record<string, unknown> = { ...kept };
  if (slot.driver === 'azuredisk') desired.mode = options.azurediskMode;
  if (slot.driver === 'azuredisk' && options.azurediskMode === 'node' && options.nodeName) desired.nodeName = options.nodeName;
  if (options.logFile !== DEFAULT_LOG_FILE) desired.logFile = options.logFile;
  if (Object.keys(desired).length === 0) {
    if (existing === undefined) return;
    fs.rmSync(file);
    report.changes.push(`removed ${shownAs}`);
    return;
  }
  if (existing !== undefined && canonicalJson(existing) === canonicalJson(desired)) return;
  writeFileAtomically(file, bufferContent(Buffer.from(`${JSON.stringify(desired, null, 2)}\n`)), CONFIG_MODE);
  report.changes.push(`wrote ${shownAs}: ${JSON.stringify(desired)}`);
}

/** Key order is not a change. */
function canonicalJson(value: Record<string, unknown>): string {
  return JSON.stringify(Object.fromEntries(Object.entries(value).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))));
}

/** The library directories the executables in the plugin dir currently name as their interpreter's home. */
function libraryDirsInUse(pluginDir: string, vendor: string): Set<string> {
  const dirs = new Set<string>();
  for (const driver of DRIVER_NAMES) {
    try {
      const interpreter = readElf(path.join(pluginDir, driverDirName(vendor, driver), driver)).interpreter;
      if (interpreter !== undefined) dirs.add(path.dirname(unpadPath(interpreter.value)));
    } catch {
      // Not installed, or not an executable of ours.
    }
  }
  return dirs;
}

/**
 * After an upgrade, library directories that neither the new nor the previous executables use.
 * The previous generation stays: a process exec'd just before the rename may still be loading from it.
 */
function removeUnusedLibraryDirs(slots: Slot[], options: InstallOptions, previous: Set<string>, report: InstallReport): void {
  const keep = new Set([...previous, ...libraryDirsInUse(options.pluginDir, options.vendor)]);
  for (const slot of slots) {
    for (const entry of fs.readdirSync(slot.final)) {
      const dir = path.join(slot.final, entry);
      if (!LIBRARY_DIR.test(entry) || keep.has(dir)) continue;
      fs.rmSync(dir, { recursive: true, force: true });
      report.changes.push(`removed unused ${dir}`);
    }
  }
}

function isOurs(driver: DriverName, name: string): boolean {
  return name === driver || name === configFileName(driver) || LIBRARY_DIR.test(name);
}

/** Dot-named files and directories an interrupted run left behind, and nothing else. */
function removeLeftovers(pluginDir: string, vendor: string, report: InstallReport): void {
  const remove = (entry: string): void => {
    fs.rmSync(entry, { recursive: true, force: true });
    report.changes.push(`removed leftover ${entry}`);
  };
  for (const entry of fs.readdirSync(pluginDir)) {
    if (isTemporaryName(entry, (name) => DRIVER_NAMES.some((driver) => name === driverDirName(vendor, driver)))) {
      remove(path.join(pluginDir, entry));
    }
  }
  for (const driver of DRIVER_NAMES) {
    const dir = path.join(pluginDir, driverDirName(vendor, driver));
    if (!fs.existsSync(dir)) continue;
    for (const entry of fs.readdirSync(dir)) {
      if (isTemporaryName(entry, (name) => isOurs(driver, name))) remove(path.join(dir, entry));
    }
  }
}

/**
 * Removes every driver of `vendor` this installer lays down: each executable first (the prober
 * unregisters the driver on its removal), then its config and libraries, then the directory if
 * nothing else is in it. Files someone else put there are left, and reported.
 */
export function uninstall(options: { pluginDir: string; vendor: string }): InstallReport {
  const report: InstallReport = { changes: [], notes: [] };
  if (!fs.existsSync(options.pluginDir)) {
    report.notes.push(`${options.pluginDir} does not exist; nothing to remove`);
    return report;
  }
  removeLeftovers(options.pluginDir, options.vendor, report);
  for (const driver of DRIVER_NAMES) {
    const dir = path.join(options.pluginDir, driverDirName(options.vendor, driver));
    if (!fs.existsSync(dir)) continue;
    const executable = path.join(dir, driver);
    if (fs.existsSync(executable)) {
      fs.rmSync(executable);
      report.changes.push(`removed ${executable}`);
    }
    for (const entry of fs.readdirSync(dir)) {
      if (!isOurs(driver, entry)) continue;
      fs.rmSync(path.join(dir, entry), { recursive: true, force: true });
      report.changes.push(`removed ${path.join(dir, entry)}`);
    }
    const others = fs.readdirSync(dir);
    if (others.length > 0) {
      report.notes.push(`left ${dir}: it also holds ${others.join(', ')}, which this installer did not put there`);
      continue;
    }
    fs.rmdirSync(dir);
    report.changes.push(`removed ${dir}`);
  }
  syncDirectory(options.pluginDir);
  return report;
}
