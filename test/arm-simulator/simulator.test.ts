// The simulator is checked through the real Azure SDK clients, since matching what they send and
// expect is its whole point.
import * as fs from 'node:fs';
import * as https from 'node:https';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { ClientAssertionCredential, ClientSecretCredential, ManagedIdentityCredential, type TokenCredential } from '@azure/identity';
import { ComputeManagementClient } from '@azure/arm-compute';
import { startArmSimulator, type ArmSimulator } from './index.ts';

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const NODE = `${REPO_ROOT}node_modules/.bin/node`;
const FAST_POLLING = { updateIntervalInMs: 5 };

let sim: ArmSimulator;
let ca: string;
let client: ComputeManagementClient;

beforeEach(async () => {
  sim = await startArmSimulator();
  ca = fs.readFileSync(sim.caCertPath, 'utf8');
  client = computeClient(secretCredential());
});

afterEach(async () => {
  await sim.close();
});

function secretCredential(secret = sim.clientSecret): ClientSecretCredential {
  return new ClientSecretCredential(sim.tenantId, sim.clientId, secret, {
    authorityHost: sim.url,
    disableInstanceDiscovery: true,
    tlsOptions: { ca },
  });
}

function computeClient(credential: TokenCredential): ComputeManagementClient {
  return new ComputeManagementClient(credential, sim.subscriptionId, {
    endpoint: sim.url,
    credentials: { scopes: [`${sim.url}/.default`] },
    tlsOptions: { ca },
  });
}

function attachBody(diskId: string, lun: number, extra: { toBeDetached?: boolean } = {}) {
  return { location: sim.location, storageProfile: { dataDisks: [{ lun, createOption: 'Attach', managedDisk: { id: diskId }, ...extra }] } };
}

interface RawResponse {
  status: number;
  body: Record<string, unknown>;
  headers: Record<string, unknown>;
}

function rawRequest(method: string, path: string, headers: Record<string, string> = {}): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const request = https.request(`${sim.url}${path}`, { method, headers, ca }, (response) => {
      let data = '';
      response.on('data', (chunk: string) => (data += chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body: data ? JSON.parse(data) : {}, headers: response.headers }));
    });
    request.on('error', reject);
    request.end();
  });
}

interface SdkError {
  statusCode?: number;
  code?: string;
  message: string;
  response?: { headers: { get(name: string): string | undefined } };
}

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const all: T[] = [];
  for await (const item of items) all.push(item);
  return all;
}

async function rejection(promise: Promise<unknown>): Promise<SdkError> {
  try {
    await promise;
  } catch (error) {
    return error as never;
  }
  throw new Error('expected the call to fail');
}

describe('tokens', () => {
  test('a client secret gets a token through OpenID discovery, a wrong one is refused', async () => {
    const token = await secretCredential().getToken(`${sim.url}/.default`);
    expect(token.token).toMatch(/^[\w-]{20,}$/);
    expect(sim.requests.filter((r) => r.kind === 'token').map((r) => `${r.method} ${r.path}`)).toEqual([
      `GET /${sim.tenantId}/v2.0/.well-known/openid-configuration`,
      `POST /${sim.tenantId}/oauth2/v2.0/token`,
    ]);
    const refused = await rejection(secretCredential('wrong').getToken(`${sim.url}/.default`));
    expect(refused.message).toContain('AADSTS7000215');
  });

  test('ARM answers 401 without a token or with one it did not issue', async () => {
    sim.addVM({ name: 'vm1' });
    const path = `/subscriptions/${sim.subscriptionId}/resourceGroups/${sim.resourceGroup}/providers/Microsoft.Compute/virtualMachines/vm1?api-version=2025-04-01`;
    const missing = await rawRequest('GET', path);
    expect([missing.status, (missing.body['error'] as { code: string }).code]).toEqual([401, 'AuthenticationFailed']);
    const forged = await rawRequest('GET', path, { Authorization: 'Bearer made-up' });
    expect([forged.status, (forged.body['error'] as { code: string }).code]).toEqual([401, 'InvalidAuthenticationToken']);
  });

  test('managed identity (IMDS style, AZURE_POD_IDENTITY_AUTHORITY_HOST) and workload identity tokens work for ARM', async () => {
    sim.addVM({ name: 'vm1' });
    // msal-node picks and caches the managed-identity endpoint process-wide on first use.
    process.env['AZURE_POD_IDENTITY_AUTHORITY_HOST'] = sim.url;
    try {
      const managed = new ManagedIdentityCredential({ clientId: 'kubelet-identity', tlsOptions: { ca } });
      expect((await computeClient(managed).virtualMachines.get(sim.resourceGroup, 'vm1')).name).toBe('vm1');
    } finally {
      delete process.env['AZURE_POD_IDENTITY_AUTHORITY_HOST'];
    }
    const federated = new ClientAssertionCredential(sim.tenantId, 'workload-identity', async () => 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzYSJ9.c2ln', {
      authorityHost: sim.url,
      disableInstanceDiscovery: true,
      tlsOptions: { ca },
    });
    expect((await computeClient(federated).virtualMachines.get(sim.resourceGroup, 'vm1')).name).toBe('vm1');
    const imds = sim.requests.find((r) => r.path.startsWith('/metadata/identity/'));
    expect(imds?.query).toMatchObject({ client_id: 'kubelet-identity', resource: sim.url });
  });
});

describe('virtual machines', () => {
  test('PUT attaches when its operation completes; the SDK polls and returns the final VM', async () => {
    const diskId = sim.addDisk({ name: 'd1', sizeGB: 10 });
    const vmId = sim.addVM({ name: 'vm1' });
    sim.setUpdateLatency(100);
    const poller = await client.virtualMachines.beginCreateOrUpdate(sim.resourceGroup, 'vm1', attachBody(diskId, 0), FAST_POLLING);
    expect(sim.getVM('vm1')?.properties.provisioningState).toBe('Updating');
    expect(sim.getDisk('d1')?.properties.diskState).toBe('Unattached');
    const vm = await poller.pollUntilDone();
    expect(vm.provisioningState).toBe('Succeeded');
    expect(vm.storageProfile?.dataDisks?.map((d) => [d.lun, d.name, d.managedDisk?.id])).toEqual([[0, 'd1', diskId]]);
    expect(sim.getDisk('d1')).toMatchObject({ managedBy: vmId, properties: { diskState: 'Attached' } });
    // retry-after-ms says when the operation ends, so one poll may be all it takes: on a busy
    // machine the SDK's first poll already finds it done.
    expect(sim.count({ method: 'GET', pathIncludes: '/operations/' })).toBeGreaterThanOrEqual(1);
  });

  test('PATCH with toBeDetached removes the disk and frees it', async () => {
    const diskId = sim.addDisk({ name: 'd1', sizeGB: 10 });
    sim.addVM({ name: 'vm1' });
    sim.attachDirectly('vm1', 'd1', 3);
    const { storageProfile } = attachBody(diskId, 3, { toBeDetached: true });
    const vm = await client.virtualMachines.beginUpdateAndWait(sim.resourceGroup, 'vm1', { storageProfile }, FAST_POLLING);
    expect(vm.name).toBe('vm1');
    expect(vm.storageProfile?.dataDisks).toEqual([]);
    const disk = sim.getDisk('d1');
    expect(disk?.managedBy).toBeUndefined();
    expect(disk?.properties.diskState).toBe('Unattached');
    expect(sim.requests.find((r) => r.method === 'PATCH')?.status).toBe(202);
  });

  test('attachDetachDataDisks picks the lowest free LUN and detaches in the same call', async () => {
    const old = sim.addDisk({ name: 'old', sizeGB: 1 });
    const fresh = sim.addDisk({ name: 'fresh', sizeGB: 2 });
    sim.addVM({ name: 'vm1' });
    sim.addDisk({ name: 'keep', sizeGB: 1 });
    sim.attachDirectly('vm1', 'keep', 0);
    sim.attachDirectly('vm1', 'old', 1);
    const profile = await client.virtualMachines.beginAttachDetachDataDisksAndWait(
      sim.resourceGroup,
      'vm1',
      { dataDisksToAttach: [{ diskId: fresh }], dataDisksToDetach: [{ diskId: old }] },
      FAST_POLLING,
    );
    expect(profile.dataDisks?.map((d) => [d.lun, d.name])).toEqual([[0, 'keep'], [2, 'fresh']]);
    expect(sim.getDisk('old')?.managedBy).toBeUndefined();
  });

  test('a disk owned by another VM is refused with 409 ConflictingUserInput', async () => {
    const diskId = sim.addDisk({ name: 'd1', sizeGB: 10 });
    sim.addVM({ name: 'vm1' });
    const otherId = sim.addVM({ name: 'other' });
    sim.attachDirectly('other', 'd1', 0);
    const error = await rejection(client.virtualMachines.beginCreateOrUpdateAndWait(sim.resourceGroup, 'vm1', attachBody(diskId, 0), FAST_POLLING));
    expect([error.statusCode, error.code]).toEqual([409, 'ConflictingUserInput']);
    expect(error.message).toBe(`Disk '${diskId}' cannot be attached as the disk is already owned by VM '${otherId}'.`);
    expect(sim.getVM('vm1')?.properties.storageProfile.dataDisks).toEqual([]);
  });

  test('a disk still being detached from another VM is refused with 409 AttachDiskWhileBeingDetached', async () => {
    const diskId = sim.addDisk({ name: 'd1', sizeGB: 10 });
    sim.addVM({ name: 'vm1' });
    sim.addVM({ name: 'other' });
    sim.attachDirectly('other', 'd1', 0);
    sim.setUpdateLatency(100);
    const detach = await client.virtualMachines.beginUpdate(sim.resourceGroup, 'other', { storageProfile: { dataDisks: [] } }, FAST_POLLING);
    const error = await rejection(client.virtualMachines.beginCreateOrUpdateAndWait(sim.resourceGroup, 'vm1', attachBody(diskId, 0), FAST_POLLING));
    expect([error.statusCode, error.code]).toEqual([409, 'AttachDiskWhileBeingDetached']);
    await detach.pollUntilDone();
    sim.setUpdateLatency(0);
    await client.virtualMachines.beginCreateOrUpdateAndWait(sim.resourceGroup, 'vm1', attachBody(diskId, 0), FAST_POLLING);
    expect(sim.getDisk('d1')?.managedBy).toMatch(/\/vm1$/);
  });

  test('missing disks, duplicate LUNs and too many disks are refused', async () => {
    await sim.close();
    sim = await startArmSimulator({ maxDataDisks: 1 });
    client = computeClient(secretCredential());
    const a = sim.addDisk({ name: 'a', sizeGB: 1 });
    const b = sim.addDisk({ name: 'b', sizeGB: 1 });
    sim.addVM({ name: 'vm1' });
    const put = (dataDisks: unknown[]) => {
      const body = { location: sim.location, storageProfile: { dataDisks } } as never;
      return rejection(client.virtualMachines.beginCreateOrUpdateAndWait(sim.resourceGroup, 'vm1', body, FAST_POLLING));
    };
    const entry = (id: string, lun: number) => ({ lun, createOption: 'Attach', managedDisk: { id } });
    const missing = await put([entry(`${a}-gone`, 0)]);
    expect([missing.statusCode, missing.code]).toEqual([404, 'NotFound']);
    const duplicate = await put([entry(a, 0), { ...entry(b, 0), toBeDetached: true }]);
    expect([duplicate.statusCode, duplicate.code]).toEqual([409, 'InvalidParameter']);
    const full = await put([entry(a, 0), entry(b, 1)]);
    expect([full.statusCode, full.code]).toEqual([409, 'OperationNotAllowed']);
    expect(full.message).toContain('attached to a VM of this size is 1');
  });

  test('a second write while an operation is in flight gets 409 Conflict', async () => {
    const diskId = sim.addDisk({ name: 'd1', sizeGB: 10 });
    sim.addVM({ name: 'vm1' });
    sim.setUpdateLatency(150);
    const first = await client.virtualMachines.beginCreateOrUpdate(sim.resourceGroup, 'vm1', attachBody(diskId, 0), FAST_POLLING);
    const second = await rejection(client.virtualMachines.beginUpdateAndWait(sim.resourceGroup, 'vm1', {}, FAST_POLLING));
    expect([second.statusCode, second.code]).toEqual([409, 'Conflict']);
    await first.pollUntilDone();
    sim.setUpdateLatency(0);
    await client.virtualMachines.beginUpdateAndWait(sim.resourceGroup, 'vm1', {}, FAST_POLLING);
  });

  test('concurrent writes are accepted when rejectConcurrentWrites is off', async () => {
    await sim.close();
    sim = await startArmSimulator({ rejectConcurrentWrites: false, updateLatencyMs: 50 });
    client = computeClient(secretCredential());
    sim.addVM({ name: 'vm1' });
    await Promise.all([
      client.virtualMachines.beginUpdateAndWait(sim.resourceGroup, 'vm1', {}, FAST_POLLING),
      client.virtualMachines.beginUpdateAndWait(sim.resourceGroup, 'vm1', {}, FAST_POLLING),
    ]);
    expect(sim.count({ method: 'PATCH' })).toBe(2);
  });

  test('a failed operation leaves the VM Failed; an empty update repairs it', async () => {
    const diskId = sim.addDisk({ name: 'd1', sizeGB: 10 });
    sim.addVM({ name: 'vm1' });
    sim.injectFault({ method: 'PUT', pathIncludes: '/virtualMachines/vm1', failOperation: true, code: 'OperationPreempted', message: 'preempted' });
    const error = await rejection(client.virtualMachines.beginCreateOrUpdateAndWait(sim.resourceGroup, 'vm1', attachBody(diskId, 0), FAST_POLLING));
    expect(error.message).toContain('preempted');
    expect(sim.getVM('vm1')?.properties.provisioningState).toBe('Failed');
    expect(sim.getDisk('d1')?.managedBy).toBeUndefined();
    const repaired = await client.virtualMachines.beginUpdateAndWait(sim.resourceGroup, 'vm1', {}, FAST_POLLING);
    expect(repaired.provisioningState).toBe('Succeeded');
  });

  test('a PUT must name the location the VM is in', async () => {
    sim.addVM({ name: 'vm1' });
    const put = (location: string | undefined) =>
      rejection(client.virtualMachines.beginCreateOrUpdateAndWait(sim.resourceGroup, 'vm1', { location } as never, FAST_POLLING));
    expect((await put(undefined)).code).toBe('LocationRequired');
    expect((await put('eastus')).code).toBe('InvalidResourceLocation');
    await client.virtualMachines.beginCreateOrUpdateAndWait(sim.resourceGroup, 'vm1', { location: 'West Europe' }, FAST_POLLING);
  });

  test('setProvisioningState puts a VM into Failed', async () => {
    sim.addVM({ name: 'vm1' });
    sim.setProvisioningState('vm1', 'Failed');
    expect((await client.virtualMachines.get(sim.resourceGroup, 'vm1')).provisioningState).toBe('Failed');
  });

  test('paths match without regard to case and need an api-version', async () => {
    sim.addVM({ name: 'VM1' });
    const token = (await secretCredential().getToken(`${sim.url}/.default`)).token;
    const path = `/SUBSCRIPTIONS/${sim.subscriptionId}/resourcegroups/DEMO-RG/providers/microsoft.compute/virtualmachines/vm1`;
    const found = await rawRequest('GET', `${path}?api-version=x`, { Authorization: `Bearer ${token}` });
    expect([found.status, found.body['name']]).toEqual([200, 'VM1']);
    const noVersion = await rawRequest('GET', path, { Authorization: `Bearer ${token}` });
    expect(noVersion.status).toBe(400);
    const absent = await rawRequest('GET', `${path}-x?api-version=x`, { Authorization: `Bearer ${token}` });
    expect([absent.status, (absent.body['error'] as { code: string }).code]).toEqual([404, 'ResourceNotFound']);
  });
});

describe('etags, conditional writes and other writers', () => {
  test('every change gives a VM a new etag, in the body and the ETag header', async () => {
    const diskId = sim.addDisk({ name: 'd1', sizeGB: 10 });
    sim.addDisk({ name: 'd2', sizeGB: 10 });
    sim.addVM({ name: 'vm1' });
    const first = await client.virtualMachines.get(sim.resourceGroup, 'vm1');
    expect(first.etag).toMatch(/^"\d+"$/);
    const path = `/subscriptions/${sim.subscriptionId}/resourceGroups/${sim.resourceGroup}/providers/Microsoft.Compute/virtualMachines/vm1?api-version=2025-04-01`;
    const token = await secretCredential().getToken(`${sim.url}/.default`);
    const raw = await rawRequest('GET', path, { Authorization: `Bearer ${token.token}` });
    expect(raw.headers['etag']).toBe(first.etag);
    expect(raw.body['etag']).toBe(first.etag);

    const updated = await client.virtualMachines.createOrUpdate(sim.resourceGroup, 'vm1', attachBody(diskId, 0), { ...FAST_POLLING, ifMatch: first.etag });
    expect(updated.etag).not.toBe(first.etag);
    sim.attachDirectly('vm1', 'd2', 1);
    const afterOther = await client.virtualMachines.get(sim.resourceGroup, 'vm1');
    expect(afterOther.etag).not.toBe(updated.etag);
    sim.detachDirectly('vm1', 'd2');
    expect(sim.getVM('vm1')?.etag).not.toBe(afterOther.etag);
    expect(sim.getDisk('d2')?.managedBy).toBeUndefined();
  });

  test('If-Match with a stale etag is 412 PreconditionFailed and changes nothing; * and the current etag pass', async () => {
    const diskId = sim.addDisk({ name: 'd1', sizeGB: 10 });
    sim.addDisk({ name: 'other', sizeGB: 10 });
    sim.addVM({ name: 'vm1' });
    const read = await client.virtualMachines.get(sim.resourceGroup, 'vm1');
    sim.attachDirectly('vm1', 'other', 0);
    const refused = await rejection(client.virtualMachines.createOrUpdate(sim.resourceGroup, 'vm1', attachBody(diskId, 1), { ...FAST_POLLING, ifMatch: read.etag }));
    expect([refused.statusCode, refused.code]).toEqual([412, 'PreconditionFailed']);
    expect(sim.getVM('vm1')?.properties.storageProfile.dataDisks.map((d) => d.name)).toEqual(['other']);
    expect(sim.getDisk('d1')?.managedBy).toBeUndefined();

    const fresh = await client.virtualMachines.get(sim.resourceGroup, 'vm1');
    const body = { location: sim.location, storageProfile: { dataDisks: [...(fresh.storageProfile?.dataDisks ?? []), { lun: 1, createOption: 'Attach', managedDisk: { id: diskId } }] } };
    await client.virtualMachines.createOrUpdate(sim.resourceGroup, 'vm1', body, { ...FAST_POLLING, ifMatch: fresh.etag });
    expect(sim.getVM('vm1')?.properties.storageProfile.dataDisks.map((d) => d.name)).toEqual(['other', 'd1']);
    await client.virtualMachines.update(sim.resourceGroup, 'vm1', {}, { ...FAST_POLLING, ifMatch: '*' });

    const created = await rejection(client.virtualMachines.createOrUpdate(sim.resourceGroup, 'vm1', { location: sim.location }, { ...FAST_POLLING, ifNoneMatch: '*' }));
    expect([created.statusCode, created.code]).toEqual([412, 'PreconditionFailed']);
  });

  test('scale-set instances have etags and honour If-Match too', async () => {
    sim.addScaleSet({ name: 'ss', computerNamePrefix: 'ss', instanceIds: [3] });
    const diskId = sim.addDisk({ name: 'd1', sizeGB: 10 });
    const read = await client.virtualMachineScaleSetVMs.get(sim.resourceGroup, 'ss', '3');
    expect(read.etag).toMatch(/^"\d+"$/);
    expect([...(await collect(client.virtualMachineScaleSetVMs.list(sim.resourceGroup, 'ss')))][0]?.etag).toBe(read.etag);
    sim.setProvisioningState(`/subscriptions/${sim.subscriptionId}/resourceGroups/${sim.resourceGroup}/providers/Microsoft.Compute/virtualMachineScaleSets/ss/virtualMachines/3`, 'Succeeded');
    const refused = await rejection(client.virtualMachineScaleSetVMs.update(sim.resourceGroup, 'ss', '3', attachBody(diskId, 0), { ...FAST_POLLING, ifMatch: read.etag }));
    expect(refused.statusCode).toBe(412);
    const fresh = await client.virtualMachineScaleSetVMs.get(sim.resourceGroup, 'ss', '3');
    const done = await client.virtualMachineScaleSetVMs.update(sim.resourceGroup, 'ss', '3', attachBody(diskId, 0), { ...FAST_POLLING, ifMatch: fresh.etag });
    expect(done.storageProfile?.dataDisks?.map((d) => d.lun)).toEqual([0]);
  });

  test('beforeNextWrite lands another writer\'s change between a read and the next write, once', async () => {
    const diskId = sim.addDisk({ name: 'mine', sizeGB: 10 });
    sim.addDisk({ name: 'theirs', sizeGB: 10 });
    sim.addVM({ name: 'vm1' });
    const read = await client.virtualMachines.get(sim.resourceGroup, 'vm1');
    let runs = 0;
    sim.beforeNextWrite('vm1', () => {
      runs++;
      sim.attachDirectly('vm1', 'theirs', 0);
    });
    await client.virtualMachines.get(sim.resourceGroup, 'vm1');
    expect(runs).toBe(0);
    const refused = await rejection(client.virtualMachines.createOrUpdate(sim.resourceGroup, 'vm1', attachBody(diskId, 1), { ...FAST_POLLING, ifMatch: read.etag }));
    expect(refused.statusCode).toBe(412);
    // Without If-Match the same stale write would have dropped their disk; the hook ran once.
    await client.virtualMachines.createOrUpdate(sim.resourceGroup, 'vm1', attachBody(diskId, 1), FAST_POLLING);
    expect(runs).toBe(1);
    expect(sim.getVM('vm1')?.properties.storageProfile.dataDisks.map((d) => d.name)).toEqual(['mine']);
  });

  test('an operation completes on time without being polled: a later GET shows its result', async () => {
    const diskId = sim.addDisk({ name: 'd1', sizeGB: 10 });
    sim.addVM({ name: 'vm1' });
    sim.setUpdateLatency(150);
    const poller = client.virtualMachines.createOrUpdate(sim.resourceGroup, 'vm1', attachBody(diskId, 0), FAST_POLLING);
    await poller.submitted();
    const polls = sim.count({ pathIncludes: '/operations/' });
    await new Promise((resolve) => setTimeout(resolve, 250));
    const vm = await client.virtualMachines.get(sim.resourceGroup, 'vm1');
    expect(sim.count({ pathIncludes: '/operations/' })).toBe(polls);
    expect(vm.provisioningState).toBe('Succeeded');
    expect(vm.storageProfile?.dataDisks?.map((d) => d.name)).toEqual(['d1']);
    // The operation says it ended when its time came, not when someone next asked.
    await poller.pollUntilDone();
    const operationPath = sim.requests.find((r) => r.path.includes('/operations/'))?.path ?? '';
    const token = await secretCredential().getToken(`${sim.url}/.default`);
    const status = await rawRequest('GET', `${operationPath}?api-version=2025-04-01`, { Authorization: `Bearer ${token.token}` });
    const took = Date.parse(String(status.body['endTime'])) - Date.parse(String(status.body['startTime']));
    expect(status.body['status']).toBe('Succeeded');
    expect(took).toBeGreaterThanOrEqual(150);
    expect(took).toBeLessThan(200);
  });
});

describe('scale sets', () => {
  test('instances are listed page by page with base-36 computer names and updated with PUT', async () => {
    const ids = sim.addScaleSet({ name: 'vmss', computerNamePrefix: 'aks-pool-12345678-vmss', instanceIds: Array.from({ length: 61 }, (_, i) => i) });
    const listed = [];
    for await (const instance of client.virtualMachineScaleSetVMs.list(sim.resourceGroup, 'vmss')) listed.push(instance);
    expect(listed).toHaveLength(61);
    expect(sim.count({ method: 'GET', pathIncludes: '/virtualMachineScaleSets/vmss/virtualMachines' })).toBe(2);
    const instance36 = listed[36];
    expect([instance36?.id, instance36?.name, instance36?.instanceId, instance36?.osProfile?.computerName]).toEqual([
      ids[36],
      'vmss_36',
      '36',
      'aks-pool-12345678-vmss000010',
    ]);

    const diskId = sim.addDisk({ name: 'd1', sizeGB: 4 });
    const instance = await client.virtualMachineScaleSetVMs.beginUpdateAndWait(sim.resourceGroup, 'vmss', '36', attachBody(diskId, 5), FAST_POLLING);
    expect(instance.storageProfile?.dataDisks?.map((d) => d.lun)).toEqual([5]);
    expect(ids[36]).toMatch(/\/virtualMachineScaleSets\/vmss\/virtualMachines\/36$/);
    expect(sim.getDisk('d1')?.managedBy).toBe(ids[36]);
    expect(sim.requests.find((r) => r.method === 'PUT')?.path).toContain('/virtualMachineScaleSets/vmss/virtualMachines/36');
  });

  test('attachDetachDataDisks works on an instance', async () => {
    sim.addScaleSet({ name: 'vmss', computerNamePrefix: 'node', instanceIds: [1] });
    const diskId = sim.addDisk({ name: 'd1', sizeGB: 4 });
    const request = { dataDisksToAttach: [{ diskId, lun: 7 }] };
    const profile = await client.virtualMachineScaleSetVMs.beginAttachDetachDataDisksAndWait(sim.resourceGroup, 'vmss', '1', request, FAST_POLLING);
    expect(profile.dataDisks?.map((d) => d.lun)).toEqual([7]);
    expect(sim.getScaleSetVM('vmss', 1)?.properties.storageProfile.dataDisks[0]?.managedDisk.id).toBe(diskId);
  });
});

describe('faults and the request log', () => {
  test('a 429 with retry-after-ms is retried by the SDK; past its retries the error carries Retry-After', async () => {
    sim.addVM({ name: 'vm1' });
    sim.injectFault({ method: 'GET', pathIncludes: '/virtualMachines/vm1', status: 429, retryAfterMs: 20 });
    await client.virtualMachines.get(sim.resourceGroup, 'vm1');
    expect(sim.count({ method: 'GET', pathIncludes: '/virtualMachines/vm1' })).toBe(2);

    sim.resetLog();
    sim.injectFault({
      method: 'GET',
      pathIncludes: '/virtualmachines/VM1',
      status: 429,
      retryAfterMs: 20,
      code: 'SubscriptionRequestsThrottled',
      times: 10,
    });
    const error = await rejection(client.virtualMachines.get(sim.resourceGroup, 'vm1'));
    expect([error.statusCode, error.code]).toEqual([429, 'SubscriptionRequestsThrottled']);
    expect(error.response?.headers.get('retry-after')).toBe('1');
    expect(error.response?.headers.get('retry-after-ms')).toBe('20');
    expect(sim.count({ kind: 'arm' })).toBe(4);
    expect(sim.requests.every((r) => r.status === 429)).toBe(true);
  });

  test('delayMs alone slows the answer down', async () => {
    sim.addDisk({ name: 'd1', sizeGB: 1 });
    sim.injectFault({ pathIncludes: '/disks/d1', delayMs: 150 });
    const started = Date.now();
    const disk = await client.disks.get(sim.resourceGroup, 'd1');
    expect(disk.diskState).toBe('Unattached');
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
  });

  test('requests are logged with status and counted by method and path', async () => {
    sim.addVM({ name: 'vm1' });
    await client.virtualMachines.get(sim.resourceGroup, 'vm1');
    await rejection(client.disks.get(sim.resourceGroup, 'nope'));
    expect(sim.count({ method: 'GET', pathIncludes: '/disks/' })).toBe(1);
    expect(sim.requests.find((r) => r.path.includes('/disks/'))).toMatchObject({
      method: 'GET',
      status: 404,
      kind: 'arm',
      query: { 'api-version': expect.any(String) },
    });
    expect(sim.count({ kind: 'token' })).toBe(2);
    sim.resetLog();
    expect(sim.count()).toBe(0);
  });
});

describe('instance metadata and configuration', () => {
  test('IMDS describes the local instance and insists on the Metadata header', async () => {
    const [instanceId] = sim.addScaleSet({ name: 'vmss', computerNamePrefix: 'aks-pool-vmss', instanceIds: [3] });
    sim.setLocalInstance({ vmss: 'vmss', instanceId: '3' });
    const answer = await rawRequest('GET', '/metadata/instance?api-version=2021-10-01&format=json', { Metadata: 'true' });
    expect(answer.body['compute']).toMatchObject({
      name: 'vmss_3',
      vmScaleSetName: 'vmss',
      resourceGroupName: sim.resourceGroup,
      subscriptionId: sim.subscriptionId,
      location: sim.location,
      resourceId: instanceId,
      osProfile: { computerName: 'aks-pool-vmss000003' },
    });
    expect((await rawRequest('GET', '/metadata/instance?api-version=2021-10-01')).status).toBe(400);
    expect(sim.count({ kind: 'metadata' })).toBe(2);
  });

  test('cloudConfig points azure.json at the simulator', () => {
    expect(sim.cloudConfig({ vmType: 'vmss' })).toEqual({
      cloud: 'AzurePublicCloud',
      tenantId: sim.tenantId,
      subscriptionId: sim.subscriptionId,
      resourceGroup: 'demo-rg',
      location: 'westeurope',
      vmType: 'vmss',
      aadClientId: sim.clientId,
      aadClientSecret: sim.clientSecret,
      resourceManagerEndpoint: sim.url,
      activeDirectoryEndpoint: sim.url,
    });
  });
});

describe('command line', () => {
  test('main.ts serves a VM to an SDK client in another process that trusts the CA via NODE_EXTRA_CA_CERTS', async () => {
    const env = { ...process.env, NODE_OPTIONS: '' };
    const server = spawn(NODE, ['test/arm-simulator/main.ts', '--vm', 'cli-vm', '--disk', 'cli-disk:16'], { cwd: REPO_ROOT, env });
    try {
      const line = await firstLine(server.stdout);
      const started = JSON.parse(line) as { caCertPath: string };
      const script = `
        import { ClientSecretCredential } from '@azure/identity';
        import { ComputeManagementClient } from '@azure/arm-compute';
        const s = JSON.parse(process.env.SIM);
        const credential = new ClientSecretCredential(s.tenantId, s.clientId, s.clientSecret, { authorityHost: s.url, disableInstanceDiscovery: true });
        const client = new ComputeManagementClient(credential, s.subscriptionId, { endpoint: s.url, credentials: { scopes: [s.url + '/.default'] } });
        const vm = await client.virtualMachines.get(s.resourceGroup, 'cli-vm');
        const disk = await client.disks.get(s.resourceGroup, 'cli-disk');
        console.log(vm.name, disk.diskSizeGB);`;
      const output = await runNode(['--input-type=module', '-e', script], { ...env, NODE_EXTRA_CA_CERTS: started.caCertPath, SIM: line });
      expect(output.trim()).toBe('cli-vm 16');
    } finally {
      server.kill('SIGTERM');
    }
  });
});

async function firstLine(stream: NodeJS.ReadableStream): Promise<string> {
  for await (const line of createInterface({ input: stream })) return line;
  throw new Error('the simulator printed nothing');
}

function runNode(args: string[], env: NodeJS.ProcessEnv): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(NODE, args, { cwd: REPO_ROOT, env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(stdout) : reject(new Error(`node exited ${code}: ${stderr}`))));
  });
}
