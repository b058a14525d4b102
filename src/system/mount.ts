// mount, bind mount, unmount and clean-up of mount points, each bounded in time. Clean-up never
// deletes data: a directory is only rmdir()ed, and only once nothing is mounted on it.
import * as fs from 'node:fs';
import { DriverError } from '../flexvolume/errors.ts';
import { lastLine, run, type RunResult } from './exec.ts';
import { findMount, readMountTable, type MountEntry } from './mount-table.ts';
import { log } from './log.ts';

export interface MountRequest {
  source: string;
  target: string;
  fsType: string;
  options: readonly string[];
  timeoutMs: number;
  /** For credentials (mount.cifs reads PASSWD); never logged. */
  env?: Record<string, string>;
  /** A network share: see UnmountOptions. */
  networkShare?: boolean;
}

export async function mount(request: MountRequest): Promise<void> {
  const args = ['-t', request.fsType];
  if (request.options.length > 0) args.push('-o', request.options.join(','));
  args.push(request.source, request.target);
  const result = await run('mount', args, { timeoutMs: request.timeoutMs, ...(request.env ? { env: request.env } : {}) });
  if (result.timedOut) {
    // The kernel may still complete the mount after mount(8) was killed; never leave it behind.
    await unmount(request.target, { timeoutMs: 10_000, networkShare: request.networkShare }).catch(() => undefined);
    throw new DriverError(
      `mounting ${request.source} did not finish within ${request.timeoutMs / 1000} s; check that the server is reachable from this node`,
    );
  }
  if (result.exitCode !== 0) throw new DriverError(`mount of ${request.source} failed: ${lastLine(result)}`);
}

export async function bindMount(source: string, target: string, options: { readOnly: boolean }): Promise<void> {
  const bind = await run('mount', ['--bind', source, target], { timeoutMs: 30_000 });
  if (bind.exitCode !== 0) throw new DriverError(`bind mount of ${source} failed: ${lastLine(bind)}`);
  if (!options.readOnly) return;
  // A bind mount ignores `ro` until it is remounted.
  const remount = await run('mount', ['-o', 'remount,bind,ro', target], { timeoutMs: 30_000 });
  if (remount.exitCode !== 0) {
    await unmount(target, { timeoutMs: 30_000 });
    throw new DriverError(`read-only remount of ${target} failed: ${lastLine(remount)}`);
  }
}

export interface UnmountOptions {
  timeoutMs: number;
  /**
   * A network share, whose server may be gone for good (a dead NFS server, a CIFS share after a
   * key rotation): when a plain umount fails or hangs, it is forced (-f), then detached lazily
   * (-l). Never a disk's filesystem: one still in use stays alive after a lazy unmount, and its
   * writes are lost once the disk is detached, so a busy disk stays mounted and the call fails.
   */
  networkShare?: boolean;
}

/** What keeps a disk's filesystem from unmounting, for the operator's next step. */
function whatHolds(target: string, failed: RunResult): string {
  const inside = readMountTable()
    .map((entry) => entry.mountPoint)
    .filter((mountPoint) => mountPoint.startsWith(`${target}/`));
  if (inside.length > 0) return `what is mounted inside it is unmounted first (${inside.join(', ')})`;
  if (failed.timedOut) return 'umount can finish: check the disk and the kernel log (dmesg)';
  return `nothing uses it: \`fuser -vm ${target}\` names the processes that do`;
}

/** Unmounts everything stacked on `target`, within about `timeoutMs`. */
export async function unmount(target: string, options: UnmountOptions): Promise<void> {
  const deadline = Date.now() + options.timeoutMs;
  const attempts: string[][] = options.networkShare ? [[target], ['-f', target], ['-l', target]] : [[target]];
  for (let round = 0; findMount(target) !== undefined; round++) {
    if (round === 8) throw new DriverError(`${target} is still mounted after unmounting it 8 times`);
    let failed: RunResult | undefined;
    for (const args of attempts) {
      const remaining = Math.max(1000, deadline - Date.now());
      const result = await run('umount', args, { timeoutMs: Math.min(remaining, options.timeoutMs / 2) });
      failed = result.exitCode === 0 || findMount(target) === undefined ? undefined : result;
      if (failed === undefined) break;
    }
    if (failed === undefined) continue;
    if (options.networkShare) throw new DriverError(`could not unmount ${target}, not even lazily; see the log for umount's output`);
    throw new DriverError(`could not unmount ${target}: ${lastLine(failed).replace(/\.$/, '')}; it stays mounted, and its disk attached, until ${whatHolds(target, failed)}`);
  }
}

/** Unmounts `target` if needed and removes the directory, so the kubelet's own rmdir succeeds. */
export async function cleanupMountPoint(target: string, options: UnmountOptions): Promise<void> {
  await unmount(target, options);
  try {
    fs.rmdirSync(target);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return;
    if (code === 'ENOTEMPTY' || code === 'EEXIST') {
      throw new DriverError(`${target} is unmounted but not empty; leaving its files in place for an operator to inspect`);
    }
    throw new DriverError(`could not remove ${target}: ${(error as Error).message}`);
  }
}

/** Creates the mount point the way the kubelet does (0750), refusing a path that is a file. */
export function ensureMountPoint(target: string): void {
  fs.mkdirSync(target, { recursive: true, mode: 0o750 });
}

const BROKEN_MOUNT_ERRORS = new Set(['ENOTCONN', 'ESTALE', 'EIO', 'EACCES', 'EHOSTDOWN', 'EWOULDBLOCK', 'EAGAIN', 'ENODEV']);

/**
 * Whether a mount still answers. A stat that fails with one of the errors the kubelet treats as a
 * corrupted mount, or that does not return within `timeoutMs`, means the mount is broken.
 */
export async function isMountHealthy(entry: MountEntry, timeoutMs: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), timeoutMs);
  });
  try {
    const outcome = await Promise.race([fs.promises.stat(entry.mountPoint).then(() => 'ok' as const), timeout]);
    if (outcome === 'timeout') log(`mount ${entry.mountPoint} did not answer a stat within ${timeoutMs} ms`);
    return outcome === 'ok';
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? '';
    log(`mount ${entry.mountPoint} answered stat with ${code}`);
    return !BROKEN_MOUNT_ERRORS.has(code);
  } finally {
    clearTimeout(timer);
  }
}
