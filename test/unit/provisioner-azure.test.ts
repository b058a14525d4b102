// The provisioner's Azure calls (src/azure/managed-disks.ts, file-shares.ts) through the real SDK
// clients against the ARM simulator: what they send is what ARM accepts, and what it answers is read right.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tls from 'node:tls';
import { startArmSimulator, type ArmSimulator } from '../arm-simulator/index.ts';
import { openAzureContext, type AzureContext } from '../../src/provisioner/azure-context.ts';
import { createManagedDisk, deleteManagedDisk, readManagedDisk, resizeManagedDisk, type DiskSpec } from '../../src/azure/managed-disks.ts';
import {
  createFileShare,
  createStorageAccount,
  deleteFileShare,
  findStorageAccount,
  readFileShare,
  resizeFileShare,
  storageAccountKey,
} from '../../src/azure/file-shares.ts';

let sim: ArmSimulator;
let azure: AzureContext;
let dir: string;

beforeAll(async () => {
  sim = await startArmSimulator();
  tls.setDefaultCACertificates([...tls.getCACertificates('default'), fs.readFileSync(sim.caCertPath, 'utf8')]);
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'provisioner-azure-'));
  fs.writeFileSync(path.join(dir, 'azure.json'), JSON.stringify(sim.cloudConfig()));
  azure = await openAzureContext({ credentialFile: path.join(dir, 'azure.json'), stateDir: dir, operationTimeoutMs: 30_000, userAgent: 'test' });
});

afterAll(async () => {
  await sim.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

function diskSpec(overrides: Partial<DiskSpec> = {}): DiskSpec {
  return {
    resourceGroup: sim.resourceGroup,
    name: 'pvc-1',
    location: sim.location,
    sizeGB: 8,
    skuName: 'Premium_LRS',
    zones: ['2'],
    tags: { 'kubernetes.io-created-for-pvc-uid': 'uid-1' },
    diskIOPSReadWrite: undefined,
    diskMBpsReadWrite: undefined,
    diskEncryptionSetID: undefined,
    networkAccessPolicy: 'DenyAll',
    ...overrides,
  };
}

test('a disk is created as a long-running operation with its zone, SKU and tags, grown, and deleted', async () => {
  sim.provisioning.latencyMs = 150;
  const started = Date.now();
  const created = await createManagedDisk(azure.compute, diskSpec(), azure.signal());
  expect(Date.now() - started).toBeGreaterThanOrEqual(140);
  expect(created).toMatchObject({ name: 'pvc-1', sizeGB: 8, skuName: 'Premium_LRS', zones: ['2'], provisioningState: 'Succeeded', managedBy: undefined });
  expect(created.tags['kubernetes.io-created-for-pvc-uid']).toBe('uid-1');
  expect(sim.count({ method: 'PUT', pathIncludes: '/disks/pvc-1' })).toBe(1);

  const grown = await resizeManagedDisk(azure.compute, sim.resourceGroup, 'pvc-1', 16, azure.signal());
  expect(grown.sizeGB).toBe(16);
  await expect(resizeManagedDisk(azure.compute, sim.resourceGroup, 'pvc-1', 4, azure.signal())).rejects.toThrow(/reduction is not supported/);

  await deleteManagedDisk(azure.compute, sim.resourceGroup, 'pvc-1', azure.signal());
  expect(await readManagedDisk(azure.compute, sim.resourceGroup, 'pvc-1', azure.signal())).toBeUndefined();
  // Deleting again is not an error.
  await deleteManagedDisk(azure.compute, sim.resourceGroup, 'pvc-1', azure.signal());
  sim.provisioning.latencyMs = 0;
});

test('an attached disk is not deleted, and an attached Ultra disk is not grown', async () => {
  sim.addVM({ name: 'node-1' });
  await createManagedDisk(azure.compute, diskSpec({ name: 'pvc-2', skuName: 'UltraSSD_LRS', sizeGB: 4, diskIOPSReadWrite: 500, diskMBpsReadWrite: 100 }), azure.signal());
  sim.attachDirectly('node-1', 'pvc-2', 0);
  expect((await readManagedDisk(azure.compute, sim.resourceGroup, 'pvc-2', azure.signal()))?.managedBy).toMatch(/virtualMachines\/node-1$/);
  await expect(deleteManagedDisk(azure.compute, sim.resourceGroup, 'pvc-2', azure.signal())).rejects.toThrow(/attached/);
  await expect(resizeManagedDisk(azure.compute, sim.resourceGroup, 'pvc-2', 8, azure.signal())).rejects.toThrow(/while it is attached/);
});

test('a disk beyond the quota is refused with QuotaExceeded', async () => {
  sim.provisioning.diskQuota = sim.provisioning.diskCount();
  await expect(createManagedDisk(azure.compute, diskSpec({ name: 'pvc-3' }), azure.signal())).rejects.toMatchObject({ code: 'QuotaExceeded', statusCode: 409 });
  sim.provisioning.diskQuota = undefined;
});

test('storage accounts are found by their tags or created, their key read, and shares created, grown and deleted', async () => {
  const want = { resourceGroup: sim.resourceGroup, location: sim.location, skuName: 'Standard_LRS', kind: 'StorageV2', tags: { 'k8s-azure-created-by': 'me' } };
  expect(await findStorageAccount(azure.storage, want, azure.signal())).toBeUndefined();
  await createStorageAccount(
    azure.storage,
    { resourceGroup: sim.resourceGroup, name: 'fabc', location: sim.location, skuName: 'Standard_LRS', kind: 'StorageV2', httpsOnly: true, tags: want.tags },
    azure.signal(),
  );
  expect(await findStorageAccount(azure.storage, want, azure.signal())).toBe('fabc');
  expect(await findStorageAccount(azure.storage, { ...want, skuName: 'Premium_LRS' }, azure.signal())).toBeUndefined();
  const key = await storageAccountKey(azure.storage, sim.resourceGroup, 'fabc', azure.signal());
  expect(key).toBe(sim.provisioning.allAccounts()[0]?.keys[0]);

  const ref = { resourceGroup: sim.resourceGroup, account: 'fabc', share: 'pvc-9' };
  expect(await readFileShare(azure.storage, ref, azure.signal())).toBeUndefined();
  expect(await createFileShare(azure.storage, ref, { quotaGiB: 5, protocol: 'smb', metadata: { createdforpvcuid: 'u9' } }, azure.signal())).toMatchObject({ quotaGiB: 5, protocol: 'smb' });
  expect(await readFileShare(azure.storage, ref, azure.signal())).toEqual({ quotaGiB: 5, protocol: 'smb', metadata: { createdforpvcuid: 'u9' } });
  expect((await resizeFileShare(azure.storage, ref, 12, azure.signal())).quotaGiB).toBe(12);
  await deleteFileShare(azure.storage, ref, azure.signal());
  await deleteFileShare(azure.storage, ref, azure.signal());
  expect(sim.provisioning.findShare('fabc', 'pvc-9')).toBeUndefined();
});
