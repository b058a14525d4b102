// The azuredisk controller side (attach, isattached, detach) through the built executable, called as
// kube-controller-manager calls it, against the ARM simulator with the real Azure SDK inside.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BUILDS, createSandbox, useArmSimulator, type Sandbox } from '../helpers/sandbox.ts';
import { baseOptions, goJson, type CallResult } from '../helpers/kubelet.ts';
import { startArmSimulator, type ArmSimulator, type SimulatorCloudConfig } from '../arm-simulator/index.ts';
import { tryAcquireLock, type Lock } from '../../src/system/lock.ts';
import { azureStateDirs, nodeKey } from '../../src/azure/host-state.ts';

const VMSS = 'k8s-agentpool-vmss';

interface Harness {
  sim: ArmSimulator;
  sandbox: Sandbox;
  writeConfig(overrides?: Partial<SimulatorCloudConfig>): void;
  attach(pv: string, diskName: string, node: string, extra?: Record<string, string>, env?: NodeJS.ProcessEnv): Promise<CallResult>;
  isattached(pv: string, diskName: string, node: string): Promise<CallResult>;
  detach(pv: string, node: string, env?: NodeJS.ProcessEnv): Promise<CallResult>;
  armCount(filter: { method?: string; pathIncludes?: string }): number;
  /** A driver call as a process of its own, to be killed as the controller-manager kills one. */
  start(args: string[]): ChildProcess;
  attachArgs(pv: string, diskName: string, node: string): string[];
}

async function startHarness(build: string, simOptions: Parameters<typeof startArmSimulator>[0] = {}): Promise<Harness> {
  const sim = await startArmSimulator({ updateLatencyMs: 20, ...simOptions });
  const sandbox = createSandbox(build);
  const configFile = useArmSimulator(sandbox, sim);
  const diskId = (name: string) => `/subscriptions/${sim.subscriptionId}/resourceGroups/${sim.resourceGroup}/providers/Microsoft.Compute/disks/${name}`;
  const options = (pv: string, diskName: string, extra: Record<string, string> = {}) =>
    goJson({ ...baseOptions({ volumeName: pv }), diskName, diskURI: diskId(diskName), ...extra });
  const harness: Harness = {
    sim,
    sandbox,
    writeConfig: (overrides = {}) => fs.writeFileSync(configFile, JSON.stringify(sim.cloudConfig(overrides), null, 2)),
    attach: (pv, diskName, node, extra = {}, env = {}) => sandbox.call('azuredisk', ['attach', options(pv, diskName, extra), node], env),
    isattached: (pv, diskName, node) => sandbox.call('azuredisk', ['isattached', options(pv, diskName), node]),
    detach: (pv, node, env = {}) => sandbox.call('azuredisk', ['detach', pv, node], env),
    armCount: (filter) => sim.count({ ...filter, kind: 'arm' }),
    start: (args) => spawn(sandbox.executable('azuredisk'), args, { env: sandbox.env, stdio: 'ignore' }),
    attachArgs: (pv, diskName, node) => ['attach', options(pv, diskName), node],
  };
  return harness;
}

const lunOf = (dataDisks: Array<{ name: string; lun: number }> | undefined, diskName: string) =>
  dataDisks?.find((disk) => disk.name === diskName)?.lun;

describe.each(BUILDS)('azuredisk controller ($name)', ({ file }) => {
  let h: Harness;
  afterEach(async () => {
    await h.sim.close();
    await h.sandbox.cleanup();
  });

  test('VM: attach, attach again, isattached, detach, detach again', async () => {
    h = await startHarness(file);
    h.sim.addVM({ name: 'node-1' });
    h.sim.addDisk({ name: 'disk-a', sizeGB: 16 });
    h.sim.addDisk({ name: 'disk-b', sizeGB: 16 });
    h.sim.attachDirectly('node-1', 'disk-b', 0);

    const attached = await h.attach('pv-a', 'disk-a', 'node-1');
    expect(attached).toMatchObject({ status: 'Success', device: '1', exitCode: 0 });
    const vm = h.sim.getVM('node-1');
    expect(lunOf(vm?.properties.storageProfile.dataDisks, 'disk-a')).toBe(1);
    expect(vm?.properties.storageProfile.dataDisks.find((d) => d.name === 'disk-a')?.caching).toBe('ReadOnly');
    expect(h.sim.getDisk('disk-a')?.managedBy).toBe(vm?.id);

    const puts = h.armCount({ method: 'PUT' });
    expect(puts).toBe(1);
    const again = await h.attach('pv-a', 'disk-a', 'node-1');
    expect(again).toMatchObject({ status: 'Success', device: '1' });
    expect(h.armCount({ method: 'PUT' })).toBe(puts);

    expect(await h.isattached('pv-a', 'disk-a', 'node-1')).toMatchObject({ status: 'Success', attached: true });
    expect(await h.isattached('pv-b', 'disk-b', 'node-1')).toMatchObject({ status: 'Success', attached: true });

    const detached = await h.detach('pv-a', 'node-1');
    expect(detached).toMatchObject({ status: 'Success', exitCode: 0 });
    expect(h.sim.getVM('node-1')?.properties.storageProfile.dataDisks.map((d) => d.name)).toEqual(['disk-b']);
    expect(h.sim.getDisk('disk-a')?.managedBy).toBeUndefined();
    expect(h.sim.getDisk('disk-b')?.managedBy).toBeDefined();

    const putsAfterDetach = h.armCount({ method: 'PUT' });
    expect(await h.detach('pv-a', 'node-1')).toMatchObject({ status: 'Success' });
    expect(h.armCount({ method: 'PUT' })).toBe(putsAfterDetach);
    const notAttached = await h.isattached('pv-a', 'disk-a', 'node-1');
    expect(notAttached.status).toBe('Success');
    expect(notAttached.attached).toBe(false);
    expect(notAttached.output).toContain('"attached":false');
  });

  test('scale-set instance: attach, attach again, isattached, detach, detach again', async () => {
    h = await startHarness(file);
    h.writeConfig({ vmType: 'vmss' });
    h.sim.addScaleSet({ name: VMSS, computerNamePrefix: VMSS, instanceIds: [0, 1, 42] });
    h.sim.addDisk({ name: 'disk-s', sizeGB: 8 });
    const node = `${VMSS}000016`; // instance 42 in base 36

    expect(await h.attach('pv-s', 'disk-s', node)).toMatchObject({ status: 'Success', device: '0' });
    expect(lunOf(h.sim.getScaleSetVM(VMSS, 42)?.properties.storageProfile.dataDisks, 'disk-s')).toBe(0);
    expect(h.sim.getDisk('disk-s')?.managedBy).toMatch(new RegExp(`/virtualMachineScaleSets/${VMSS}/virtualMachines/42$`));
    expect(h.sim.getScaleSetVM(VMSS, 1)?.properties.storageProfile.dataDisks).toEqual([]);

    expect(await h.attach('pv-s', 'disk-s', node)).toMatchObject({ status: 'Success', device: '0' });
    expect(h.armCount({ method: 'PUT' })).toBe(1);
    expect(await h.isattached('pv-s', 'disk-s', node)).toMatchObject({ attached: true });
    expect(await h.isattached('pv-s', 'disk-s', `${VMSS}000001`)).toMatchObject({ status: 'Success', attached: false });

    expect(await h.detach('pv-s', node)).toMatchObject({ status: 'Success' });
    expect(h.sim.getScaleSetVM(VMSS, 42)?.properties.storageProfile.dataDisks).toEqual([]);
    expect(h.sim.getDisk('disk-s')?.managedBy).toBeUndefined();
    expect(await h.detach('pv-s', node)).toMatchObject({ status: 'Success' });
    expect(h.armCount({ method: 'PUT' })).toBe(2);
    expect(await h.isattached('pv-s', 'disk-s', node)).toMatchObject({ attached: false });
  });

  test.each([16, 32])('%i concurrent attaches to one VM: distinct LUNs, one VM update, a few VM reads, the SDK loaded by the leader alone', async (count) => {
    h = await startHarness(file, { updateLatencyMs: 400 });
    h.sim.addVM({ name: 'busy-node' });
    const disks = Array.from({ length: count }, (_, i) => `disk-${String(i).padStart(2, '0')}`);
    for (const disk of disks) h.sim.addDisk({ name: disk, sizeGB: 4 });
    // @azure/logger complains about the unknown level in each process that loads the SDK.
    const env = { AZURE_LOG_LEVEL: 'bogus' };

    const replies = await Promise.all(disks.map((disk, i) => h.attach(`pv-${i}`, disk, 'busy-node', {}, env)));
    for (const reply of replies) expect(reply).toMatchObject({ status: 'Success', exitCode: 0 });
    const dataDisks = h.sim.getVM('busy-node')?.properties.storageProfile.dataDisks ?? [];
    expect(new Set(replies.map((reply) => reply.device)).size).toBe(count);
    expect(dataDisks).toHaveLength(count);
    expect(dataDisks.map((d) => d.lun).sort((a, b) => a - b)).toEqual(Array.from({ length: count }, (_, i) => i));
    // Every process learned its own disk's LUN.
    disks.forEach((disk, i) => expect(replies[i]?.device).toBe(String(lunOf(dataDisks, disk))));
    const updates = h.armCount({ method: 'PUT', pathIncludes: '/virtualMachines/busy-node' });
    const reads = h.armCount({ method: 'GET', pathIncludes: '/virtualMachines/busy-node' });
    // Every call queues its request first, and the leader waits while the burst is still arriving.
    expect(updates).toBe(1);
    // The resolve, the fresh read the update is planned from, and the update's final read.
    expect(reads).toBeLessThanOrEqual(3);
    // One token for the whole burst, and only the leader's process loaded the SDK.
    expect(h.sim.count({ kind: 'token', method: 'POST' })).toBe(1);
    const loaders = new Set([...h.sandbox.readLog().matchAll(/\[(\d+)\].*AZURE_LOG_LEVEL set to unknown/g)].map((match) => match[1]));
    expect(loaders.size).toBe(1);
  });

});

describe('azuredisk controller faults and recovery (standalone binary)', () => {
  const file = BUILDS[0].file;
  let h: Harness;
  afterEach(async () => {
    await h.sim.close();
    await h.sandbox.cleanup();
  });

  test('a disk owned by another VM is a Failure naming that VM, and stays there', async () => {
    h = await startHarness(file);
    h.sim.addVM({ name: 'node-1' });
    const otherId = h.sim.addVM({ name: 'other-node' });
    h.sim.addDisk({ name: 'disk-taken', sizeGB: 8 });
    h.sim.attachDirectly('other-node', 'disk-taken', 3);

    const reply = await h.attach('pv-t', 'disk-taken', 'node-1');
    expect(reply.status).toBe('Failure');
    expect(reply.exitCode).toBe(1);
    expect(reply.message).toContain('other-node');
    expect(h.sim.getDisk('disk-taken')?.managedBy).toBe(otherId);
    expect(lunOf(h.sim.getVM('other-node')?.properties.storageProfile.dataDisks, 'disk-taken')).toBe(3);
    expect(h.armCount({ method: 'PUT' }) + h.armCount({ method: 'PATCH' })).toBe(0);
  });

  test('a disk refused in a batched update fails alone; the rest of the batch goes out again', async () => {
    h = await startHarness(file, { updateLatencyMs: 1200 });
    h.sim.addVM({ name: 'node-1' });
    for (const name of ['disk-0', 'disk-good', 'disk-bad']) h.sim.addDisk({ name, sizeGB: 8 });
    const badId = `/subscriptions/${h.sim.subscriptionId}/resourceGroups/${h.sim.resourceGroup}/providers/Microsoft.Compute/disks/disk-bad`;

    const first = h.attach('pv-0', 'disk-0', 'node-1');
    while (h.armCount({ method: 'PUT' }) === 0) await new Promise((resolve) => setTimeout(resolve, 10));
    h.sim.injectFault({
      method: 'PUT',
      status: 409,
      code: 'ConflictingUserInput',
      message: `Disk '${badId}' cannot be attached as the disk is already owned by VM 'elsewhere'.`,
    });
    const [good, bad] = await Promise.all([h.attach('pv-good', 'disk-good', 'node-1'), h.attach('pv-bad', 'disk-bad', 'node-1')]);
    expect(await first).toMatchObject({ status: 'Success', device: '0' });
    expect(good).toMatchObject({ status: 'Success', device: '1' });
    expect(bad.status).toBe('Failure');
    expect(bad.message).toMatch(/ConflictingUserInput.*already owned by VM 'elsewhere'/);
    expect(h.armCount({ method: 'PUT' })).toBe(3);
    expect(h.sim.getDisk('disk-bad')?.managedBy).toBeUndefined();
  });

  test('429 closes a gate shared by every process: later calls fail fast without an ARM request, then work again', async () => {
    h = await startHarness(file);
    h.sim.addVM({ name: 'node-1' });
    h.sim.addDisk({ name: 'disk-1', sizeGB: 8 });
    h.sim.addDisk({ name: 'disk-2', sizeGB: 8 });
    h.sim.injectFault({ method: 'GET', pathIncludes: '/disks/disk-1', status: 429, retryAfterMs: 1500 });

    const throttled = await h.attach('pv-1', 'disk-1', 'node-1');
    expect(throttled.status).toBe('Failure');
    expect(throttled.message).toMatch(/429/);
    expect(h.armCount({ pathIncludes: '/disks/disk-1' })).toBe(1); // not retried in-process

    const before = h.armCount({});
    const gated = await h.attach('pv-2', 'disk-2', 'node-1');
    expect(gated.status).toBe('Failure');
    expect(gated.message).toMatch(/throttling reads from this host .*no read is sent until/);
    expect(h.armCount({})).toBe(before);
    expect(gated.durationMs).toBeLessThan(1500);

    await new Promise((resolve) => setTimeout(resolve, 1600));
    expect(await h.attach('pv-2', 'disk-2', 'node-1')).toMatchObject({ status: 'Success', device: '0' });
  });

  test('429 on an update closes the write gate; reads still go out', async () => {
    h = await startHarness(file);
    h.sim.addVM({ name: 'node-1' });
    h.sim.addDisk({ name: 'disk-1', sizeGB: 8 });
    h.sim.injectFault({ method: 'PUT', status: 429, retryAfterSeconds: 30 });

    const throttled = await h.attach('pv-1', 'disk-1', 'node-1');
    expect(throttled).toMatchObject({ status: 'Failure' });
    expect(h.armCount({ method: 'PUT' })).toBe(1);
    const gated = await h.attach('pv-1', 'disk-1', 'node-1');
    expect(gated.message).toMatch(/throttling writes from this host/);
    expect(h.armCount({ method: 'PUT' })).toBe(1);
    expect(await h.isattached('pv-1', 'disk-1', 'node-1')).toMatchObject({ status: 'Success', attached: false });
  });

  test('409 conflict and 500 are retried; a slow VM update is waited for', async () => {
    h = await startHarness(file);
    h.sim.addVM({ name: 'node-1' });
    for (const name of ['disk-1', 'disk-2', 'disk-3']) h.sim.addDisk({ name, sizeGB: 8 });

    h.sim.injectFault({ method: 'PUT', status: 409 });
    expect(await h.attach('pv-1', 'disk-1', 'node-1')).toMatchObject({ status: 'Success', device: '0' });
    expect(h.armCount({ method: 'PUT' })).toBe(2);

    h.sim.injectFault({ method: 'PUT', status: 500, retryAfterMs: 50 });
    h.sim.injectFault({ method: 'GET', pathIncludes: '/disks/disk-2', status: 503, retryAfterMs: 50 });
    expect(await h.attach('pv-2', 'disk-2', 'node-1')).toMatchObject({ status: 'Success', device: '1' });
    expect(h.armCount({ method: 'PUT' })).toBe(4);

    h.sim.setUpdateLatency(1000);
    h.sim.injectFault({ method: 'GET', pathIncludes: '/disks/disk-3', delayMs: 500 });
    const slow = await h.attach('pv-3', 'disk-3', 'node-1');
    expect(slow).toMatchObject({ status: 'Success', device: '2' });
    expect(slow.durationMs).toBeGreaterThan(1500);
  });

  test('a VM in Failed state, or an update that fails, is repaired with an empty update and retried once', async () => {
    h = await startHarness(file);
    h.sim.addVM({ name: 'node-1' });
    h.sim.addDisk({ name: 'disk-1', sizeGB: 8 });
    h.sim.addDisk({ name: 'disk-2', sizeGB: 8 });

    h.sim.setProvisioningState('node-1', 'Failed');
    expect(await h.attach('pv-1', 'disk-1', 'node-1')).toMatchObject({ status: 'Success', device: '0' });
    expect(h.sim.getVM('node-1')?.properties.provisioningState).toBe('Succeeded');
    expect(h.armCount({ method: 'PATCH' })).toBe(1); // the empty update

    h.sim.injectFault({ method: 'PUT', failOperation: true, code: 'OperationPreempted', message: 'Operation execution has been preempted by a more recent operation.' });
    expect(await h.attach('pv-2', 'disk-2', 'node-1')).toMatchObject({ status: 'Success', device: '1' });
    expect(h.armCount({ method: 'PATCH' })).toBe(2);
    expect(h.sim.getVM('node-1')?.properties.provisioningState).toBe('Succeeded');
  });

  test('detach after the local record is lost', async () => {
    h = await startHarness(file);
    h.sim.addVM({ name: 'node-1' });
    h.sim.addDisk({ name: 'disk-x', sizeGB: 8 });
    h.sim.addDisk({ name: 'pv-named', sizeGB: 8 });
    h.sim.addDisk({ name: 'disk-y', sizeGB: 8 });
    expect((await h.attach('pv-x', 'disk-x', 'node-1')).status).toBe('Success');
    expect((await h.attach('pv-named', 'pv-named', 'node-1')).status).toBe('Success');
    const records = path.join(h.sandbox.stateDir, 'azuredisk', 'volumes');
    expect(fs.readdirSync(records)).toHaveLength(2);
    fs.rmSync(records, { recursive: true });

    // A disk named like its PV is found by that name.
    expect(await h.detach('pv-named', 'node-1')).toMatchObject({ status: 'Success' });
    expect(h.sim.getDisk('pv-named')?.managedBy).toBeUndefined();

    // Otherwise the driver does not guess which disk to pull.
    const unknown = await h.detach('pv-x', 'node-1');
    expect(unknown.status).toBe('Failure');
    expect(unknown.message).toMatch(/no record of which disk pv-x is.*disk-x/);
    expect(h.sim.getDisk('disk-x')?.managedBy).toBeDefined();

    // The controller-manager's periodic isattached restores the record; then detach works.
    expect(await h.isattached('pv-x', 'disk-x', 'node-1')).toMatchObject({ attached: true });
    expect(await h.detach('pv-x', 'node-1')).toMatchObject({ status: 'Success' });
    expect(h.sim.getDisk('disk-x')?.managedBy).toBeUndefined();

    // With every disk on the VM accounted for by other volumes, an unknown PV is not there.
    expect((await h.attach('pv-y', 'disk-y', 'node-1')).status).toBe('Success');
    expect(await h.detach('pv-never-attached', 'node-1')).toMatchObject({ status: 'Success' });
    expect(h.sim.getDisk('disk-y')?.managedBy).toBeDefined();
  });

  test('detach from a VM that is gone is Success', async () => {
    h = await startHarness(file);
    expect(await h.detach('pv-1', 'deleted-node')).toMatchObject({ status: 'Success' });
  });
});

/** The queue of updates of a node's machine, as the driver keeps it in its state dir. */
function nodeQueue(h: Harness, node: string) {
  const dir = azureStateDirs(h.sandbox.stateDir).queue;
  const key = nodeKey(node);
  const requests = () => {
    const requestDir = path.join(dir, key, 'requests');
    return fs.existsSync(requestDir) ? fs.readdirSync(requestDir).filter((name) => name.endsWith('.json') && !name.startsWith('.')) : [];
  };
  return {
    requests,
    /** Holds the VM's batch lock as a live batch leader would: requests queue and wait behind it. */
    hold: (): Lock => {
      const lock = tryAcquireLock(`batch-${key}`, dir);
      if (lock === undefined) throw new Error('the batch lock is taken');
      return lock;
    },
    async waitForRequests(count: number): Promise<void> {
      const deadline = Date.now() + 30_000;
      while (requests().length < count) {
        if (Date.now() > deadline) throw new Error(`${count} requests never queued for ${node}: ${requests().join(', ')}`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    },
  };
}

async function kill(child: ChildProcess): Promise<void> {
  child.kill('SIGKILL');
  if (child.exitCode === null && child.signalCode === null) await once(child, 'exit');
}

const diskUri = (h: Harness, disk: string) => `/subscriptions/${h.sim.subscriptionId}/resourceGroups/${h.sim.resourceGroup}/providers/Microsoft.Compute/disks/${disk}`;
const dataDiskNames = (h: Harness, vm: string) => h.sim.getVM(vm)?.properties.storageProfile.dataDisks.map((d) => `${d.lun}:${d.name}`).sort();

describe('azuredisk controller: other writers, stale reads and killed callers (standalone binary)', () => {
  const file = BUILDS[0].file;
  let h: Harness;
  afterEach(async () => {
    await h.sim.close();
    await h.sandbox.cleanup();
  });

  test.each([
    ['VM', 'standard'],
    ['scale-set instance', 'vmss'],
  ])('%s: another writer attaches X between our read and our write; our attach of Y lands and X stays (412, then a new plan)', async (_kind, vmType) => {
    h = await startHarness(file);
    h.sim.addDisk({ name: 'disk-x', sizeGB: 8 });
    h.sim.addDisk({ name: 'disk-y', sizeGB: 8 });
    let machine: string;
    let node = 'node-1';
    if (vmType === 'vmss') {
      h.writeConfig({ vmType: 'vmss' });
      [machine] = h.sim.addScaleSet({ name: VMSS, computerNamePrefix: VMSS, instanceIds: [7] }) as [string];
      node = `${VMSS}000007`;
    } else {
      machine = h.sim.addVM({ name: 'node-1' });
    }
    h.sim.beforeNextWrite(machine, () => h.sim.attachDirectly(machine, 'disk-x', 0));

    expect(await h.attach('pv-y', 'disk-y', node)).toMatchObject({ status: 'Success', device: '1' });
    const dataDisks = vmType === 'vmss' ? h.sim.getScaleSetVM(VMSS, 7)?.properties.storageProfile.dataDisks : h.sim.getVM('node-1')?.properties.storageProfile.dataDisks;
    expect(dataDisks?.map((d) => `${d.lun}:${d.name}`).sort()).toEqual(['0:disk-x', '1:disk-y']);
    expect(h.sim.getDisk('disk-x')?.managedBy).toBe(machine);
    const writes = h.sim.requests.filter((r) => r.method === 'PUT').map((r) => r.status);
    expect(writes).toEqual([412, 200]);
    // Between the refused write and the one that landed: a fresh read of the machine.
    const refusedAt = h.sim.requests.findIndex((r) => r.status === 412);
    const rereads = h.sim.requests.slice(refusedAt + 1).findIndex((r) => r.method === 'PUT');
    expect(h.sim.requests.slice(refusedAt + 1, refusedAt + 1 + rereads).some((r) => r.method === 'GET' && !r.path.includes('/disks/'))).toBe(true);
    expect(h.sandbox.readLog()).toMatch(/changed since it was read \(412, another writer\)/);
  });

  test('a cache filled before another writer changed the VM never makes an attach or a detach drop that writer\'s disk', async () => {
    h = await startHarness(file);
    h.sim.addVM({ name: 'node-1' });
    for (const name of ['disk-x', 'disk-y', 'disk-z', 'disk-w']) h.sim.addDisk({ name, sizeGB: 8 });
    // isattached fills the host's VM cache; then someone else attaches X.
    expect(await h.isattached('pv-y', 'disk-y', 'node-1')).toMatchObject({ attached: false });
    h.sim.attachDirectly('node-1', 'disk-x', 0);
    expect(await h.attach('pv-y', 'disk-y', 'node-1')).toMatchObject({ status: 'Success', device: '1' });
    expect(dataDiskNames(h, 'node-1')).toEqual(['0:disk-x', '1:disk-y']);

    // The attach left the cache as its update did; someone else attaches Z, and we detach Y.
    h.sim.attachDirectly('node-1', 'disk-z', 5);
    expect(await h.detach('pv-y', 'node-1')).toMatchObject({ status: 'Success' });
    expect(dataDiskNames(h, 'node-1')).toEqual(['0:disk-x', '5:disk-z']);
    expect(h.sim.getDisk('disk-y')?.managedBy).toBeUndefined();

    // And once more while our cache is young: W attached behind our back between two attaches.
    expect(await h.attach('pv-z2', 'disk-y', 'node-1')).toMatchObject({ status: 'Success', device: '1' });
    h.sim.attachDirectly('node-1', 'disk-w', 9);
    expect(await h.detach('pv-z2', 'node-1')).toMatchObject({ status: 'Success' });
    expect(dataDiskNames(h, 'node-1')).toEqual(['0:disk-x', '5:disk-z', '9:disk-w']);
  });

  test('VM cache entries dated in the future (clock stepped back) are ignored, and replaced', async () => {
    h = await startHarness(file);
    h.sim.addVM({ name: 'node-1' });
    h.sim.addDisk({ name: 'disk-x', sizeGB: 8 });
    expect(await h.isattached('pv-x', 'disk-x', 'node-1')).toMatchObject({ attached: false });
    h.sim.attachDirectly('node-1', 'disk-x', 2);
    // Every entry (the VM's own, its resource group's list) says "no disks" and was read in an hour.
    const cacheFiles = (fs.readdirSync(azureStateDirs(h.sandbox.stateDir).vms, { recursive: true }) as string[])
      .filter((name) => name.endsWith('.json'))
      .map((name) => path.join(azureStateDirs(h.sandbox.stateDir).vms, name));
    expect(cacheFiles.length).toBeGreaterThan(0);
    const future = Date.now() + 3600_000;
    for (const cacheFile of cacheFiles) {
      const entry = JSON.parse(fs.readFileSync(cacheFile, 'utf8')) as { readAt: number; machine?: { dataDisks: unknown[] }; machines?: Array<{ dataDisks: unknown[] }> };
      for (const machine of [entry.machine, ...(entry.machines ?? [])]) expect(machine?.dataDisks ?? []).toEqual([]);
      fs.writeFileSync(cacheFile, JSON.stringify({ ...entry, readAt: future }));
    }

    expect(await h.isattached('pv-x', 'disk-x', 'node-1')).toMatchObject({ status: 'Success', attached: true });
    const readAts = cacheFiles.flatMap((cacheFile) => (fs.existsSync(cacheFile) ? [(JSON.parse(fs.readFileSync(cacheFile, 'utf8')) as { readAt: number }).readAt] : []));
    expect(readAts.some((readAt) => readAt <= Date.now())).toBe(true);
    expect(await h.isattached('pv-x', 'disk-x', 'node-1')).toMatchObject({ status: 'Success', attached: true });
  });

  test('isattached sweeps: the resource group is listed once for all its VMs, and a sweep within the cache period asks ARM nothing and loads no SDK', async () => {
    h = await startHarness(file);
    const vms = Array.from({ length: 55 }, (_, i) => `node-${String(i).padStart(2, '0')}`);
    for (const vm of vms) h.sim.addVM({ name: vm });
    const swept = vms.slice(0, 6);
    const volumes = swept.flatMap((vm, v) =>
      [0, 1, 2].map((lun) => {
        const disk = `disk-${v}-${lun}`;
        h.sim.addDisk({ name: disk, sizeGB: 8 });
        h.sim.attachDirectly(vm, disk, lun);
        return { vm, disk };
      }),
    );
    const env = { AZURE_LOG_LEVEL: 'bogus' };
    const sweep = () =>
      Promise.all(
        swept.map(async (vm) => {
          for (const { disk } of volumes.filter((volume) => volume.vm === vm)) {
            expect(await h.sandbox.call('azuredisk', ['isattached', goJson({ ...baseOptions({ volumeName: `pv-${disk}` }), diskName: disk, diskURI: diskUri(h, disk) }), vm], env)).toMatchObject({ attached: true });
          }
        }),
      );
    await sweep();
    // 55 VMs are two pages of the resource group's list; no VM is read on its own.
    expect(h.armCount({ method: 'GET', pathIncludes: '/virtualMachines' })).toBe(2);
    expect(h.sim.requests.filter((r) => r.kind === 'arm' && /\/virtualMachines\/[^/]+$/.test(r.path))).toEqual([]);

    h.sim.resetLog();
    fs.writeFileSync(h.sandbox.logFile, '');
    await sweep();
    expect(h.sim.requests).toEqual([]);
    expect(h.sandbox.readLog()).not.toMatch(/AZURE_LOG_LEVEL set to unknown/);
  });

  test('a queued attach whose caller was SIGKILLed before the batch ran is never executed', async () => {
    h = await startHarness(file);
    h.sim.addVM({ name: 'node-1' });
    h.sim.addDisk({ name: 'disk-killed', sizeGB: 8 });
    h.sim.addDisk({ name: 'disk-live', sizeGB: 8 });
    const queue = nodeQueue(h, 'node-1');
    const leader = queue.hold();
    const killed = h.start(h.attachArgs('pv-killed', 'disk-killed', 'node-1'));
    await queue.waitForRequests(1);
    await kill(killed);
    const live = h.attach('pv-live', 'disk-live', 'node-1');
    await queue.waitForRequests(2);
    leader.release();

    expect(await live).toMatchObject({ status: 'Success', device: '0' });
    expect(dataDiskNames(h, 'node-1')).toEqual(['0:disk-live']);
    expect(h.sim.getDisk('disk-killed')?.managedBy).toBeUndefined();
    expect(queue.requests()).toEqual([]);
    expect(h.sandbox.readLog()).toMatch(/dropped, not executed: attach disk-killed queued by process \d+, which is gone/);
  });

  test('a queued detach of a killed caller is never executed, even once the disk was attached again at the same LUN', async () => {
    h = await startHarness(file);
    h.sim.addVM({ name: 'node-1' });
    h.sim.addDisk({ name: 'disk-d', sizeGB: 8 });
    h.sim.addDisk({ name: 'disk-live', sizeGB: 8 });
    expect(await h.attach('pv-d', 'disk-d', 'node-1')).toMatchObject({ status: 'Success', device: '0' });
    const queue = nodeQueue(h, 'node-1');
    const leader = queue.hold();
    const killed = h.start(['detach', 'pv-d', 'node-1']);
    await queue.waitForRequests(1);
    await kill(killed);
    // Meanwhile the disk is detached and attached again (for a new pod) where it was.
    h.sim.detachDirectly('node-1', 'disk-d');
    h.sim.attachDirectly('node-1', 'disk-d', 0);
    const live = h.attach('pv-live', 'disk-live', 'node-1');
    await queue.waitForRequests(2);
    leader.release();

    expect(await live).toMatchObject({ status: 'Success', device: '1' });
    expect(dataDiskNames(h, 'node-1')).toEqual(['0:disk-d', '1:disk-live']);
    expect(h.sim.getDisk('disk-d')?.managedBy).toBeDefined();
    expect(h.sandbox.readLog()).toMatch(/dropped, not executed: detach disk-d queued by process \d+, which is gone/);
  });

  test('a detach is not executed when the disk is no longer at the LUN its caller saw', async () => {
    h = await startHarness(file);
    h.sim.addVM({ name: 'node-1' });
    h.sim.addDisk({ name: 'disk-d', sizeGB: 8 });
    expect(await h.attach('pv-d', 'disk-d', 'node-1')).toMatchObject({ status: 'Success', device: '0' });
    const queue = nodeQueue(h, 'node-1');
    const leader = queue.hold();
    const detach = h.detach('pv-d', 'node-1');
    await queue.waitForRequests(1);
    h.sim.detachDirectly('node-1', 'disk-d');
    h.sim.attachDirectly('node-1', 'disk-d', 3);
    leader.release();

    const reply = await detach;
    expect(reply.status).toBe('Failure');
    expect(reply.message).toMatch(/at LUN 3, not at LUN 0 where this detach saw it/);
    expect(dataDiskNames(h, 'node-1')).toEqual(['3:disk-d']);
    expect(h.armCount({ method: 'PUT' })).toBe(1);
  });
});

describe('azuredisk controller configuration and credentials (bundle)', () => {
  let h: Harness;
  const build = BUILDS[1].file;
  afterEach(async () => {
    await h.sim.close();
    await h.sandbox.cleanup();
  });

  beforeEach(async () => {
    h = await startHarness(build);
    h.sim.addVM({ name: 'node-1' });
    h.sim.addDisk({ name: 'disk-1', sizeGB: 8 });
  });

  test('a disk of 4 TiB or more is attached without host caching', async () => {
    h.sim.addDisk({ name: 'disk-big', sizeGB: 4096 });
    expect(await h.attach('pv-big', 'disk-big', 'node-1', { cachingMode: 'ReadWrite' })).toMatchObject({ status: 'Success' });
    expect(await h.attach('pv-1', 'disk-1', 'node-1', { cachingMode: 'readwrite' })).toMatchObject({ status: 'Success' });
    const dataDisks = h.sim.getVM('node-1')?.properties.storageProfile.dataDisks;
    expect(dataDisks?.find((d) => d.name === 'disk-big')?.caching).toBe('None');
    expect(dataDisks?.find((d) => d.name === 'disk-1')?.caching).toBe('ReadWrite');
  });

  test('bad input answers Failure before any ARM request', async () => {
    const blob = await h.attach('pv-1', 'disk-1', 'node-1', { diskURI: 'https://account.blob.core.windows.net/vhds/disk.vhd' });
    expect(blob.status).toBe('Failure');
    expect(blob.message).toMatch(/blob \(unmanaged VHD\)/);
    const kind = await h.attach('pv-1', 'disk-1', 'node-1', { kind: 'Shared' });
    expect(kind.status).toBe('Failure');
    expect(kind.message).toMatch(/kind/);
    expect(h.sim.count({})).toBe(0);
  });

  test('a missing field names the field and the file', async () => {
    const configFile = path.join(h.sandbox.dir, 'azure.json');
    const { subscriptionId: _, ...config } = h.sim.cloudConfig();
    fs.writeFileSync(configFile, JSON.stringify(config));
    const reply = await h.attach('pv-1', 'disk-1', 'node-1');
    expect(reply.status).toBe('Failure');
    expect(reply.message).toContain(`${configFile}: field 'subscriptionId'`);
    const missing = await h.attach('pv-1', 'disk-1', 'node-1', {}, { AZURE_CREDENTIAL_FILE: path.join(h.sandbox.dir, 'nope.json') });
    expect(missing.message).toMatch(/nope\.json does not exist/);
  });

  test('a wrong client secret is a Failure that names the credential and never shows the secret', async () => {
    h.writeConfig({ aadClientSecret: 'wrong-secret-value' });
    const reply = await h.attach('pv-1', 'disk-1', 'node-1');
    expect(reply.status).toBe('Failure');
    expect(reply.message).toMatch(/client secret from .*azure\.json/);
    expect(reply.output).not.toContain('wrong-secret-value');
    expect(h.sandbox.readLog()).not.toContain('wrong-secret-value');
  });

  test('managed identity: system-assigned, user-assigned by client id and by resource id', async () => {
    const env = { AZURE_POD_IDENTITY_AUTHORITY_HOST: h.sim.url };
    const identities = [undefined, '11111111-2222-3333-4444-555555555555', `/subscriptions/${h.sim.subscriptionId}/resourceGroups/ids/providers/Microsoft.ManagedIdentity/userAssignedIdentities/kcm`];
    for (const [i, identity] of identities.entries()) {
      h.writeConfig({ aadClientId: '', aadClientSecret: '', useManagedIdentityExtension: true, userAssignedIdentityID: identity ?? '' });
      h.sim.addDisk({ name: `disk-mi-${i}`, sizeGB: 8 });
      expect(await h.attach(`pv-mi-${i}`, `disk-mi-${i}`, 'node-1', {}, env)).toMatchObject({ status: 'Success', device: String(i) });
    }
    const tokenCalls = h.sim.requests.filter((r) => r.kind === 'token' && r.path.startsWith('/metadata/identity'));
    expect(tokenCalls.map((r) => r.query['client_id'] ?? r.query['msi_res_id'] ?? r.query['mi_res_id'] ?? 'system')).toEqual([
      'system',
      identities[1],
      identities[2],
    ]);
  });

  test('workload identity and client certificate (PEM and PKCS#12)', async () => {
    const tokenFile = path.join(h.sandbox.dir, 'sa-token');
    fs.writeFileSync(tokenFile, 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQifQ.c2lnbmF0dXJl');
    h.writeConfig({ aadClientSecret: '', aadFederatedTokenFile: tokenFile });
    expect(await h.attach('pv-1', 'disk-1', 'node-1')).toMatchObject({ status: 'Success', device: '0' });

    const key = path.join(h.sandbox.dir, 'key.pem');
    const cert = path.join(h.sandbox.dir, 'cert.pem');
    const bundle = path.join(h.sandbox.dir, 'client.pem');
    const pfx = path.join(h.sandbox.dir, 'client.pfx');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', '/CN=kcm'], { stdio: 'ignore' });
    fs.writeFileSync(bundle, fs.readFileSync(cert, 'utf8') + fs.readFileSync(key, 'utf8'));
    execFileSync('openssl', ['pkcs12', '-export', '-inkey', key, '-in', cert, '-out', pfx, '-passout', 'pass:pfx-password'], { stdio: 'ignore' });

    h.sim.addDisk({ name: 'disk-2', sizeGB: 8 });
    h.writeConfig({ aadClientSecret: '', aadClientCertPath: bundle });
    expect(await h.attach('pv-2', 'disk-2', 'node-1')).toMatchObject({ status: 'Success', device: '1' });

    h.sim.addDisk({ name: 'disk-3', sizeGB: 8 });
    h.writeConfig({ aadClientSecret: '', aadClientCertPath: pfx, aadClientCertPassword: 'pfx-password' });
    expect(await h.attach('pv-3', 'disk-3', 'node-1')).toMatchObject({ status: 'Success', device: '2' });
    expect(h.sandbox.readLog()).not.toContain('pfx-password');
    expect(h.sandbox.readLog()).not.toContain('PRIVATE KEY');
  });

  test('AZURE_LOG_LEVEL does not reach the reply; the SDK log goes to the driver log, redacted', async () => {
    const reply = await h.attach('pv-1', 'disk-1', 'node-1', {}, { AZURE_LOG_LEVEL: 'verbose' });
    expect(reply).toMatchObject({ status: 'Success', device: '0' });
    expect(reply.output).toBe('{"status":"Success","device":"0"}\n');
    const logText = h.sandbox.readLog();
    expect(logText).toMatch(/\(azure sdk\) azure:/);
    expect(logText).not.toContain(h.sim.clientSecret);
    expect(logText).not.toMatch(/Bearer [A-Za-z0-9_-]{20}/);
  });

  test('the Azure SDK is loaded by the controller calls only', async () => {
    // @azure/logger complains about an unknown level when it loads; the complaint lands in the log.
    const env = { AZURE_LOG_LEVEL: 'bogus' };
    expect((await h.sandbox.call('azuredisk', ['init'], env)).status).toBe('Success');
    expect((await h.sandbox.call('azuredisk', ['getvolumename', goJson(baseOptions())], env)).status).toBe('Not supported');
    expect((await h.sandbox.call('nfs', ['unmount', h.sandbox.podVolumeDir('nfs', 'v')], env)).status).toBe('Success');
    expect(h.sandbox.readLog()).not.toMatch(/AZURE_LOG_LEVEL set to unknown/);
    Object.assign(h.sandbox.env, env);
    expect((await h.isattached('pv-1', 'disk-1', 'node-1')).status).toBe('Success');
    expect(h.sandbox.readLog()).toMatch(/AZURE_LOG_LEVEL set to unknown/);
  });

  test('vmss with a computer name prefix other than the scale set name, via primaryScaleSetName', async () => {
    h.sim.addScaleSet({ name: 'pool-b', computerNamePrefix: 'nodeb', instanceIds: [5, 7] });
    h.writeConfig({ vmType: 'vmss', primaryScaleSetName: 'pool-b' });
    expect(await h.attach('pv-1', 'disk-1', 'nodeb000007')).toMatchObject({ status: 'Success', device: '0' });
    expect(h.sim.getScaleSetVM('pool-b', 7)?.properties.storageProfile.dataDisks).toHaveLength(1);
    // A vmss cluster may also hold standalone VMs.
    h.sim.addDisk({ name: 'disk-2', sizeGB: 8 });
    expect(await h.attach('pv-2', 'disk-2', 'node-1')).toMatchObject({ status: 'Success', device: '0' });
  });
});
