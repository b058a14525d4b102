// The whole attachable lifecycle as kube-controller-manager and the kubelet drive it, through the
// standalone binary: attach → waitforattach → mountdevice → the kubelet's bind mount → unmount →
// unmountdevice → detach, twice, with the data written the first time read back the second.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { startArmSimulator, type ArmSimulator } from '../arm-simulator/index.ts';
import { simulateAzureHost, type AzureHost } from '../helpers/azure-host.ts';
import { baseOptions, goJson } from '../helpers/kubelet.ts';
import { createLoopPool, MiB } from '../helpers/loop-devices.ts';
import { createSandbox, mountsUnder, SEA, useArmSimulator, type Sandbox } from '../helpers/sandbox.ts';
import { createScsiFixture, type ScsiFixture } from '../helpers/scsi-fixture.ts';

const pool = createLoopPool();
let sim: ArmSimulator;
let fixture: ScsiFixture;
let sandbox: Sandbox;
let host: AzureHost;

beforeAll(async () => {
  sim = await startArmSimulator({ updateLatencyMs: 20 });
  sim.addVM({ name: 'node-1' });
  sim.addDisk({ name: 'disk-data', sizeGB: 5 });
  fixture = createScsiFixture(fs.mkdtempSync(path.join(os.tmpdir(), 'azuredisk-lifecycle-')));
  host = simulateAzureHost({ sim, fixture, vmName: 'node-1', devices: new Map([['disk-data', pool.create('disk-data', 128 * MiB).path]]) });
  sandbox = createSandbox(SEA, fixture.env);
  useArmSimulator(sandbox, sim);
});

afterAll(async () => {
  host.stop();
  await sandbox.cleanup();
  pool.detachAll();
  await sim.close();
  fixture.cleanup();
});

function kubeletBindMount(from: string, to: string): void {
  fs.mkdirSync(to, { recursive: true, mode: 0o750 });
  const result = spawnSync('mount', ['--bind', from, to]);
  if (result.status !== 0) throw new Error(`bind mount failed: ${result.stderr}`);
}

test('attach, waitforattach, mountdevice, bind, unmount, unmountdevice, detach, and again: the data survives', async () => {
  const diskURI = `/subscriptions/${sim.subscriptionId}/resourceGroups/${sim.resourceGroup}/providers/Microsoft.Compute/disks/disk-data`;
  const options = goJson({ ...baseOptions({ volumeName: 'pv-data', fsType: 'ext4' }), diskName: 'disk-data', diskURI });
  const globalPath = sandbox.deviceMountPath('azuredisk', 'pv-data');
  const call = (args: string[]) => sandbox.call('azuredisk', args);

  for (const round of [1, 2]) {
    const podDir = sandbox.podVolumeDir('azuredisk', 'pv-data', `pod-${round}`);
    expect(await call(['init'])).toMatchObject({ status: 'Success', capabilities: { attach: true } });
    const attached = await call(['attach', options, 'node-1']);
    expect(attached).toMatchObject({ status: 'Success', device: '0' });
    const found = await call(['waitforattach', attached.device ?? '', options]);
    expect(found).toMatchObject({ status: 'Success', device: path.join(fixture.devRoot, 'disk/azure/scsi1/lun0') });
    fs.mkdirSync(globalPath, { recursive: true, mode: 0o750 });
    expect(await call(['mountdevice', globalPath, found.device ?? '', options])).toMatchObject({ status: 'Success' });
    expect(await call(['mount', podDir, options])).toMatchObject({ status: 'Not supported' });
    kubeletBindMount(globalPath, podDir);

    if (round === 1) fs.writeFileSync(path.join(podDir, 'ledger.txt'), 'entry 1\n');
    else expect(fs.readFileSync(path.join(podDir, 'ledger.txt'), 'utf8')).toBe('entry 1\n');

    expect(await call(['unmount', podDir])).toMatchObject({ status: 'Not supported' });
    expect(spawnSync('umount', [podDir]).status).toBe(0); // the kubelet's CleanupMountPoint
    fs.rmdirSync(podDir);
    expect(await call(['unmountdevice', globalPath])).toMatchObject({ status: 'Success' });
    expect(await call(['detach', 'pv-data', 'node-1'])).toMatchObject({ status: 'Success' });
    expect(sim.getVM('node-1')?.properties.storageProfile.dataDisks).toEqual([]);
    expect(mountsUnder(sandbox.dir)).toEqual([]);
  }
});
