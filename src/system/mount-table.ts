// The mount table from /proc/self/mountinfo. It is read, never stat()ed through: a stat on a hung
// NFS or CIFS mount blocks forever, reading the table does not.
import * as fs from 'node:fs';

export interface MountEntry {
  mountPoint: string;
  /** The path inside the source filesystem that is mounted (not `/` for bind mounts of a subdir). */
  root: string;
  source: string;
  fsType: string;
  options: string[];
  majorMinor: string;
}

export const MOUNTINFO = '/proc/self/mountinfo';

function unescape(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
}

export function parseMountInfo(text: string): MountEntry[] {
  const entries: MountEntry[] = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const fields = line.split(' ');
    const separator = fields.indexOf('-', 6);
    if (separator < 0 || fields.length < separator + 3) continue;
    entries.push({
      majorMinor: fields[2] ?? '',
      root: unescape(fields[3] ?? ''),
      mountPoint: unescape(fields[4] ?? ''),
      options: (fields[5] ?? '').split(','),
      fsType: fields[separator + 1] ?? '',
      source: unescape(fields[separator + 2] ?? ''),
    });
  }
  return entries;
}

export function readMountTable(): MountEntry[] {
  return parseMountInfo(fs.readFileSync(MOUNTINFO, 'utf8'));
}

/** The mount visible at `mountPoint` (the last one when mounts are stacked), if any. */
export function findMount(mountPoint: string, table: MountEntry[] = readMountTable()): MountEntry | undefined {
  return table.findLast((entry) => entry.mountPoint === mountPoint);
}
