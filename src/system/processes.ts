// Other processes of this program, found in /proc: the calls the controller-manager has started
// alongside this one. Compared by executable (device and inode, so every hard link and symlink of
// the driver counts) and by what their arguments say.
import * as fs from 'node:fs';

/** Pids of the other processes running this process's executable whose arguments `matches` accepts. */
export function peerProcesses(matches: (argv: string[]) => boolean): number[] {
  let self: fs.Stats;
  try {
    self = fs.statSync('/proc/self/exe');
  } catch {
    return [];
  }
  const pids: number[] = [];
  for (const name of fs.readdirSync('/proc')) {
    const pid = Number(name);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    try {
      const exe = fs.statSync(`/proc/${pid}/exe`);
      if (exe.ino !== self.ino || exe.dev !== self.dev) continue;
      if (matches(fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').slice(0, -1))) pids.push(pid);
    } catch {
      // Gone meanwhile, or a kernel thread without an executable.
    }
  }
  return pids;
}
