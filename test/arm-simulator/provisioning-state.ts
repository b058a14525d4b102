// What the provisioner creates in the simulated subscription: managed disks' own fields (zones,
// SKU, tags, performance, the long-running create and resize), storage accounts with their keys,
// and file shares with their quota. The disk record the VM routes attach is shared with state.ts.
import { randomBytes, randomUUID } from 'node:crypto';
import { ArmError } from './model.ts';
import type { Disk, SimulatorState } from './state.ts';

export const DISK_SKUS = ['Standard_LRS', 'Premium_LRS', 'StandardSSD_LRS', 'UltraSSD_LRS', 'PremiumV2_LRS', 'Premium_ZRS', 'StandardSSD_ZRS'];
/** Azure grows these only while detached. */
const OFFLINE_RESIZE_SKUS = new Set(['UltraSSD_LRS', 'PremiumV2_LRS']);
const MAX_DISK_GB = 32_767;

export interface DiskExtras {
  zones: string[] | undefined;
  tags: Record<string, string>;
  diskIOPSReadWrite: number | undefined;
  diskMBpsReadWrite: number | undefined;
  encryption: Record<string, unknown> | undefined;
  networkAccessPolicy: string | undefined;
  /** The create or resize in flight completes at this time (ms since the epoch). */
  readyAt: number;
  pendingSizeGB: number | undefined;
}

export interface StorageAccountRecord {
  id: string;
  name: string;
  resourceGroup: string;
  location: string;
  skuName: string;
  kind: string;
  tags: Record<string, string>;
  httpsOnly: boolean;
  keys: [string, string];
  readyAt: number;
}

export interface FileShareRecord {
  name: string;
  quotaGiB: number;
  protocol: 'SMB' | 'NFS';
  metadata: Record<string, string>;
}

export interface LroRecord {
  id: string;
  completesAt: number;
  failure: { code: string; message: string } | undefined;
  /** The Location URL's answer once done (undefined: 204). */
  result: () => unknown;
}

const key = (text: string) => text.toLowerCase();

export class ProvisioningState {
  readonly base: SimulatorState;
  /** Latency of a disk create/resize/delete or an account create; default 0. */
  latencyMs = 0;
  /** At most this many disks in the subscription; undefined: no quota. */
  diskQuota: number | undefined;
  private readonly extras = new Map<string, DiskExtras>();
  private readonly accounts = new Map<string, StorageAccountRecord>();
  private readonly shares = new Map<string, Map<string, FileShareRecord>>();
  private readonly operations = new Map<string, LroRecord>();

  constructor(base: SimulatorState) {
    this.base = base;
  }

  // ---- disks ----

  private extrasOf(disk: Disk): DiskExtras {
    let extras = this.extras.get(key(disk.id));
    if (extras === undefined) {
      extras = { zones: undefined, tags: {}, diskIOPSReadWrite: undefined, diskMBpsReadWrite: undefined, encryption: undefined, networkAccessPolicy: undefined, readyAt: 0, pendingSizeGB: undefined };
      this.extras.set(key(disk.id), extras);
    }
    // A resize lands when its operation completes.
    if (extras.pendingSizeGB !== undefined && extras.readyAt <= Date.now()) {
      disk.sizeGB = extras.pendingSizeGB;
      extras.pendingSizeGB = undefined;
    }
    return extras;
  }

  diskView(disk: Disk): Record<string, unknown> {
    const extras = this.extrasOf(disk);
    return {
      id: disk.id,
      name: disk.name,
      type: 'Microsoft.Compute/disks',
      location: this.base.config.location,
      ...(disk.managedBy !== undefined && { managedBy: disk.managedBy }),
      sku: { name: disk.sku, tier: disk.sku.startsWith('Premium') ? 'Premium' : disk.sku.startsWith('Ultra') ? 'Ultra' : 'Standard' },
      ...(extras.zones && { zones: extras.zones }),
      tags: extras.tags,
      properties: {
        creationData: { createOption: 'Empty' },
        diskSizeGB: disk.sizeGB,
        diskSizeBytes: disk.sizeGB * 1024 ** 3,
        diskState: disk.managedBy === undefined ? 'Unattached' : 'Attached',
        provisioningState: extras.readyAt > Date.now() ? 'Updating' : 'Succeeded',
        ...(extras.diskIOPSReadWrite !== undefined && { diskIOPSReadWrite: extras.diskIOPSReadWrite }),
        ...(extras.diskMBpsReadWrite !== undefined && { diskMBpsReadWrite: extras.diskMBpsReadWrite }),
        ...(extras.encryption && { encryption: extras.encryption }),
        ...(extras.networkAccessPolicy && { networkAccessPolicy: extras.networkAccessPolicy }),
      },
    };
  }

  diskCount(): number {
    return this.extras.size;
  }

  /** PUT of a disk that does not exist yet: checks the body as ARM does, then creates it. */
  createDisk(resourceGroup: string, name: string, body: Record<string, unknown>): Disk {
    const properties = (body['properties'] ?? {}) as Record<string, unknown>;
    const skuName = ((body['sku'] ?? {}) as { name?: string }).name ?? 'Standard_LRS';
    if (!DISK_SKUS.includes(skuName)) throw new ArmError(400, 'InvalidParameter', `The value '${skuName}' of parameter 'sku.name' is not allowed. Allowed values are: ${DISK_SKUS.join(', ')}.`);
    const location = body['location'];
    if (typeof location !== 'string') throw new ArmError(400, 'LocationRequired', 'The location property is required for this definition.');
    if (key(location.replaceAll(' ', '')) !== key(this.base.config.location.replaceAll(' ', ''))) {
      throw new ArmError(400, 'LocationNotAvailableForResourceType', `The provided location '${location}' is not available for resource type 'Microsoft.Compute/disks'.`);
    }
    const sizeGB = properties['diskSizeGB'];
    if (typeof sizeGB !== 'number' || !Number.isInteger(sizeGB) || sizeGB < 1 || sizeGB > MAX_DISK_GB) {
      throw new ArmError(400, 'InvalidParameter', `Required parameter 'diskSizeGB' must be a whole number of GB between 1 and ${MAX_DISK_GB} for an empty disk.`);
    }
    if (skuName === 'UltraSSD_LRS' && sizeGB < 4) throw new ArmError(400, 'InvalidParameter', 'The minimum size of an UltraSSD_LRS disk is 4 GB.');
    const zones = body['zones'] as string[] | undefined;
    if (zones !== undefined && (!Array.isArray(zones) || zones.length !== 1 || !['1', '2', '3'].includes(zones[0] ?? ''))) {
      throw new ArmError(400, 'InvalidParameter', `'zones' must name one availability zone of ${this.base.config.location}: 1, 2 or 3.`);
    }
    if (skuName.endsWith('_ZRS') && zones !== undefined) throw new ArmError(400, 'InvalidParameter', `Zone-redundant disks (${skuName}) cannot be placed in an availability zone.`);
    if (skuName === 'UltraSSD_LRS' && zones === undefined) throw new ArmError(400, 'InvalidParameter', 'UltraSSD_LRS disks must be created in an availability zone.');
    if (this.diskQuota !== undefined && this.diskCount() >= this.diskQuota) {
      throw new ArmError(409, 'QuotaExceeded', `Operation could not be completed as it results in exceeding approved Total Regional Disks quota. Location: ${this.base.config.location}, Current Limit: ${this.diskQuota}.`);
    }
    this.base.addDisk({ name, sizeGB, resourceGroup, sku: skuName });
    const disk = this.base.findDisk(resourceGroup, name) as Disk;
    const encryption = properties['encryption'] as Record<string, unknown> | undefined;
    this.extras.set(key(disk.id), {
      zones,
      tags: (body['tags'] ?? {}) as Record<string, string>,
      diskIOPSReadWrite: properties['diskIOPSReadWrite'] as number | undefined,
      diskMBpsReadWrite: properties['diskMBpsReadWrite'] as number | undefined,
      encryption,
      networkAccessPolicy: properties['networkAccessPolicy'] as string | undefined,
      readyAt: Date.now() + this.latencyMs,
      pendingSizeGB: undefined,
    });
    return disk;
  }

  /** PATCH with a new size: never smaller; SKUs that grow only detached refuse while attached. */
  resizeDisk(disk: Disk, sizeGB: number): void {
    const extras = this.extrasOf(disk);
    if (!Number.isInteger(sizeGB) || sizeGB > MAX_DISK_GB) throw new ArmError(400, 'InvalidParameter', `'diskSizeGB' must be a whole number of GB up to ${MAX_DISK_GB}.`);
    if (sizeGB < disk.sizeGB) throw new ArmError(400, 'BadRequest', `Disk size reduction is not supported. Current size is ${disk.sizeGB} GB, requested size is ${sizeGB} GB.`);
    if (disk.managedBy !== undefined && OFFLINE_RESIZE_SKUS.has(disk.sku)) {
      throw new ArmError(409, 'OperationNotAllowed', `Cannot resize disk ${disk.name} while it is attached to running VM ${disk.managedBy}. Resizing a disk of type ${disk.sku} is supported only when it is unattached.`);
    }
    extras.pendingSizeGB = sizeGB;
    extras.readyAt = Date.now() + this.latencyMs;
  }

  deleteDisk(disk: Disk): void {
    if (disk.managedBy !== undefined || disk.reservedBy !== undefined) {
      throw new ArmError(409, 'OperationNotAllowed', `Disk ${disk.name} is attached to VM ${disk.managedBy ?? disk.reservedBy ?? ''}.`);
    }
    this.base.removeDisk(disk.id);
    this.extras.delete(key(disk.id));
  }

  // ---- storage accounts and file shares ----

  accountId(resourceGroup: string, name: string): string {
    return `/subscriptions/${this.base.config.subscriptionId}/resourceGroups/${resourceGroup}/providers/Microsoft.Storage/storageAccounts/${name}`;
  }

  account(resourceGroup: string, name: string): StorageAccountRecord {
    const account = this.accounts.get(key(name));
    if (account === undefined || key(account.resourceGroup) !== key(resourceGroup)) {
      throw new ArmError(404, 'ResourceNotFound', `The Resource 'Microsoft.Storage/storageAccounts/${name}' under resource group '${resourceGroup}' was not found.`);
    }
    return account;
  }

  accountsIn(resourceGroup: string): StorageAccountRecord[] {
    return [...this.accounts.values()].filter((account) => key(account.resourceGroup) === key(resourceGroup));
  }

  allAccounts(): StorageAccountRecord[] {
    return [...this.accounts.values()];
  }

  createAccount(resourceGroup: string, name: string, body: Record<string, unknown>): StorageAccountRecord {
    if (!/^[a-z0-9]{3,24}$/.test(name)) throw new ArmError(400, 'AccountNameInvalid', `${name} is not a valid storage account name. Storage account name must be between 3 and 24 characters in length and use numbers and lower-case letters only.`);
    const existing = this.accounts.get(key(name));
    if (existing !== undefined && key(existing.resourceGroup) !== key(resourceGroup)) {
      throw new ArmError(409, 'StorageAccountAlreadyTaken', `The storage account named ${name} is already taken.`);
    }
    const skuName = ((body['sku'] ?? {}) as { name?: string }).name ?? '';
    const kind = String(body['kind'] ?? '');
    if (kind === 'FileStorage' && !skuName.startsWith('Premium')) throw new ArmError(400, 'InvalidParameter', 'FileStorage accounts must use a Premium SKU.');
    const properties = (body['properties'] ?? {}) as Record<string, unknown>;
    const account: StorageAccountRecord = existing ?? {
      id: this.accountId(resourceGroup, name),
      name,
      resourceGroup,
      location: String(body['location'] ?? this.base.config.location),
      skuName,
      kind,
      tags: (body['tags'] ?? {}) as Record<string, string>,
      httpsOnly: properties['supportsHttpsTrafficOnly'] !== false,
      keys: [randomBytes(64).toString('base64'), randomBytes(64).toString('base64')],
      readyAt: Date.now() + this.latencyMs,
    };
    this.accounts.set(key(name), account);
    return account;
  }

  accountView(account: StorageAccountRecord): Record<string, unknown> {
    return {
      id: account.id,
      name: account.name,
      type: 'Microsoft.Storage/storageAccounts',
      location: account.location,
      tags: account.tags,
      sku: { name: account.skuName, tier: account.skuName.startsWith('Premium') ? 'Premium' : 'Standard' },
      kind: account.kind,
      properties: {
        provisioningState: account.readyAt > Date.now() ? 'Creating' : 'Succeeded',
        supportsHttpsTrafficOnly: account.httpsOnly,
        primaryEndpoints: { file: `https://${account.name}.file.core.windows.net/` },
      },
    };
  }

  private sharesOf(account: StorageAccountRecord): Map<string, FileShareRecord> {
    let shares = this.shares.get(key(account.name));
    if (shares === undefined) {
      shares = new Map();
      this.shares.set(key(account.name), shares);
    }
    return shares;
  }

  share(account: StorageAccountRecord, name: string): FileShareRecord {
    const share = this.sharesOf(account).get(key(name));
    if (share === undefined) throw new ArmError(404, 'ShareNotFound', `The specified share ${name} does not exist.`);
    return share;
  }

  findShare(accountName: string, name: string): FileShareRecord | undefined {
    return this.shares.get(key(accountName))?.get(key(name));
  }

  createShare(account: StorageAccountRecord, name: string, body: Record<string, unknown>): FileShareRecord {
    if (!/^(?=.{3,63}$)[a-z0-9]+(-[a-z0-9]+)*$/.test(name)) throw new ArmError(400, 'InvalidResourceName', `The specifed resource name contains invalid characters: ${name}.`);
    if (this.sharesOf(account).has(key(name))) throw new ArmError(409, 'ShareAlreadyExists', `The specified share ${name} already exists.`);
    const properties = (body['properties'] ?? {}) as Record<string, unknown>;
    const protocol = properties['enabledProtocols'] === 'NFS' ? 'NFS' : 'SMB';
    if (protocol === 'NFS' && account.kind !== 'FileStorage') throw new ArmError(400, 'InvalidHeaderValue', 'NFS shares need a premium FileStorage account.');
    const share: FileShareRecord = {
      name,
      quotaGiB: this.checkQuota(account, properties['shareQuota'] ?? (account.kind === 'FileStorage' ? 100 : 5120)),
      protocol,
      metadata: (properties['metadata'] ?? {}) as Record<string, string>,
    };
    this.sharesOf(account).set(key(name), share);
    return share;
  }

  updateShare(account: StorageAccountRecord, name: string, body: Record<string, unknown>): FileShareRecord {
    const share = this.share(account, name);
    const quota = ((body['properties'] ?? {}) as Record<string, unknown>)['shareQuota'];
    if (quota !== undefined) share.quotaGiB = this.checkQuota(account, quota);
    return share;
  }

  deleteShare(account: StorageAccountRecord, name: string): boolean {
    return this.sharesOf(account).delete(key(name));
  }

  private checkQuota(account: StorageAccountRecord, quota: unknown): number {
    const minimum = account.kind === 'FileStorage' ? 100 : 1;
    if (typeof quota !== 'number' || !Number.isInteger(quota) || quota < minimum || quota > 102_400) {
      throw new ArmError(400, 'InvalidHeaderValue', `The share quota must be a whole number of GiB between ${minimum} and 102400.`);
    }
    return quota;
  }

  shareView(account: StorageAccountRecord, share: FileShareRecord): Record<string, unknown> {
    return {
      id: `${account.id}/fileServices/default/shares/${share.name}`,
      name: share.name,
      type: 'Microsoft.Storage/storageAccounts/fileServices/shares',
      etag: `"0x${randomUUID().replaceAll('-', '').slice(0, 15).toUpperCase()}"`,
      properties: { shareQuota: share.quotaGiB, enabledProtocols: share.protocol, metadata: share.metadata, accessTier: account.kind === 'FileStorage' ? 'Premium' : 'TransactionOptimized' },
    };
  }

  // ---- long-running operations ----

  beginOperation(result: () => unknown, failure?: LroRecord['failure']): LroRecord {
    const operation = { id: randomUUID(), completesAt: Date.now() + this.latencyMs, failure, result };
    this.operations.set(operation.id, operation);
    return operation;
  }

  operation(id: string): LroRecord {
    const operation = this.operations.get(id);
    if (operation === undefined) throw new ArmError(404, 'NotFound', `Operation '${id}' was not found.`);
    return operation;
  }
}
