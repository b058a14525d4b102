// mountdevice on a blank disk (a 1 GiB loop device): the driver's checks, format and mount next to
// an operator formatting and mounting it by hand. The device is zeroed and unmounted between runs,
// untimed, so every run starts from a blank disk.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { baseOptions, goJson } from '../test/helpers/kubelet.ts';
import { createLoopPool, MiB } from '../test/helpers/loop-devices.ts';
import { mountsUnder } from '../test/helpers/sandbox.ts';
import type { Layout } from './layout.ts';
import { elapsedMs, interleave, median, run, timeRun, type Row } from './measure.ts';

export async function mountdeviceRows(layout: Layout, runs: number, onCleanup: (step: () => void) => void): Promise<Row[]> {
  const pool = createLoopPool();
  onCleanup(() => pool.detachAll());
  const device = pool.create('blank', 1024 * MiB).path;
  const globalPath = path.join(layout.kubeletRoot, 'plugins/kubernetes.io/flexvolume/azure/azuredisk/mounts/pv-bench');
  const byHand = path.join(layout.dir, 'by-hand');
  fs.mkdirSync(globalPath, { recursive: true, mode: 0o750 });
  fs.mkdirSync(byHand);
  const options = goJson({ ...baseOptions({ volumeName: 'pv-bench', fsType: 'ext4' }), diskName: 'disk-bench', diskURI: '/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/disks/disk-bench' });

  const reset = () => {
    for (const mountPoint of mountsUnder(layout.dir)) run('umount', [mountPoint]);
    // Zeros, as a fresh Azure disk reads: wipefs -a would leave the metadata that blocks a format.
    run('blkdiscard', [device]);
  };
  const driver = () => timeRun({ command: layout.executable('sea', 'azuredisk'), args: ['mountdevice', globalPath, device, options], env: layout.env });
  const manual = () => {
    const started = process.hrtime.bigint();
    run('mkfs.ext4', ['-F', '-q', '-m0', device]);
    run('mount', [device, byHand]);
    return elapsedMs(started);
  };
  const [driverMs = 0, manualMs = 0] = (await interleave([driver, manual], runs, reset)).map(median);
  reset();
  const group = 'Disk preparation';
  return [
    {
      group,
      figure: '`mountdevice` of a blank 1 GiB disk (check, format ext4, mount), standalone binary',
      value: driverMs,
      unit: 'ms',
      reference: '`mkfs.ext4 -F -m0` + `mount` by hand',
      referenceValue: manualMs,
    },
  ];
}
