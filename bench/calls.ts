// Per-call cost of the answer-only calls next to a bare start of the same Node, for the standalone
// binary and the bundle on Node (the hot calls, with their children and CPU time, are in hot.ts).
import * as fs from 'node:fs';
import { baseOptions, goJson } from '../test/helpers/kubelet.ts';
import { NODE, type Layout } from './layout.ts';
import { interleave, median, timeRun, type Command, type Row } from './measure.ts';
import { ARM64_SYSROOT, PLATFORMS } from '../scripts/build-image.ts';

const DISK_URI = '/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg/providers/Microsoft.Compute/disks/disk-1';

async function medians(commands: Command[], runs: number): Promise<number[]> {
  return (await interleave(commands.map((command) => () => timeRun(command)), runs)).map(median);
}

export async function startupRows(layout: Layout, runs: number): Promise<Row[]> {
  const bare: Command = { command: NODE, args: ['-e', '0'], env: layout.env };
  const reference = 'bare `node -e 0`, same Node';
  const group = 'Answer-only calls (latency)';
  const getvolumename = ['getvolumename', goJson({ ...baseOptions({ volumeName: 'pv-1', fsType: 'ext4' }), diskName: 'disk-1', diskURI: DISK_URI })];
  const [seaInit = 0, bundleInit = 0, seaName = 0, bundleName = 0, bareNode = 0] = await medians(
    [
      { command: layout.executable('sea', 'azuredisk'), args: ['init'], env: layout.env },
      { command: layout.executable('bundle', 'azuredisk'), args: ['init'], env: layout.env },
      { command: layout.executable('sea', 'azuredisk'), args: getvolumename, env: layout.env },
      { command: layout.executable('bundle', 'azuredisk'), args: getvolumename, env: layout.env },
      bare,
    ],
    runs,
  );
  return [
    { group, figure: '`init`, standalone binary', value: seaInit, unit: 'ms', reference, referenceValue: bareNode },
    { group, figure: '`init`, bundle on Node', value: bundleInit, unit: 'ms', reference, referenceValue: bareNode },
    { group, figure: '`getvolumename`, standalone binary', value: seaName, unit: 'ms', reference, referenceValue: bareNode },
    { group, figure: '`getvolumename`, bundle on Node', value: bundleName, unit: 'ms', reference, referenceValue: bareNode },
  ];
}

const QEMU = '/usr/bin/qemu-aarch64-static';
const ARM64 = PLATFORMS.find((platform) => platform.arch === 'arm64')?.executable as string;

/** Whether the arm64 binary and its emulator are here; if not, why. */
export function arm64Missing(): string | undefined {
  if (!fs.existsSync(ARM64)) return 'arm64 `init` under qemu (needs npm run build:arm64)';
  if (!fs.existsSync(QEMU)) return 'arm64 `init` under qemu (needs qemu-user-static: scripts/setup.sh)';
  if (!fs.existsSync(ARM64_SYSROOT)) return 'arm64 `init` under qemu (needs the arm64 glibc: scripts/setup.sh)';
  return undefined;
}

/** A smoke figure only: emulation says nothing of a real arm64 node's speed, only that the fast path holds there too. */
export async function arm64InitRows(layout: Layout, runs: number): Promise<Row[]> {
  const [emulated = 0, native = 0] = await medians(
    [
      { command: QEMU, args: ['-L', ARM64_SYSROOT, '-0', 'azuredisk', ARM64, 'init'], env: layout.env },
      { command: layout.executable('sea', 'azuredisk'), args: ['init'], env: layout.env },
    ],
    runs,
  );
  return [
    { group: 'arm64 (smoke figure: emulated by qemu-aarch64-static)', figure: '`init`, arm64 standalone binary under qemu', value: emulated, unit: 'ms', reference: 'x64 standalone binary, native', referenceValue: native },
  ];
}
