// Issue 15's table, side by side from this run: each hot call and the disk preparation next to
// `node -e 0` plus the children it must run, the same Node running those children itself, the bash
// peer, the static C floor plus the same children, and the in-tree and CSI models; the attach
// figures come from bench/arm.ts's rows.
import type { HotResult } from './hot.ts';
import type { Row } from './measure.ts';
import type { MountdeviceFigures } from './mountdevice.ts';
import type { Usage } from './measure.ts';

const HEADER = ['measured', 'this driver', '`node -e 0` + children by hand (the physical floor)', 'ratio', 'the same Node spawning the children (item 1\'s reference)', 'bash peer', 'C floor + children', 'in-tree model', 'CSI model'];

const ms = (value: number): string => `${value.toFixed(value < 10 ? 2 : 1)} ms`;
const both = (usage: Usage): string => `${ms(usage.wallMs)} wall, ${ms(usage.cpuMs)} CPU`;
const ratio = (value: number, reference: number): string => `${(value / reference).toFixed(2)}x`;
const find = (rows: readonly Row[], figure: string | RegExp): Row | undefined =>
  rows.find((row) => (typeof figure === 'string' ? row.figure.startsWith(figure) : figure.test(`${row.group} ${row.figure}`)));

function hotLines(hot: HotResult): string[][] {
  const bare = ['`node -e 0` (a bare start of the same Node)', both(hot.node), '', '', '', '—', `C floor: ${both(hot.floor)}`, 'no process start', `${ms(hot.csiRoundTripMs)} per call (resident plugin, one request over a unix socket)`];
  return [bare, ...hot.calls.map((call) => [
    call.name + (call.extras ? ` (also runs ${call.extras})` : ''),
    both(call.driver),
    both(call.reference),
    `${ratio(call.driver.wallMs, call.reference.wallMs)} wall, ${ratio(call.driver.cpuMs, call.reference.cpuMs)} CPU`,
    call.nodeSpawning
      ? `${both(call.nodeSpawning)}: driver ${ratio(call.driver.wallMs, call.nodeSpawning.wallMs)} wall, ${ratio(call.driver.cpuMs, call.nodeSpawning.cpuMs)} CPU`
      : 'no child: as `node -e 0`',
    call.peer ? `${ms(call.peer.usage.wallMs)} (driver ${ratio(call.driver.wallMs, call.peer.usage.wallMs)})` : '—',
    ms(call.floorPlusChildren.wallMs),
    call.inTree === undefined ? 'in process, no child' : ms(call.inTree),
    call.csi === undefined ? 'no such call' : ms(call.csi),
  ])];
}

function mountdeviceLines(figures: readonly MountdeviceFigures[], hot: HotResult | undefined): string[][] {
  return figures.map((figure) => [
    `\`mountdevice\`, ${figure.disk} 1 GiB disk: overhead above ${figure.children} by hand`,
    `${ms(figure.driver.wallMs)} wall (+${ms(figure.overheadMs)})`,
    `by hand ${ms(figure.byHand.wallMs)}`,
    `${ratio(figure.driver.wallMs, figure.byHand.wallMs)} wall`,
    `${both(figure.nodeSpawning)} (+${ms(figure.nodeOverheadMs)}): driver ${ratio(figure.driver.wallMs, figure.nodeSpawning.wallMs)} wall, ${ratio(figure.driver.cpuMs, figure.nodeSpawning.cpuMs)} CPU`,
    '—',
    hot === undefined ? '—' : ms(hot.floor.wallMs + figure.byHand.wallMs),
    `${ms(figure.byHand.wallMs)} (the same tools)`,
    hot === undefined ? '—' : ms(hot.csiRoundTripMs + figure.byHand.wallMs),
  ]);
}

function attachLines(rows: readonly Row[]): string[][] {
  const single = find(rows, '1 attach alone');
  const burst = find(rows, '16 concurrent attaches');
  const updates = find(rows, 'VM updates (PUT/PATCH) for 16');
  const reads = find(rows, 'VM reads (ARM GET) per sweep');
  const leader = find(rows, 'CPU per attach in a 16-way burst, the highest');
  const follower = find(rows, 'CPU per follower in a 16-way burst (all');
  const followerMost = find(rows, 'CPU per follower in a 16-way burst, the most');
  const alone = find(rows, 'one attach alone, CPU');
  const cluster = find(rows, /500 VMs.*ARM requests per hour/i);
  const missing = 'not measured in this run';
  const armFigure = (row: Row | undefined) => (row ? `${row.value.toFixed(row.digits ?? 1)}${row.unit ? ` ${row.unit}` : ''} (${row.figure})` : `${missing} (bench/arm.ts)`);
  return [
    [
      '16 concurrent attaches to one VM',
      burst && single ? `${ms(burst.value)} wall, ${updates?.value ?? '?'} VM updates` : missing,
      single ? `one attach alone: ${ms(single.value)}` : missing,
      burst && single ? `${ratio(burst.value, single.value)} wall` : '',
      '—',
      '—',
      '—',
      '—',
      '1 s batching window + 1 update (model, from the issue)',
    ],
    [
      'CPU per attach in a 16-way burst',
      leader && follower && followerMost ? `leader ${ms(leader.value)}, followers ${ms(follower.value)} (at most ${ms(followerMost.value)})` : missing,
      alone ? `one attach alone: ${ms(alone.value)}` : '',
      leader && follower && alone ? `${ratio(follower.value, alone.value)} per follower` : '',
      '—',
      '—',
      '—',
      '—',
      "the leader's work once",
    ],
    ['5,000 volumes on 500 nodes: ARM reads per hour', armFigure(cluster), 'ARM read budget ~12,000/hour', '', '—', '—', '—', '—', '—'],
    ['isattached sweep, 50 volumes on 5 VMs', reads ? `${reads.value} VM reads` : missing, '5 (one per VM)', reads ? ratio(reads.value, 5) : '', '—', '—', '—', 'cloud provider cache: one read per VM per period', 'no isattached calls'],
  ];
}

/** 5,000 volumes, one isattached process each per minute: the controller-manager cores they keep busy. */
function clusterCpuLine(hot: HotResult): string[][] {
  const isattached = hot.calls.find((call) => call.name.includes('isattached'));
  if (isattached === undefined) return [];
  const cores = (cpuMs: number) => `${((5000 / 60) * (cpuMs / 1000)).toFixed(1)} cores`;
  return [
    [
      '5,000 volumes, isattached every minute per volume: controller-manager CPU (from the CPU per call above)',
      cores(isattached.driver.cpuMs),
      cores(isattached.reference.cpuMs),
      ratio(isattached.driver.cpuMs, isattached.reference.cpuMs),
      '—',
      '—',
      cores(hot.floor.cpuMs),
      'in process: the cache lookups only',
      'no isattached calls',
    ],
  ];
}

export function renderIssue15Table(hot: HotResult | undefined, mountdevice: readonly MountdeviceFigures[], rows: readonly Row[]): string {
  const lines = [...(hot ? [...hotLines(hot), ...clusterCpuLine(hot)] : []), ...mountdeviceLines(mountdevice, hot), ...attachLines(rows)];
  const format = (cells: readonly string[]) => `| ${cells.join(' | ')} |`;
  return [format(HEADER), format(HEADER.map(() => '---')), ...lines.map(format)].join('\n');
}
