// CPU time of the processes of a burst of concurrent attaches to one VM (issue 15 item 2: "CPU per
// follower ≤ 100 ms"), next to a lone attach's. Each process runs under child-usage, so its CPU
// time (user+sys, with its children) comes from wait4. Which process led the batch is not visible
// from outside; the one that spent the most CPU is taken for the leader, the rest are followers.
import * as path from 'node:path';
import { callDriver } from '../test/helpers/kubelet.ts';
import { volumeOptions, type ArmBench } from './arm.ts';
import { median, tracked, usageFromReport, type Row } from './measure.ts';
import type { Native } from './native.ts';

/** The CPU milliseconds of each of `count` processes attaching a new disk each to one new VM at once. */
async function burstCpu(bench: ArmBench, native: Native, count: number, label: string): Promise<number[]> {
  const { sim, layout } = bench;
  const vm = `vm-cpu-${label}`;
  sim.addVM({ name: vm });
  const attaches = Array.from({ length: count }, (_, i) => {
    const disk = `disk-cpu-${label}-${i}`;
    sim.addDisk({ name: disk, sizeGB: 32 });
    const report = path.join(layout.dir, `burst-${label}-${i}.txt`);
    const args = [report, layout.executable('sea', 'azuredisk'), 'attach', volumeOptions(bench, disk, `pv-cpu-${label}-${i}`), vm];
    return { report, call: () => tracked(() => callDriver(native.childUsage, args, { env: bench.env })) };
  });
  const replies = await Promise.all(attaches.map(({ call }) => call()));
  const failed = replies.find((reply) => reply.status !== 'Success');
  if (failed !== undefined) throw new Error(`attach failed: ${failed.output}`);
  return attaches.map(({ report }) => usageFromReport(report).cpuMs);
}

export async function burstCpuRows(bench: ArmBench, native: Native, rounds: number, size: number, latencyMs: number): Promise<Row[]> {
  bench.sim.setUpdateLatency(latencyMs);
  const alone: number[] = [];
  const leaders: number[] = [];
  const followers: number[] = [];
  for (let round = 0; round < rounds; round++) {
    alone.push(...(await burstCpu(bench, native, 1, `1x-${round}`)));
    const burst = (await burstCpu(bench, native, size, `${size}x-${round}`)).sort((a, b) => b - a);
    leaders.push(burst[0] ?? 0);
    followers.push(...burst.slice(1));
  }
  const group = `CPU time of concurrent attaches (${size} processes, simulated VM update latency ${latencyMs} ms)`;
  const reference = 'one attach alone';
  const single = median(alone);
  return [
    { group, figure: 'one attach alone, CPU', value: single, unit: 'ms' },
    { group, figure: `CPU per attach in a ${size}-way burst, the highest (taken for the leader)`, value: median(leaders), unit: 'ms', reference, referenceValue: single },
    { group, figure: `CPU per follower in a ${size}-way burst (all but the highest), median`, value: median(followers), unit: 'ms', reference, referenceValue: single },
    { group, figure: `CPU per follower in a ${size}-way burst, the most`, value: Math.max(...followers), unit: 'ms', reference, referenceValue: single },
  ];
}
