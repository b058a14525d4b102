// mountdevice of a blank disk (checks, format, mount) and of a formatted one (checks, fsck, mount)
// on a 1 GiB loop device, next to the very children the driver ran (read from its log) run by hand
// one after another: the difference is the driver's fixed overhead above the safety checks' own
// runtime (issue 15 item 4). The same children run by a bare script of the same Node show how much
// of that overhead any Node program pays (its start, node:child_process, a fork per child) and so
// how much is the driver's own. Between runs, untimed, the device is unmounted (and, for the blank
// case, wiped), so every run starts from the same disk.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { baseOptions, goJson } from '../test/helpers/kubelet.ts';
import { createLoopPool, MiB } from '../test/helpers/loop-devices.ts';
import { childrenLoggedSince, describeChildren, logSize, runByHand, runThroughNode } from './children.ts';
import type { Layout } from './layout.ts';
import { addUsage, elapsedMs, interleave, isMounted, median, medianUsage, run, unmountAllUnder, usageRun, type Row, type Usage, type UsageRun } from './measure.ts';
import type { Native } from './native.ts';

export interface MountdeviceFigures {
  disk: 'blank' | 'formatted';
  children: string;
  driver: Usage;
  byHand: Usage;
  /** The same children run in turn by a bare script of the same Node. */
  nodeSpawning: Usage;
  /** Median of the per-round differences driver − by hand (wall). */
  overheadMs: number;
  overheadCpuMs: number;
  /** Median of the per-round differences Node spawning them − by hand (wall): the part any Node program pays. */
  nodeOverheadMs: number;
}

/** The zero-region check reads the first and last MiB of a disk blkid and wipefs call blank. */
function readEdges(device: string): Usage {
  const started = process.hrtime.bigint();
  const fd = fs.openSync(device, 'r');
  try {
    const buffer = Buffer.alloc(MiB);
    const size = Number(run('blockdev', ['--getsize64', device]).trim());
    fs.readSync(fd, buffer, 0, MiB, 0);
    fs.readSync(fd, buffer, 0, MiB, size - MiB);
  } finally {
    fs.closeSync(fd);
  }
  const ms = elapsedMs(started);
  return { wallMs: ms, cpuMs: ms };
}

export async function mountdeviceRows(
  layout: Layout,
  native: Native,
  runs: number,
  onCleanup: (step: () => void) => void,
): Promise<{ rows: Row[]; figures: MountdeviceFigures[] }> {
  const pool = createLoopPool();
  onCleanup(() => pool.detachAll());
  onCleanup(() => unmountAllUnder(layout.dir));
  const device = pool.create('mountdevice', 1024 * MiB).path;
  const globalPath = path.join(layout.kubeletRoot, 'plugins/kubernetes.io/flexvolume/azure/azuredisk/mounts/pv-bench');
  const report = path.join(layout.dir, 'child-usage.txt');
  const logFile = layout.env.FLEXVOLUME_LOG_FILE ?? '';
  const options = goJson({
    ...baseOptions({ volumeName: 'pv-bench', fsType: 'ext4' }),
    diskName: 'disk-bench',
    diskURI: '/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/disks/disk-bench',
  });
  const driver: UsageRun = { command: layout.executable('sea', 'azuredisk'), args: ['mountdevice', globalPath, device, options], env: layout.env };
  const unmount = () => {
    if (isMounted(globalPath)) run('umount', [globalPath]);
    fs.mkdirSync(globalPath, { recursive: true, mode: 0o750 });
  };

  const figures: MountdeviceFigures[] = [];
  for (const disk of ['blank', 'formatted'] as const) {
    const reset = disk === 'blank' ? () => (unmount(), run('blkdiscard', [device])) : unmount;
    reset();
    const offset = logSize(logFile);
    usageRun(native.childUsage, report, driver);
    const children = childrenLoggedSince(logFile, offset);
    const withEdges = (tools: Usage) => (disk === 'blank' ? addUsage(tools, readEdges(device)) : tools);
    const byHand = () => withEdges(runByHand(native.childUsage, report, children, layout.env));
    const throughNode = () => withEdges(runThroughNode(native.childUsage, report, children, layout.env));
    const [driverSamples = [], handSamples = [], nodeSamples = []] = await interleave(
      [() => usageRun(native.childUsage, report, driver), byHand, throughNode],
      runs,
      reset,
    );
    const above = (samples: readonly Usage[]) =>
      samples.map((sample, round) => ({
        wallMs: sample.wallMs - (handSamples[round]?.wallMs ?? 0),
        cpuMs: sample.cpuMs - (handSamples[round]?.cpuMs ?? 0),
      }));
    const differences = above(driverSamples);
    figures.push({
      disk,
      children: describeChildren(children),
      driver: medianUsage(driverSamples),
      byHand: medianUsage(handSamples),
      nodeSpawning: medianUsage(nodeSamples),
      overheadMs: median(differences.map((d) => d.wallMs)),
      overheadCpuMs: median(differences.map((d) => d.cpuMs)),
      nodeOverheadMs: median(above(nodeSamples).map((d) => d.wallMs)),
    });
  }
  unmount();
  run('blkdiscard', [device]);
  return { rows: mountdeviceTable(figures), figures };
}

function mountdeviceTable(figures: readonly MountdeviceFigures[]): Row[] {
  const group = 'Disk preparation: `mountdevice` of a 1 GiB disk, standalone binary';
  return figures.flatMap(({ disk, children, driver, byHand, nodeSpawning, overheadMs, overheadCpuMs, nodeOverheadMs }) => {
    const edges = disk === 'blank' ? ' + first/last MiB read' : '';
    const reference = `the same children by hand: ${children}${edges}`;
    const throughNode = `the same children spawned by \`node -e\`${edges}`;
    return [
      { group, figure: `${disk} disk, wall`, value: driver.wallMs, unit: 'ms', reference, referenceValue: byHand.wallMs },
      { group, figure: `${disk} disk, CPU`, value: driver.cpuMs, unit: 'ms', reference, referenceValue: byHand.cpuMs },
      { group, figure: `${disk} disk, wall, next to Node spawning its children`, value: driver.wallMs, unit: 'ms', reference: throughNode, referenceValue: nodeSpawning.wallMs },
      { group, figure: `${disk} disk, CPU, next to Node spawning its children`, value: driver.cpuMs, unit: 'ms', reference: throughNode, referenceValue: nodeSpawning.cpuMs },
      { group, figure: `${disk} disk, fixed overhead (driver − by hand, per round), wall`, value: overheadMs, unit: 'ms', reference: 'target', referenceValue: 50 },
      { group, figure: `${disk} disk, fixed overhead, CPU`, value: overheadCpuMs, unit: 'ms' },
      { group, figure: `${disk} disk, Node's own overhead (node -e spawning them − by hand, per round), wall`, value: nodeOverheadMs, unit: 'ms' },
    ];
  });
}
