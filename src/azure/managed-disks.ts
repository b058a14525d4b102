// Managed disks as the provisioner makes them: created, found again by name (the PV's), grown and
// deleted through Microsoft.Compute, each long-running write polled to its end.
import type { ComputeManagementClient, Disk } from '@azure/arm-compute';
import { DriverError } from '../flexvolume/errors.ts';
import { isNotFound } from './arm-errors.ts';
import { settle } from './machines.ts';

/** A delete has no result to watch for; a fixed, unhurried pace is enough. */
const DELETE_POLL_MS = 500;

export interface DiskSpec {
  resourceGroup: string;
  name: string;
  location: string;
  sizeGB: number;
  skuName: string;
  zones: string[] | undefined;
  tags: Record<string, string>;
  diskIOPSReadWrite: number | undefined;
  diskMBpsReadWrite: number | undefined;
  diskEncryptionSetID: string | undefined;
  networkAccessPolicy: string | undefined;
}

export interface ManagedDisk {
  id: string;
  name: string;
  sizeGB: number;
  skuName: string;
  zones: string[];
  tags: Record<string, string>;
  /** The VM or instance the disk is attached to. */
  managedBy: string | undefined;
  provisioningState: string;
}

function toManagedDisk(disk: Disk): ManagedDisk {
  return {
    id: disk.id ?? '',
    name: disk.name ?? '',
    sizeGB: disk.diskSizeGB ?? 0,
    skuName: disk.sku?.name ?? '',
    zones: disk.zones ?? [],
    tags: disk.tags ?? {},
    managedBy: disk.managedBy || undefined,
    provisioningState: disk.provisioningState ?? 'Unknown',
  };
}

/** undefined when there is no such disk. */
export async function readManagedDisk(
  client: ComputeManagementClient,
  resourceGroup: string,
  name: string,
  signal: AbortSignal,
): Promise<ManagedDisk | undefined> {
  try {
    return toManagedDisk(await client.disks.get(resourceGroup, name, { abortSignal: signal }));
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw error;
  }
}

export async function createManagedDisk(client: ComputeManagementClient, spec: DiskSpec, signal: AbortSignal): Promise<ManagedDisk> {
  const disk: Disk = {
    location: spec.location,
    sku: { name: spec.skuName },
    creationData: { createOption: 'Empty' },
    diskSizeGB: spec.sizeGB,
    tags: spec.tags,
    ...(spec.zones !== undefined && { zones: spec.zones }),
    ...(spec.diskIOPSReadWrite !== undefined && { diskIOPSReadWrite: spec.diskIOPSReadWrite }),
    ...(spec.diskMBpsReadWrite !== undefined && { diskMBpsReadWrite: spec.diskMBpsReadWrite }),
    ...(spec.diskEncryptionSetID !== undefined && { encryption: { diskEncryptionSetId: spec.diskEncryptionSetID } }),
    ...(spec.networkAccessPolicy !== undefined && { networkAccessPolicy: spec.networkAccessPolicy }),
  };
  const created = toManagedDisk(await settle(client.disks.createOrUpdate(spec.resourceGroup, spec.name, disk, { abortSignal: signal }), signal));
  if (created.provisioningState !== 'Succeeded') {
    throw new DriverError(`disk ${spec.name} was created but is in provisioning state ${created.provisioningState}; it is checked again on the next try`);
  }
  return created;
}

export async function resizeManagedDisk(
  client: ComputeManagementClient,
  resourceGroup: string,
  name: string,
  sizeGB: number,
  signal: AbortSignal,
): Promise<ManagedDisk> {
  return toManagedDisk(await settle(client.disks.update(resourceGroup, name, { diskSizeGB: sizeGB }, { abortSignal: signal }), signal));
}

/** Deleting a disk that is already gone succeeds. */
export async function deleteManagedDisk(client: ComputeManagementClient, resourceGroup: string, name: string, signal: AbortSignal): Promise<void> {
  try {
    await client.disks.delete(resourceGroup, name, { abortSignal: signal, updateIntervalInMs: DELETE_POLL_MS });
  } catch (error) {
    if (!isNotFound(error)) throw error;
  }
}
