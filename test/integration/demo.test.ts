// The demonstration on its defaults, as `./scripts/demo.sh` runs it: it must pass, fit an 80-column
// terminal, say where it uses stand-ins (Azure, the disk, the SMB and NFS mounts), and end with a
// summary row per scene.
import { execFile } from 'node:child_process';
import * as path from 'node:path';
import { ROOT } from '../helpers/sandbox.ts';

interface Run {
  stdout: string;
  stderr: string;
  exitCode: number | null;
}

function runDemo(): Promise<Run> {
  const node = path.join(ROOT, 'node_modules/.bin/node');
  return new Promise((resolve) => {
    execFile(node, ['demo/run.ts'], { cwd: ROOT, env: { ...process.env, NO_COLOR: '1' }, encoding: 'utf8', timeout: 120_000 }, (error, stdout, stderr) =>
      resolve({ stdout, stderr, exitCode: error ? ((error as { code?: number }).code ?? null) : 0 }),
    );
  });
}

let demo: Run;

beforeAll(async () => {
  demo = await runDemo();
}, 120_000);

test('the demo passes and every line fits 80 columns', () => {
  expect(demo.stderr).toBe('');
  expect(demo.exitCode).toBe(0);
  expect(demo.stdout.split('\n').filter((line) => line.length > 80)).toEqual([]);
});

test('it says which parts are stand-ins, where it uses them', () => {
  const standIns = demo.stdout.split('\n').filter((line) => line.startsWith('   stand-in: '));
  expect(standIns).toEqual([
    expect.stringMatching(/^ {3}stand-in: Azure is the ARM simulator at https:\/\/127\.0\.0\.1:\d+/),
    expect.stringMatching(/^ {3}stand-in: disk-data is \/dev\/loop\d+ over a sparse 5 GiB file/),
    expect.stringMatching(/^ {3}stand-in: this kernel has no SMB client, so mount\.cifs is the mount/),
    expect.stringMatching(/^ {3}stand-in: this kernel has no NFS client, so mount\.nfs is the mount/),
  ]);
  expect(demo.stdout).toMatch(/^ {5}ARM simulator: .*PUT VM/m);
});

test('it ends with a summary row per scene: calls, ARM requests, time, result', () => {
  const table = demo.stdout.slice(demo.stdout.indexOf('== done'));
  expect(table).toMatch(/^ {2}scene +calls +ARM requests +time +result$/m);
  const rows = [...table.matchAll(/^ {2}(.+?) +(\d+) +(\d+) +(\d+\.\d) s +(\S.*)$/gm)].map(([, scene, calls, arm, , result]) => ({
    scene,
    calls: Number(calls),
    arm: Number(arm),
    result,
  }));
  expect(rows.map((row) => row.scene)).toEqual(['azuredisk, controller mode', 'azuredisk, node mode', 'azurefile over SMB', 'nfs']);
  expect(rows.every((row) => row.result === 'ok' && row.calls > 0)).toBe(true);
  expect(rows.map((row) => row.arm > 0)).toEqual([true, true, false, false]);
});
