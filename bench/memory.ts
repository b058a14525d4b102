// Peak memory (maximum resident set size) of one call of the standalone binary, as GNU time
// reports it, next to a bare start of the same Node. Runs asynchronously: an attach talks to the
// simulator in this very process, which a blocking spawn would starve.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { goJson, mountOptions } from '../test/helpers/kubelet.ts';
import { volumeOptions, type ArmBench } from './arm.ts';
import { NODE, type Layout } from './layout.ts';
import { median, tracked, type Command, type Row } from './measure.ts';

export const GNU_TIME = '/usr/bin/time';

/** Whether GNU time (Debian package `time`) is there; the shell keyword cannot report memory. */
export function canMeasureMemory(): boolean {
  try {
    fs.accessSync(GNU_TIME, fs.constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

async function maxRssKiB(layout: Layout, { command, args, env }: Command): Promise<number> {
  const report = path.join(layout.dir, 'max-rss.txt');
  const { code, output } = await tracked(
    () =>
      new Promise<{ code: number | null; output: string }>((resolve) => {
        const child = spawn(GNU_TIME, ['-f', '%M', '-o', report, command, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
        let output = '';
        child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
        child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
        child.on('close', (code) => resolve({ code, output }));
      }),
  );
  if (code !== 0) throw new Error(`${command} ${args[0] ?? ''} failed (${code}): ${output}`);
  return Number(fs.readFileSync(report, 'utf8').trim().split('\n').pop());
}

async function medianRss(layout: Layout, runs: number, command: (run: number) => Command): Promise<number> {
  const samples: number[] = [];
  for (let run = 0; run < runs; run++) samples.push(await maxRssKiB(layout, command(run)));
  return median(samples) / 1024;
}

export async function memoryRows(layout: Layout, bench: ArmBench, runs: number): Promise<Row[]> {
  const podDir = path.join(layout.kubeletRoot, 'pods/7f0c6d3e-1111-4a4a-9c9c-000000000001/volumes/azure~nfs/pv-memory');
  fs.mkdirSync(podDir, { recursive: true, mode: 0o750 });
  const nfsOptions = goJson(mountOptions({ server: '10.0.0.5', share: '/exports' }, { volumeName: 'pv-memory' }));
  bench.sim.setUpdateLatency(100);
  bench.sim.addVM({ name: 'vm-memory' });
  for (let run = 0; run < runs; run++) bench.sim.addDisk({ name: `disk-memory-${run}`, sizeGB: 32 });

  const bare = await medianRss(layout, runs, () => ({ command: NODE, args: ['-e', '0'], env: layout.env }));
  const init = await medianRss(layout, runs, () => ({ command: layout.executable('sea', 'nfs'), args: ['init'], env: layout.env }));
  const mount = await medianRss(layout, runs, () => ({ command: layout.executable('sea', 'nfs'), args: ['mount', podDir, nfsOptions], env: layout.fakeMountEnv }));
  const attach = await medianRss(layout, runs, (run) => ({
    command: layout.executable('sea', 'azuredisk'),
    args: ['attach', volumeOptions(bench, `disk-memory-${run}`, `pv-memory-${run}`), 'vm-memory'],
    env: bench.env,
  }));
  const group = 'Peak memory of one call (max RSS, standalone binary)';
  const reference = 'bare `node -e 0`, same Node';
  return [
    { group, figure: '`init`', value: init, unit: 'MiB', reference, referenceValue: bare },
    { group, figure: 'nfs `mount` (mount replaced by true(1))', value: mount, unit: 'MiB', reference, referenceValue: bare },
    { group, figure: 'azuredisk `attach` (Azure SDK loaded, against the simulator)', value: attach, unit: 'MiB', reference, referenceValue: bare },
  ];
}
