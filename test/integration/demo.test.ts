// The demonstration on its defaults, as `./scripts/demo.sh` runs it: it must pass, fit an 80-column
// terminal, say where it uses stand-ins (Azure, the disks, the SMB and NFS mounts, Kubernetes), tell
// the provisioning story from StorageClass to deleted disk, clean up, and end with a summary row per
// scene.
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
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
    expect.stringMatching(/^ {3}stand-in: Kubernetes is the stand-in API server at https:\/\/127\.0\.0\.1:\d+/),
    expect.stringMatching(/^ {3}stand-in: pvc-[0-9a-f-]{36} is \/dev\/loop\d+ over a/),
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
  expect(rows.map((row) => row.scene)).toEqual(['azuredisk, controller mode', 'azuredisk, node mode', 'azurefile over SMB', 'nfs', 'provisioning, azuredisk']);
  expect(rows.every((row) => row.result === 'ok' && row.calls > 0)).toBe(true);
  expect(rows.map((row) => row.arm > 0)).toEqual([true, true, false, false, true]);
});

/** One event of the scene (its header line up to the next event's), wrapped lines joined by one space. */
function eventOf(scene: string, reason: string): string {
  const start = scene.search(new RegExp(`^ {2}\\w+ +${reason} `, 'm'));
  if (start < 0) return '';
  const next = scene.slice(start + 1).search(/^ {2}(Normal|Warning) /m);
  return flat(next < 0 ? scene.slice(start) : scene.slice(start, start + 1 + next));
}

const flat = (text: string): string => text.replace(/\s+/g, ' ');

test('the provisioning scene: the built provisioner makes a disk and a Bound PV of a PVC, a pod uses it, and deleting the PVC deletes both', () => {
  const scene = demo.stdout.slice(demo.stdout.indexOf('== provisioning'), demo.stdout.indexOf('== done'));
  const text = flat(scene);
  expect(scene).not.toMatch(/✗|Warning/);
  expect(eventOf(scene, 'Started')).toContain('$ bin/flexvolume provisioner --kubeconfig $KUBECONFIG');
  expect(eventOf(scene, 'Started')).toContain('| caches synced: ');
  expect(scene).toMatch(/^ {5}kind: StorageClass\n {5}metadata: \{name: managed-premium\}\n {5}provisioner: azure\/azuredisk$/m);
  expect(scene).toMatch(/^ {2}Normal +Created +kubectl .*\n {5}kubectl create -f pvc\.yaml$/m);
  expect(eventOf(scene, 'WaitForBound')).toContain('| event Normal ProvisioningSucceeded on PersistentVolumeClaim default/data');
  const pv = /✓ pvc\/data is Bound to (pvc-[0-9a-f-]{36}) \(pvc-<uid of the claim>\), 3Gi/.exec(text)?.[1];
  expect(pv).toBeDefined();
  expect(text).toContain(`✓ the ARM simulator has disk ${pv}: 3 GiB, Premium_LRS, tags {"team":"demo",`);
  for (const reason of ['SuccessfulAttachVolume', 'WaitForAttach', 'MountDevice', 'UnmountDevice']) expect(eventOf(scene, reason)).toContain('{"status":"Success"');
  expect(eventOf(scene, 'SuccessfulAttachVolume')).toContain(`"diskName":"${pv}"`);
  expect(text).toContain('✓ the blank disk was formatted: blkid says TYPE=ext4');
  expect(text).toContain('✓ the pod read back what it wrote');
  expect(eventOf(scene, 'SuccessfulDetachVolume')).toContain(`$ azuredisk detach ${pv} node-2`);
  expect(text).toContain('✓ kubectl get pv -w: Bound → Released → deleted');
  expect(eventOf(scene, 'WaitForDeletion')).toContain(`| deleted the storage of ${pv} and the PV`);
  expect(text).toContain(`✓ the ARM simulator has no disk ${pv} any more`);
  expect(eventOf(scene, 'Killing')).toMatch(/\| stopped $/);
});

test('what the provisioning scene started is gone: the stand-in API server and the provisioner left no files behind', () => {
  const dirs = ['$KUBECONFIG', '$STATE'].map((name) => new RegExp(`^ {3}\\${name} = (\\S+)$`, 'm').exec(demo.stdout)?.[1]);
  expect(dirs).toEqual([expect.stringMatching(/^\/tmp\/kube-apiserver-.+\/kubeconfig$/), expect.stringMatching(/^\/tmp\/provisioner-/)]);
  for (const dir of dirs) expect(fs.existsSync(dir as string)).toBe(false);
});
