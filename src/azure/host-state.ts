// Where this host keeps what its Azure calls share, and what a call may learn from it without
// loading the Azure SDK: which machine a node is, and the data disks the last read of it showed.
import type { DataDisk } from '@azure/arm-compute';
import { entryPath } from '../system/entry-path.ts';
import { RecordStore } from '../system/state.ts';
import { findDataDisk } from './data-disks.ts';
import type { Machine, MachineRef } from './machines.ts';
import { VmCache } from './vm-cache.ts';

export interface AzureStateDirs {
  /** The host-wide throttle gate. */
  throttle: string;
  /** VM reads shared by every process (vm-cache.ts). */
  vms: string;
  /** Node name → machine (vm-resolver.ts). */
  nodes: string;
  /** Per node: requests waiting for an update of its machine, and their outcomes (disk-queue.ts). */
  queue: string;
}

export function azureStateDirs(stateDir: string): AzureStateDirs {
  const azure = entryPath(stateDir, 'azure');
  return { throttle: entryPath(azure, 'throttle'), vms: entryPath(azure, 'vms'), nodes: entryPath(azure, 'nodes'), queue: entryPath(azure, 'queue') };
}

/** A node's name as a key for files and locks: ARM names are case-insensitive. */
export function nodeKey(nodeName: string): string {
  return encodeURIComponent(nodeName.toLowerCase());
}

function nodeMachines(dirs: AzureStateDirs): RecordStore<MachineRef> {
  return new RecordStore(dirs.nodes);
}

/** The disk's entry on the node's machine as this host last read it, however long ago; undefined when unknown. */
export function lastSeenEntry(dirs: AzureStateDirs, nodeName: string, diskUri: string): DataDisk | undefined {
  const ref = nodeMachines(dirs).read(nodeName.toLowerCase());
  const machine = ref && new VmCache({ dir: dirs.vms }).lastSeen(ref);
  return machine && findDataDisk(machine.dataDisks, diskUri);
}

/**
 * The node's machine from this host's young cache, as vm-resolver.ts would find it; undefined when
 * the node is not mapped yet or the cache has nothing young enough (then ARM must be asked).
 */
export function cachedMachine(dirs: AzureStateDirs, nodeName: string): Machine | undefined {
  const ref = nodeMachines(dirs).read(nodeName.toLowerCase());
  const machine = ref && new VmCache({ dir: dirs.vms }).peek(ref);
  // An instance answers to its computer name only; a scale-in may have handed the id to another node.
  if (machine === undefined || (machine.ref.kind === 'vmss' && machine.computerName?.toLowerCase() !== nodeName.toLowerCase())) return undefined;
  return machine;
}
