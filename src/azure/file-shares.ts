// Azure Files for the provisioner: storage accounts found by their tags or created, their key, and
// file shares created, grown and deleted through Microsoft.Storage. The key is registered with the
// log's redaction the moment it is read.
import { StorageManagementClient, type FileShare, type StorageAccount } from '@azure/arm-storage';
import { DriverError } from '../flexvolume/errors.ts';
import { redactValue } from '../system/log.ts';
import { isNotFound } from './arm-errors.ts';
import { createArmClient, type ArmClientOptions } from './compute-client.ts';
import { settle } from './machines.ts';

export function createStorageClient(options: ArmClientOptions): StorageManagementClient {
  return createArmClient(StorageManagementClient, options);
}

export interface AccountSpec {
  resourceGroup: string;
  name: string;
  location: string;
  skuName: string;
  /** FileStorage for Premium shares, StorageV2 otherwise. */
  kind: 'FileStorage' | 'StorageV2';
  /** NFS shares need plain-HTTP traffic allowed on the account; SMB ones never do. */
  httpsOnly: boolean;
  tags: Record<string, string>;
}

export interface AccountMatch {
  resourceGroup: string;
  location: string;
  skuName: string;
  kind: string;
  /** Every tag must be present with this value. */
  tags: Record<string, string>;
}

function matches(account: StorageAccount, want: AccountMatch): boolean {
  const same = (a: string | undefined, b: string) => a !== undefined && a.replaceAll(' ', '').toLowerCase() === b.replaceAll(' ', '').toLowerCase();
  return (
    same(account.location, want.location) &&
    same(account.sku?.name, want.skuName) &&
    same(account.kind, want.kind) &&
    Object.entries(want.tags).every(([key, value]) => account.tags?.[key] === value)
  );
}

/** The first account of the resource group that matches, by name; undefined when none does. */
export async function findStorageAccount(client: StorageManagementClient, want: AccountMatch, signal: AbortSignal): Promise<string | undefined> {
  for await (const account of client.storageAccounts.listByResourceGroup(want.resourceGroup, { abortSignal: signal })) {
    if (account.name !== undefined && matches(account, want)) return account.name;
  }
  return undefined;
}

export async function createStorageAccount(client: StorageManagementClient, spec: AccountSpec, signal: AbortSignal): Promise<void> {
  const poller = client.storageAccounts.create(
    spec.resourceGroup,
    spec.name,
    {
      sku: { name: spec.skuName },
      kind: spec.kind,
      location: spec.location,
      tags: spec.tags,
      enableHttpsTrafficOnly: spec.httpsOnly,
      minimumTlsVersion: 'TLS1_2',
    },
    { abortSignal: signal },
  );
  await settle(poller, signal);
}

/** The account's first non-empty key. */
export async function storageAccountKey(client: StorageManagementClient, resourceGroup: string, account: string, signal: AbortSignal): Promise<string> {
  const result = await client.storageAccounts.listKeys(resourceGroup, account, { abortSignal: signal });
  const key = result.keys?.map((entry) => entry.value ?? '').find((value) => value !== '');
  if (key === undefined) throw new DriverError(`storage account ${account} in resource group ${resourceGroup} has no key; is shared-key access disabled on it?`);
  redactValue(key);
  return key;
}

export interface ShareInfo {
  quotaGiB: number;
  protocol: 'smb' | 'nfs';
  metadata: Record<string, string>;
}

function toShareInfo(share: FileShare): ShareInfo {
  return { quotaGiB: share.shareQuota ?? 0, protocol: share.enabledProtocols === 'NFS' ? 'nfs' : 'smb', metadata: share.metadata ?? {} };
}

export interface ShareRef {
  resourceGroup: string;
  account: string;
  share: string;
}

/** undefined when there is no such share (or no such account). */
export async function readFileShare(client: StorageManagementClient, ref: ShareRef, signal: AbortSignal): Promise<ShareInfo | undefined> {
  try {
    return toShareInfo(await client.fileShares.get(ref.resourceGroup, ref.account, ref.share, { abortSignal: signal }));
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw error;
  }
}

export async function createFileShare(
  client: StorageManagementClient,
  ref: ShareRef,
  spec: { quotaGiB: number; protocol: 'smb' | 'nfs'; metadata: Record<string, string> },
  signal: AbortSignal,
): Promise<ShareInfo> {
  const share: FileShare = { shareQuota: spec.quotaGiB, enabledProtocols: spec.protocol === 'nfs' ? 'NFS' : 'SMB', metadata: spec.metadata };
  return toShareInfo(await client.fileShares.create(ref.resourceGroup, ref.account, ref.share, share, { abortSignal: signal }));
}

export async function resizeFileShare(client: StorageManagementClient, ref: ShareRef, quotaGiB: number, signal: AbortSignal): Promise<ShareInfo> {
  return toShareInfo(await client.fileShares.update(ref.resourceGroup, ref.account, ref.share, { shareQuota: quotaGiB }, { abortSignal: signal }));
}

/** Deleting a share (or account) that is already gone succeeds. */
export async function deleteFileShare(client: StorageManagementClient, ref: ShareRef, signal: AbortSignal): Promise<void> {
  try {
    await client.fileShares.delete(ref.resourceGroup, ref.account, ref.share, { abortSignal: signal });
  } catch (error) {
    if (!isNotFound(error)) throw error;
  }
}
