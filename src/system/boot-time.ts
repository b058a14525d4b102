// When this host booted, from the kernel's clock (`btime` in /proc/stat): what was recorded before
// it belongs to a previous boot, whose mounts are gone.
import * as fs from 'node:fs';

export function bootTimeMs(): number | undefined {
  try {
    const seconds = /^btime (\d+)$/m.exec(fs.readFileSync('/proc/stat', 'utf8'))?.[1];
    return seconds === undefined ? undefined : Number(seconds) * 1000;
  } catch {
    return undefined;
  }
}
