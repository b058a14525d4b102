// The azuredisk controller side (attach, isattached, detach) through the built executable, called as
// kube-controller-manager calls it, against the ARM simulator with the real Azure SDK inside.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BUILDS, createSandbox, useArmSimulator, type Sandbox } from '../helpers/sandbox.ts';
import { baseOptions, goJson, type CallResult } from '../helpers/kubelet.ts';
import { startArmSimulator, type ArmSimulator, type SimulatorCloudConfig } from '../arm-simulator/index.ts';

const VMSS = 'k8s-agentpool-vmss';

interface Harness {
  sim: ArmSimulator;
  sandbox: Sandbox;
  writeConfig(overrides?: Partial<SimulatorCloudConfig>): void;
  attach(pv: string, diskName: string, node: string, extra?: Record<string, string>, env?: NodeJS.ProcessEnv): Promise<CallResult>;
  isattached(pv: string, diskName: string, node: string): Promise<CallResult>;
  detach(pv: string, node: string, env?: NodeJS.ProcessEnv): Promise<CallResult>;
  armCount(filter: { method?: string; pathIncludes?: string }): number;
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

  test('16 concurrent attaches to one VM: 16 distinct LUNs, one VM update, a few VM reads', async () => {
    h = await startHarness(file, { updateLatencyMs: 400 });
    h.sim.addVM({ name: 'busy-node' });
    const disks = Array.from({ length: 16 }, (_, i) => `disk-${String(i).padStart(2, '0')}`);
    for (const disk of disks) h.sim.addDisk({ name: disk, sizeGB: 4 });

    const replies = await Promise.all(disks.map((disk, i) => h.attach(`pv-${i}`, disk, 'busy-node')));
    for (const reply of replies) expect(reply).toMatchObject({ status: 'Success', exitCode: 0 });
    const dataDisks = h.sim.getVM('busy-node')?.properties.storageProfile.dataDisks ?? [];
    expect(new Set(replies.map((reply) => reply.device)).size).toBe(16);
    expect(dataDisks).toHaveLength(16);
    expect(dataDisks.map((d) => d.lun).sort((a, b) => a - b)).toEqual(Array.from({ length: 16 }, (_, i) => i));
    // Every process learned its own disk's LUN.
    disks.forEach((disk, i) => expect(replies[i]?.device).toBe(String(lunOf(dataDisks, disk))));
    const updates = h.armCount({ method: 'PUT', pathIncludes: '/virtualMachines/busy-node' });
    const reads = h.armCount({ method: 'GET', pathIncludes: '/virtualMachines/busy-node' });
    // The batch leader waits while the burst is still arriving, so all 16 share one update.
    expect(updates).toBe(1);
    // One read to resolve, and the final read of the update's long-running operation.
    expect(reads).toBeLessThanOrEqual(3);
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
