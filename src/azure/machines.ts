// A node's machine in ARM: a standalone VM (availability set, VMSS Flex) or a uniform scale-set
// instance. Both are read the same way and their data disks are changed the same way; only the
// API differs (VM PUT as cloud-provider-azure does, or the scale-set VM PUT).
import { setTimeout as sleep } from 'node:timers/promises';
import type { ComputeManagementClient, DataDisk, VirtualMachine, VirtualMachineScaleSetVM } from '@azure/arm-compute';
import { isNotFound } from './arm-errors.ts';

export type MachineRef =
  | { kind: 'vm'; resourceGroup: string; name: string }
  | { kind: 'vmss'; resourceGroup: string; scaleSet: string; instanceId: string };

/** What the driver needs of a machine; small enough to cache as JSON. */
export interface Machine {
  ref: MachineRef;
  id: string;
  location: string;
  provisioningState: string;
  computerName: string | undefined;
  dataDisks: DataDisk[];
  /** ARM's version of the model, for conditional writes; undefined when the read carried none. */
  etag: string | undefined;
}

/** Lower-cased: ARM names are case-insensitive, and the key names cache files and locks. */
export function machineKey(ref: MachineRef): string {
  const parts = ref.kind === 'vm' ? [ref.resourceGroup, ref.name] : [ref.resourceGroup, ref.scaleSet, ref.instanceId];
  return parts.join('~').toLowerCase();
}

export function describeMachine(ref: MachineRef): string {
  return ref.kind === 'vm'
    ? `VM '${ref.name}' (resource group ${ref.resourceGroup})`
    : `scale-set instance ${ref.instanceId} of '${ref.scaleSet}' (resource group ${ref.resourceGroup})`;
}

export function machineResourceId(subscriptionId: string, ref: MachineRef): string {
  const base = `/subscriptions/${subscriptionId}/resourceGroups/${ref.resourceGroup}/providers/Microsoft.Compute`;
  return ref.kind === 'vm'
    ? `${base}/virtualMachines/${ref.name}`
    : `${base}/virtualMachineScaleSets/${ref.scaleSet}/virtualMachines/${ref.instanceId}`;
}

function toMachine(ref: MachineRef, vm: VirtualMachine | VirtualMachineScaleSetVM): Machine {
  return {
    ref,
    id: vm.id ?? '',
    location: vm.location,
    provisioningState: vm.provisioningState ?? 'Unknown',
    computerName: vm.osProfile?.computerName,
    dataDisks: vm.storageProfile?.dataDisks ?? [],
    etag: vm.etag || undefined,
  };
}

/** undefined when the VM or instance does not exist (deleted, or a wrong name). */
export async function fetchMachine(client: ComputeManagementClient, ref: MachineRef, signal: AbortSignal): Promise<Machine | undefined> {
  try {
    const vm =
      ref.kind === 'vm'
        ? await client.virtualMachines.get(ref.resourceGroup, ref.name, { abortSignal: signal })
        : await client.virtualMachineScaleSetVMs.get(ref.resourceGroup, ref.scaleSet, ref.instanceId, { abortSignal: signal });
    return toMachine(ref, vm);
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw error;
  }
}

/** The standalone VMs of a resource group, with their data disks and etags. */
export async function listResourceGroupMachines(client: ComputeManagementClient, resourceGroup: string, signal: AbortSignal): Promise<Machine[]> {
  const machines: Machine[] = [];
  for await (const vm of client.virtualMachines.list(resourceGroup, { abortSignal: signal })) {
    machines.push(toMachine({ kind: 'vm', resourceGroup, name: vm.name ?? '' }, vm));
  }
  return machines;
}

export async function listScaleSetMachines(
  client: ComputeManagementClient,
  resourceGroup: string,
  scaleSet: string,
  signal: AbortSignal,
): Promise<Machine[]> {
  const machines: Machine[] = [];
  for await (const vm of client.virtualMachineScaleSetVMs.list(resourceGroup, scaleSet, { abortSignal: signal })) {
    machines.push(toMachine({ kind: 'vmss', resourceGroup, scaleSet, instanceId: vm.instanceId ?? '' }, vm));
  }
  return machines;
}

/** A change of a machine's data disks, planned from a read of it (see planDataDisks). */
export interface DataDiskChange {
  /** The complete list to write. */
  dataDisks: DataDisk[];
  /** The entries the plan added, and the disks whose entries it marked toBeDetached or removed. */
  attach: DataDisk[];
  detach: string[];
}

/**
 * Writes a change planned from `machine` and returns the machine as ARM reports it once the
 * operation is done. The whole list is written only if the model is still the one the plan was
 * made from (If-Match with the read's etag; a stale one is 412, and the caller reads and plans
 * again), so an entry another writer added or removed meanwhile is never dropped or brought back.
 */
export async function updateDataDisks(client: ComputeManagementClient, machine: Machine, change: DataDiskChange, signal: AbortSignal): Promise<Machine> {
  if (machine.etag === undefined) return attachDetachDataDisks(client, machine, change, signal);
  const { ref, location } = machine;
  const body = { location, storageProfile: { dataDisks: change.dataDisks } };
  const options = { abortSignal: signal, ifMatch: machine.etag };
  const poller =
    ref.kind === 'vmss'
      ? client.virtualMachineScaleSetVMs.update(ref.resourceGroup, ref.scaleSet, ref.instanceId, body, options)
      : client.virtualMachines.createOrUpdate(ref.resourceGroup, ref.name, body, options);
  return toMachine(ref, await settle(poller, signal));
}

/**
 * Without an etag no write of the whole list can be made conditional, so the change goes out as
 * attachDetachDataDisks, which names only the disks it attaches (at the LUNs planned) and
 * detaches: ARM leaves every other entry as it is, whoever wrote it.
 */
async function attachDetachDataDisks(client: ComputeManagementClient, machine: Machine, change: DataDiskChange, signal: AbortSignal): Promise<Machine> {
  const { ref } = machine;
  const request = {
    dataDisksToAttach: change.attach.map((disk) => ({
      diskId: disk.managedDisk?.id ?? '',
      lun: disk.lun,
      caching: disk.caching,
      ...(disk.writeAcceleratorEnabled === true && { writeAcceleratorEnabled: true }),
    })),
    dataDisksToDetach: change.detach.map((diskId) => ({ diskId })),
  };
  const options = { abortSignal: signal };
  const poller =
    ref.kind === 'vmss'
      ? client.virtualMachineScaleSetVMs.attachDetachDataDisks(ref.resourceGroup, ref.scaleSet, ref.instanceId, request, options)
      : client.virtualMachines.attachDetachDataDisks(ref.resourceGroup, ref.name, request, options);
  const storageProfile = await settle(poller, signal);
  return { ...machine, dataDisks: storageProfile.dataDisks ?? [], etag: undefined };
}

/** An empty update, which is how a VM in Failed state is repaired; it names no data disk. */
export async function repairMachine(client: ComputeManagementClient, machine: Machine, signal: AbortSignal): Promise<Machine> {
  const { ref, location } = machine;
  const options = { abortSignal: signal };
  const poller =
    ref.kind === 'vmss'
      ? client.virtualMachineScaleSetVMs.update(ref.resourceGroup, ref.scaleSet, ref.instanceId, { location }, options)
      : client.virtualMachines.update(ref.resourceGroup, ref.name, {}, options);
  return toMachine(ref, await settle(poller, signal));
}

interface Poller<T> {
  submitted(): Promise<void>;
  readonly isDone: boolean;
  readonly result?: T;
  poll(options?: { abortSignal?: AbortSignal }): Promise<unknown>;
}

const MIN_POLL_MS = 100;
const MAX_POLL_MS = 2000;

/**
 * Polls a long-running operation to its end, each wait a quarter of the time spent so far: a
 * quick update is noticed within 25 % of its duration, and a 10 to 60 s VM update settles at a
 * poll every 2 s, a pace ARM's read quota easily affords.
 */
export async function settle<T>(poller: Poller<T>, signal: AbortSignal): Promise<T> {
  const started = Date.now();
  await poller.submitted();
  while (!poller.isDone) {
    await sleep(Math.min(Math.max((Date.now() - started) / 4, MIN_POLL_MS), MAX_POLL_MS), undefined, { signal });
    await poller.poll({ abortSignal: signal });
  }
  // A failed operation throws from poll(); one that failed at once throws here.
  await poller.poll({ abortSignal: signal });
  if (poller.result === undefined) throw new Error('the long-running operation ended without a result');
  return poller.result;
}
