// Who a process is, durably enough to survive pid reuse: its pid and its start time from /proc.
// Locks and queued requests record the identity of the process they belong to, so that whatever a
// dead process left behind is recognised as such, and a reused pid is not mistaken for it.
import * as fs from 'node:fs';

let namesMade = 0;

/**
 * A name no other process, nor another call of this one, uses: for lock tokens and files set
 * aside. Not from node:crypto, whose load alone costs a hot call about 4 ms: nothing depends on it
 * being unguessable, since the files it names are created exclusively (a name someone else took
 * fails to open, it is never shared).
 */
export function uniqueName(): string {
  namesMade += 1;
  return `${process.pid}-${Date.now().toString(36)}-${namesMade}-${Math.random().toString(36).slice(2, 10)}`;
}

export interface ProcessIdentity {
  pid: number;
  /** Field 22 of /proc/<pid>/stat (clock ticks after boot). */
  startTime: string;
}

/**
 * The fields of /proc/<pid>/stat from the third on (state, ppid, pgrp, …), counted after the
 * command name, which may contain spaces, closes with ')'.
 */
export function processStat(pid: number | string): string[] | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/** Field 22 of /proc/<pid>/stat. */
export function processStartTime(pid: number): string | undefined {
  return processStat(pid)?.[19];
}

export function identityOf(pid: number): ProcessIdentity | undefined {
  const startTime = processStartTime(pid);
  return startTime === undefined ? undefined : { pid, startTime };
}

let current: ProcessIdentity | undefined;

export function currentProcess(): ProcessIdentity {
  current ??= { pid: process.pid, startTime: processStartTime(process.pid) ?? '' };
  return current;
}

/** Whether the process that `identity` names still runs (the same process, not a new one with its pid). */
export function isAlive(identity: ProcessIdentity): boolean {
  const startTime = processStartTime(identity.pid);
  return startTime !== undefined && startTime === identity.startTime;
}
