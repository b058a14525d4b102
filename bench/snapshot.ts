// Whether a V8 startup snapshot would pay for the standalone binary (issue 15 item 1: "consider a
// V8 startup snapshot for the standalone binary if it pays"). Four single executables of the
// pinned Node, made by the build's own injectBlob (copy, strip, inject the blob): an
// empty main with and without an empty startup snapshot (what a snapshot costs by itself), and a
// main that spawns true(1) once, with node:child_process loaded at run time or already in the
// snapshot (the most a snapshot could save a hot call: child_process with net and the streams is
// the largest thing a spawning call loads).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { injectBlob } from '../scripts/single-executable.ts';
import { NODE, type Layout } from './layout.ts';
import { interleave, medianUsage, run, usageRun, type Row, type Usage } from './measure.ts';
import type { Native } from './native.ts';

const SPAWN_TRUE = `require('node:child_process').spawnSync('true', [], { stdio: 'ignore' });`;

const MAINS = {
  empty: { snapshot: false, source: '' },
  emptySnapshot: { snapshot: true, source: `require('node:v8').startupSnapshot.setDeserializeMainFunction(() => {});` },
  spawn: { snapshot: false, source: SPAWN_TRUE },
  spawnSnapshot: {
    snapshot: true,
    source: `const childProcess = require('node:child_process');
require('node:v8').startupSnapshot.setDeserializeMainFunction(() => childProcess.spawnSync('true', [], { stdio: 'ignore' }));`,
  },
} as const;

type MainName = keyof typeof MAINS;

function buildExecutable(dir: string, name: MainName): string {
  const { snapshot, source } = MAINS[name];
  const main = path.join(dir, `${name}.cjs`);
  const blob = path.join(dir, `${name}.blob`);
  const output = path.join(dir, name);
  const config = path.join(dir, `${name}.json`);
  fs.writeFileSync(main, source);
  fs.writeFileSync(
    config,
    JSON.stringify({ main, output: blob, disableExperimentalSEAWarning: true, ...(snapshot ? { useSnapshot: true } : { useCodeCache: true }) }),
  );
  run(NODE, ['--experimental-sea-config', config]);
  injectBlob({ node: NODE, blob, output });
  return output;
}

export async function snapshotRows(layout: Layout, native: Native, runs: number): Promise<Row[]> {
  const dir = fs.mkdtempSync(path.join(layout.dir, 'snapshot-'));
  const names = Object.keys(MAINS) as MainName[];
  const executables = names.map((name) => buildExecutable(dir, name));
  const report = path.join(dir, 'child-usage.txt');
  const samples = await interleave(
    executables.map((command) => () => usageRun(native.childUsage, report, { command, args: [], env: layout.env })),
    runs,
  );
  const [empty, emptySnapshot, spawn, spawnSnapshot] = samples.map(medianUsage) as [Usage, Usage, Usage, Usage];
  fs.rmSync(dir, { recursive: true, force: true });
  const group = 'A V8 startup snapshot for the standalone binary';
  const rows = (figure: string, value: Usage, reference: string, referenceValue: Usage): Row[] => [
    { group, figure: `${figure}, wall`, value: value.wallMs, unit: 'ms', reference, referenceValue: referenceValue.wallMs },
    { group, figure: `${figure}, CPU`, value: value.cpuMs, unit: 'ms', reference, referenceValue: referenceValue.cpuMs },
  ];
  return [
    ...rows('single executable with an empty startup snapshot, empty main', emptySnapshot, 'the same without a snapshot', empty),
    ...rows(
      'single executable spawning true(1), node:child_process in its snapshot',
      spawnSnapshot,
      'the same without a snapshot (child_process loaded at run time)',
      spawn,
    ),
  ];
}
