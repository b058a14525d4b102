// Real block devices for tests: loop devices over sparse files, standing in for Azure data disks.
// A pool remembers what it created so afterEach/afterAll can detach everything even after a failure.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export const MiB = 1024 * 1024;

export interface LoopDevice {
  /** `/dev/loopN` */
  path: string;
  /** `loopN` */
  name: string;
  backingFile: string;
}

export function sh(command: string, args: readonly string[], options: { input?: string | Buffer } = {}): string {
  const result = spawnSync(command, args, { encoding: 'utf8', input: options.input });
  if (result.status !== 0) {
    throw new Error(`${command} ${args.join(' ')} failed (${result.status ?? result.signal}): ${result.stderr || result.stdout}`);
  }
  return result.stdout.trim();
}

/** What blkid sees on a device (TYPE, PTTYPE), probing the device itself. */
export function probe(device: string): Record<string, string> {
  const result = spawnSync('blkid', ['-p', '-o', 'export', device], { encoding: 'utf8' });
  if (result.status === 2) return {};
  if (result.status !== 0) throw new Error(`blkid ${device}: ${result.stderr}`);
  return Object.fromEntries(result.stdout.trim().split('\n').map((line) => line.split('=', 2) as [string, string]));
}

export interface LoopPool {
  /** Where the backing files live: `losetup -a` lines that name it are this pool's. */
  dir: string;
  create(label: string, sizeBytes: number): LoopDevice;
  /** Grows the backing file; with `notifyKernel` also tells the loop driver (`losetup -c`), as a rescan would. */
  grow(device: LoopDevice, sizeBytes: number, options?: { notifyKernel?: boolean }): void;
  detachAll(): void;
}

export function createLoopPool(): LoopPool {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'azuredisk-loops-'));
  const created: LoopDevice[] = [];
  return {
    dir,
    create(label, sizeBytes) {
      fs.mkdirSync(dir, { recursive: true });
      const backingFile = path.join(dir, `${label}-${created.length}.img`);
      fs.writeFileSync(backingFile, '');
      fs.truncateSync(backingFile, sizeBytes);
      const device = sh('losetup', ['--find', '--show', backingFile]);
      const loop = { path: device, name: path.basename(device), backingFile };
      created.push(loop);
      return loop;
    },
    grow(device, sizeBytes, options = {}) {
      fs.truncateSync(device.backingFile, sizeBytes);
      if (options.notifyKernel ?? true) sh('losetup', ['-c', device.path]);
    },
    detachAll() {
      for (const loop of created.splice(0)) {
        // Unmount whatever a failed test left mounted from it, then detach.
        for (const mountPoint of mountPointsOf(loop.path)) spawnSync('umount', ['-l', mountPoint]);
        spawnSync('losetup', ['-d', loop.path]);
      }
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

function mountPointsOf(device: string): string[] {
  const number = fs.statSync(device).rdev;
  const majorMinor = `${Math.floor(number / 256) & 0xfff}:${(number & 0xff) | ((number >> 12) & 0xfff00)}`;
  return fs
    .readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((line) => line.split(' '))
    .filter((fields) => fields[2] === majorMinor)
    .map((fields) => (fields[4] ?? '').replace(/\\040/g, ' '))
    .sort((a, b) => b.length - a.length);
}
