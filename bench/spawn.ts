// What a child process costs a Node program (issue 15 item 1: "measure execa against
// node:child_process"): a fresh Node that runs true(1) once or eleven times through execa, or
// through node:child_process, next to `node -e 0`. The difference to `node -e 0` of one spawn is
// import plus first spawn; the step from one to eleven, divided by ten, is each further spawn.
// Beside them, Node's internal spawn binding, which node:child_process itself calls: the least any
// Node program can pay for a child. The driver does not use it (process.binding is deprecated, its
// arguments changed in Node 24, and a wrong one aborts the process with a C++ assertion on
// stderr); the figure shows what it would save.
import * as path from 'node:path';
import { NODE, type Layout } from './layout.ts';
import { interleave, medianUsage, usageRun, type Row, type Usage } from './measure.ts';
import type { Native } from './native.ts';

const EXECA = import.meta.resolve('execa');

const SPAWN_TRUE = {
  execa: `const { execa } = await import(${JSON.stringify(EXECA)}); const spawnTrue = () => execa('true', [], { stdin: 'ignore' });`,
  child_process: `const { spawn } = await import('node:child_process'); const spawnTrue = () => new Promise((resolve, reject) => spawn('true', [], { stdio: 'ignore' }).on('error', reject).on('exit', resolve));`,
  // As lib/internal/child_process.js of Node 24 calls it: file, args, cwd, env, stdio, flags, uid, gid.
  process_wrap: `const { Process } = process.binding('process_wrap'); const spawnTrue = () => new Promise((resolve, reject) => {
    const child = new Process();
    child.onexit = (code) => { child.close(); resolve(code); };
    const error = child.spawn('true', ['true'], undefined, ['PATH=' + process.env.PATH], [{ type: 'ignore' }, { type: 'ignore' }, { type: 'ignore' }], 0, undefined, undefined);
    if (error !== 0) reject(new Error('spawn: ' + error));
  });`,
} as const;

function script(library: keyof typeof SPAWN_TRUE, spawns: number): string {
  return `${SPAWN_TRUE[library]} for (let i = 0; i < ${spawns}; i++) await spawnTrue();`;
}

export async function spawnRows(layout: Layout, native: Native, runs: number): Promise<Row[]> {
  const report = path.join(layout.dir, 'child-usage.txt');
  const node = (args: string[]) => () => usageRun(native.childUsage, report, { command: NODE, args, env: layout.env });
  const variants = [
    ['execa', 1],
    ['execa', 11],
    ['child_process', 1],
    ['child_process', 11],
    ['process_wrap', 1],
  ] as const;
  const samples = await interleave([node(['-e', '0']), ...variants.map(([library, spawns]) => node(['--input-type=module', '-e', script(library, spawns)]))], runs);
  const [bare, execa1, execa11, cp1, cp11, binding1] = samples.map(medianUsage) as [Usage, Usage, Usage, Usage, Usage, Usage];
  const group = 'Spawning a child from Node: execa against node:child_process';
  const reference = '`node -e 0`';
  const perSpawn = (one: Usage, eleven: Usage, pick: (usage: Usage) => number) => (pick(eleven) - pick(one)) / 10;
  const wall = (usage: Usage) => usage.wallMs;
  const cpu = (usage: Usage) => usage.cpuMs;
  return [
    { group, figure: 'execa: import + 1 spawn of true(1), wall', value: execa1.wallMs, unit: 'ms', reference, referenceValue: bare.wallMs },
    { group, figure: 'execa: import + 1 spawn of true(1), CPU', value: execa1.cpuMs, unit: 'ms', reference, referenceValue: bare.cpuMs },
    { group, figure: 'node:child_process: 1 spawn of true(1), wall', value: cp1.wallMs, unit: 'ms', reference, referenceValue: bare.wallMs },
    { group, figure: 'node:child_process: 1 spawn of true(1), CPU', value: cp1.cpuMs, unit: 'ms', reference, referenceValue: bare.cpuMs },
    { group, figure: "Node's internal binding (process_wrap, not used): 1 spawn of true(1), wall", value: binding1.wallMs, unit: 'ms', reference, referenceValue: bare.wallMs },
    { group, figure: "Node's internal binding (process_wrap, not used): 1 spawn of true(1), CPU", value: binding1.cpuMs, unit: 'ms', reference, referenceValue: bare.cpuMs },
    { group, figure: 'execa: each further spawn, wall', value: perSpawn(execa1, execa11, wall), unit: 'ms', reference: 'node:child_process', referenceValue: perSpawn(cp1, cp11, wall) },
    { group, figure: 'execa: each further spawn, CPU', value: perSpawn(execa1, execa11, cpu), unit: 'ms', reference: 'node:child_process', referenceValue: perSpawn(cp1, cp11, cpu) },
  ];
}
