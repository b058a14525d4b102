// The shared libraries the standalone binary runs on, found where the running process loaded them
// (its /proc/self/maps): no ldd, no guessing of distribution paths, and exactly the glibc the binary
// was just proven to work with. Only the DT_NEEDED closure of the executable counts, so whatever
// else the process happened to load does not change the set.
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DriverError } from '../flexvolume/errors.ts';
import { readElf } from './elf.ts';
import { SYSTEM_INTERPRETER } from './reserved-paths.ts';

export interface RuntimeLibrary {
  /** The name the loader looks for (DT_SONAME), and the file name it is shipped under. */
  soname: string;
  path: string;
}

export interface RuntimeLibraries {
  libraries: RuntimeLibrary[];
  /** The soname of the dynamic loader among them, which the executable names as its interpreter. */
  interpreter: string;
  /** Content hash of the set: names the directory they are shipped in, so versions never mix. */
  digest: string;
}

function mappedFiles(mapsFile: string): string[] {
  const files = new Set<string>();
  for (const line of fs.readFileSync(mapsFile, 'utf8').split('\n')) {
    const file = line.split(/\s+/).slice(5).join(' ');
    if (file.startsWith('/') && !file.endsWith(' (deleted)')) files.add(file);
  }
  return [...files];
}

function sonamesOf(files: string[]): Map<string, string> {
  const bySoname = new Map<string, string>();
  for (const file of files) {
    try {
      const soname = readElf(file).soname;
      if (soname !== undefined && !bySoname.has(soname)) bySoname.set(soname, file);
    } catch {
      // Not an ELF library (a locale archive, a font): not something the loader needs.
    }
  }
  return bySoname;
}

function digestOf(libraries: RuntimeLibrary[]): string {
  const hash = crypto.createHash('sha256');
  for (const library of libraries) {
    hash.update(`${library.soname}\0`);
    hash.update(crypto.createHash('sha256').update(fs.readFileSync(library.path)).digest());
  }
  return hash.digest('hex').slice(0, 12);
}

export function runtimeLibrariesOf(executable: string, mapsFile = '/proc/self/maps'): RuntimeLibraries {
  const libraries = neededLibraries(executable, sonamesOf(mappedFiles(mapsFile)), 'which this process has not loaded; run the installer from the standalone binary itself');
  const interpreter = path.basename(SYSTEM_INTERPRETER);
  if (!libraries.some((library) => library.soname === interpreter)) throw new DriverError(`${executable} does not use the dynamic loader ${interpreter}`);
  return { libraries, interpreter, digest: digestOf(libraries) };
}

/** The libraries in `dirs` by soname, the first directory winning: what a loader searching them would find. */
export function librariesIn(dirs: readonly string[]): Map<string, string> {
  return sonamesOf(dirs.flatMap((dir) => (fs.existsSync(dir) ? fs.readdirSync(dir).sort().map((name) => path.join(dir, name)) : [])));
}

/** The DT_NEEDED closure of `executable` among `available` (soname → file), sorted by soname. */
export function neededLibraries(executable: string, available: ReadonlyMap<string, string>, whyMissing: string): RuntimeLibrary[] {
  const libraries: RuntimeLibrary[] = [];
  const pending = [...readElf(executable).needed];
  const seen = new Set<string>();
  while (pending.length > 0) {
    const soname = pending.shift() as string;
    if (seen.has(soname)) continue;
    seen.add(soname);
    const file = available.get(soname);
    if (file === undefined) throw new DriverError(`${executable} needs ${soname}, ${whyMissing}`);
    libraries.push({ soname, path: file });
    pending.push(...readElf(file).needed);
  }
  return libraries.sort((a, b) => (a.soname < b.soname ? -1 : a.soname > b.soname ? 1 : 0));
}
