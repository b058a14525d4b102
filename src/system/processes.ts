// Other processes, found in /proc: the calls of this program the controller-manager has started
// alongside this one, compared by executable (device and inode, so every hard link and symlink of
// the driver counts) and by what their arguments say; and what a child started (its process group).
import * as fs from 'node:fs';
import { processStat } from './process-identity.ts';

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

/** Whether a process of group `pgid` still runs: zombies do not (without an init to reap them they stay). */
export function isGroupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
  return fs.readdirSync('/proc').some((name) => {
    const [state, , pgrp] = /^\d+$/.test(name) ? (processStat(name) ?? []) : [];
    return Number(pgrp) === pgid && state !== 'Z';
  });
}
