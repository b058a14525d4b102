// The controller side of azuredisk: attach, detach and isattached, which kube-controller-manager
// calls (attach capability true). They talk to Azure Resource Manager with the credentials in
// azure.json; the Azure SDK is loaded only here, on first use, so `init` and the node-side calls
// never pay for it.
//
// detach gets nothing but the PV name and the node name, so attach records which disk each PV is
// (a RecordStore in the state dir), and isattached, which the controller-manager runs every minute
// for every attached volume, rewrites that record when it is missing or differs: a controller-manager
// that moved to another host re-learns within a minute every volume it still tracks. For a PV it no
// longer tracks, detach without a record falls back to the node's VM as ARM reports it:
//   1. a data disk whose Azure disk name is the PV name (the convention for static PVs: name the PV
//      after its disk) is that PV's disk;
//   2. otherwise, when every data disk on the VM belongs to another recorded PV (or there are none),
//      the PV's disk is not on that VM and detach answers Success;
//   3. otherwise it answers Failure naming the unaccounted disks, rather than guessing which one to
//      pull from under a running workload. Running `isattached` with the PV's options on this host
//      restores the record; detaching the disk in Azure also ends the retries.
// (The data disk entry's own `name` cannot carry the PV name: ARM requires it to equal the managed
// disk's name, "Changing property 'dataDisk.name' is not allowed".)
//
// attach and detach queue their request as their first step and leave the Azure work to whichever
// call leads the node's batch (disk-queue.ts); isattached answers from the host's VM cache when it
// is young. Those calls load the Azure SDK only when they have ARM work to do themselves.
import type { CallArgs, DriverCalls } from '../../flexvolume/driver.ts';
import { DriverError, InvalidInput } from '../../flexvolume/errors.ts';
import { parseDriverOptions } from '../../flexvolume/options.ts';
import { success, type Reply } from '../../flexvolume/reply.ts';
import { VERSION } from '../../invocation.ts';
import type { Settings } from '../../settings.ts';
import { entryPath } from '../../system/entry-path.ts';
import { log } from '../../system/log.ts';
import { peerProcesses } from '../../system/processes.ts';
import { RecordStore } from '../../system/state.ts';
import { explainAzureError } from '../../azure/arm-errors.ts';
import type { ArmSession, DiskInfo } from '../../azure/arm-session.ts';
import { findDataDisk, sameDiskId, type CachingMode, type DiskOutcome, type DiskRequest } from '../../azure/data-disks.ts';
import { submitDiskRequest } from '../../azure/disk-queue.ts';
import { azureStateDirs, cachedMachine, lastSeenEntry, nodeKey } from '../../azure/host-state.ts';
import { ThrottleGate } from '../../azure/throttle-gate.ts';
import { parseDiskUri } from '../../azure/disk-uri.ts';
import type { Machine } from '../../azure/machines.ts';
import { azurediskOptions } from './options.ts';

/** Host caching is not supported on disks of 4 TiB and more (azuredisk-csi-driver diskCachingLimit). */
const CACHING_LIMIT_GB = 4096;
/** Far below the controller-manager's patience, far above a slow VM update (30 to 60 s). */
const UPDATE_TIMEOUT_MS = 5 * 60_000;
/** isattached runs every minute per volume; it must not pile up behind itself. */
const ISATTACHED_TIMEOUT_MS = 60_000;
const WATCHDOG_GRACE_MS = 5000;

export interface VolumeRecord {
  diskUri: string;
  diskName: string;
}

/** PV name → disk, as attach and isattached record them on this host (doctor lists them too). */
export function volumeRecords(stateDir: string): RecordStore<VolumeRecord> {
  return new RecordStore<VolumeRecord>(entryPath(stateDir, 'azuredisk', 'volumes'));
}

/** What a call queues: the node and the disk as the caller knows them, nothing read from Azure. */
interface QueuedAttach {
  op: 'attach';
  diskUri: string;
  diskName: string;
  /** As the PV asks; the leader lowers it for disks too large for host caching. */
  caching: CachingMode;
  /** Recorded by the leader once attached, for detach (see the top of this file). */
  volumeName: string;
}
type QueuedDetach = Extract<DiskRequest, { op: 'detach' }>;
type QueuedDiskRequest = QueuedAttach | QueuedDetach;

export type ControllerCalls = Pick<DriverCalls, 'attach' | 'detach' | 'isattached'>;

export interface DetachRequest {
  volumeName: string;
  nodeName: string;
  /**
   * Where the node saw the disk, for node mode: names the disk when this host has no record of
   * it, and the detach goes out only while the disk is still at that LUN.
   */
  lun?: number;
}

export interface ControllerSide {
  calls: ControllerCalls;
  detachVolume(request: DetachRequest): Promise<Reply>;
}

export function createControllerSide(settings: Settings): ControllerSide {
  const volumes = volumeRecords(settings.stateDir);
  const stateDirs = azureStateDirs(settings.stateDir);
  const gate = new ThrottleGate(stateDirs.throttle);

  async function withArm<T>(timeoutMs: number, what: string, work: (arm: ArmSession) => Promise<T>): Promise<T> {
    const { openArmSession } = await import('../../azure/arm-session.ts');
    const arm = await openArmSession({
      credentialFile: settings.azureCredentialFile,
      stateDir: settings.stateDir,
      timeoutMs,
      userAgent: `azure-flexvolume/${VERSION}`,
    });
    // The deadline aborts every request and wait; the watchdog answers even if something
    // ignores the signal, so the controller-manager always gets its reply.
    let watchdog: NodeJS.Timeout | undefined;
    const expired = new Promise<never>((_, reject) => {
      watchdog = setTimeout(() => reject(arm.timedOut(what)), timeoutMs + WATCHDOG_GRACE_MS);
    });
    try {
      return await Promise.race([work(arm), expired]);
    } catch (error) {
      if (arm.signal.aborted && !(error instanceof DriverError)) throw arm.timedOut(what);
      throw explainAzureError(error, arm.credentialDescription);
    } finally {
      clearTimeout(watchdog);
    }
  }

  function remember(volumeName: string, record: VolumeRecord): void {
    if (volumeName === '') return;
    const known = volumes.read(volumeName);
    if (known !== undefined && sameDiskId(known.diskUri, record.diskUri)) return;
    volumes.write(volumeName, record);
  }

  function chooseCaching(requested: CachingMode, disk: DiskInfo): CachingMode {
    if (disk.sizeGB < CACHING_LIMIT_GB || requested === 'None') return requested;
    log(`disk ${disk.name} is ${disk.sizeGB} GiB; Azure supports no host caching from ${CACHING_LIMIT_GB} GiB, so cachingMode None replaces ${requested}`);
    return 'None';
  }

  /**
   * Queues the request as the call's first step and returns its outcome. The call that ends up
   * leading the batch does the Azure work for everyone in it (runNodeBatch); the others load no
   * SDK and wait for their result.
   */
  function submit(nodeName: string, request: QueuedDiskRequest, deadline: number): Promise<DiskOutcome> {
    // While ARM throttles this host the call fails at once, not after a wait in the queue.
    gate.check('read');
    gate.check('write');
    const queue = {
      dir: stateDirs.queue,
      key: nodeKey(nodeName),
      deadline,
      describe: `the VM of node ${nodeName}`,
      arriving: () => peerProcesses((argv) => isDiskChangeFor(argv, nodeName)),
    };
    return submitDiskRequest(request, queue, (requests) => runNodeBatch(nodeName, requests, deadline));
  }

  /** The leader's part: one session, the node's machine, the disks to attach, one update. */
  function runNodeBatch(nodeName: string, requests: QueuedDiskRequest[], deadline: number): Promise<DiskOutcome[]> {
    return withArm(Math.max(deadline - Date.now(), 1000), `updating the data disks of node ${nodeName}`, async (arm) => {
      const machine = await arm.resolveNode(nodeName);
      if (machine === undefined) {
        return requests.map((request): DiskOutcome => (request.op === 'detach' ? { status: 'machine-gone' } : { status: 'failed', message: noMachine(arm, nodeName) }));
      }
      const prepared = await Promise.all(requests.map((request) => (request.op === 'attach' ? prepareAttach(arm, machine, nodeName, request) : request)));
      const toUpdate = prepared.filter(isDiskRequest);
      const updated = toUpdate.length === 0 ? [] : await arm.applyDiskRequests(machine.ref, toUpdate);
      return prepared.map((item, index): DiskOutcome => {
        if (!isDiskRequest(item)) return item;
        const outcome = updated[toUpdate.indexOf(item)] ?? { status: 'failed', message: `the update of node ${nodeName} gave no answer for this disk` };
        const request = requests[index];
        if (request?.op === 'attach' && item.op === 'attach' && outcome.status === 'attached') {
          remember(request.volumeName, { diskUri: item.diskUri, diskName: item.diskName });
        }
        return outcome;
      });
    });
  }

  /** The attach as the update plans it, or the answer when the disk cannot be attached here. */
  async function prepareAttach(arm: ArmSession, machine: Machine, nodeName: string, request: QueuedAttach): Promise<DiskRequest | DiskOutcome> {
    const info = await arm.getDisk(request.diskUri);
    if (info === undefined) {
      return { status: 'failed', message: `disk ${request.diskUri} does not exist (or the credential cannot see it); check the PV's diskURI` };
    }
    if (info.managedBy !== undefined && !sameDiskId(info.managedBy, machine.id)) {
      return {
        status: 'failed',
        message:
          `disk ${info.name} is attached to ${describeOwner(info.managedBy)}, not to node ${nodeName}; ` +
          'it is not detached from there while it may be in use: stop the pod on that node (or detach it in Azure) and the attach is retried',
      };
    }
    return { op: 'attach', diskUri: info.id, diskName: info.name, caching: chooseCaching(request.caching, info), writeAcceleratorEnabled: info.writeAcceleratorEnabled };
  }

  async function attach({ options, nodeName }: CallArgs['attach']): Promise<Reply> {
    const disk = parseDriverOptions(azurediskOptions, options.user);
    checkDiskUri(disk.diskURI);
    const request: QueuedAttach = { op: 'attach', diskUri: disk.diskURI, diskName: disk.diskName, caching: disk.cachingMode, volumeName: options.volumeName };
    const outcome = await submit(nodeName, request, Date.now() + UPDATE_TIMEOUT_MS);
    switch (outcome.status) {
      case 'attached':
        log(`disk ${disk.diskName} is attached to ${nodeName} at LUN ${outcome.lun}`);
        // The LUN as a bare number: what the in-tree azure_dd returned and the node side reads.
        return success({ device: String(outcome.lun) });
      case 'machine-gone':
        throw new DriverError(`the VM of node ${nodeName} disappeared during the attach`);
      case 'failed':
        throw new DriverError(outcome.message);
      case 'detached':
        throw new DriverError(`attach of ${disk.diskName} ended as a detach; this is a driver bug`);
    }
  }

  async function isattached({ options, nodeName }: CallArgs['isattached']): Promise<Reply> {
    const disk = parseDriverOptions(azurediskOptions, options.user);
    checkDiskUri(disk.diskURI);
    const answer = (machine: Machine | undefined): Reply => {
      const entry = machine === undefined ? undefined : findDataDisk(machine.dataDisks, disk.diskURI);
      // An entry marked toBeDetached is on its way out: not attached for the controller-manager.
      const attached = entry !== undefined && entry.toBeDetached !== true;
      if (attached) remember(options.volumeName, { diskUri: entry.managedDisk?.id ?? disk.diskURI, diskName: entry.name ?? disk.diskName });
      return success({ attached });
    };
    // Most calls find the node's machine in the host's cache, and answer without the Azure SDK.
    const cached = cachedMachine(stateDirs, nodeName);
    if (cached !== undefined) return answer(cached);
    return withArm(ISATTACHED_TIMEOUT_MS, `checking ${disk.diskName} on ${nodeName}`, async (arm) => answer(await arm.resolveNode(nodeName)));
  }

  async function detachVolume({ volumeName, nodeName, lun }: DetachRequest): Promise<Reply> {
    const deadline = Date.now() + UPDATE_TIMEOUT_MS;
    const diskUri = volumes.read(volumeName)?.diskUri;
    // What the caller saw: the node's LUN (node mode), else this host's last read of the machine.
    // Without either, the first read of the batch, made after this call began, decides.
    const observed = diskUri === undefined ? undefined : (lun ?? lastSeenEntry(stateDirs, nodeName, diskUri)?.lun);
    const request = diskUri === undefined ? await unrecordedDetach(volumeName, nodeName, lun, deadline) : { op: 'detach' as const, diskUri, lun: observed };
    if (request === undefined) return success({ message: `${volumeName} is not attached to ${nodeName}` });
    const outcome = await submit(nodeName, request, deadline);
    switch (outcome.status) {
      case 'detached':
        log(`${volumeName} (${request.diskUri}) is detached from ${nodeName}`);
        return success();
      case 'machine-gone':
        log(`node ${nodeName} has no VM any more; ${volumeName} counts as detached`);
        return success({ message: `the VM of node ${nodeName} no longer exists` });
      case 'failed':
        throw new DriverError(outcome.message);
      case 'attached':
        throw new DriverError(`detach of ${volumeName} ended as an attach; this is a driver bug`);
    }
  }

  /** A detach of a PV this host has no record of: the disk is found on the machine as ARM shows it now. */
  function unrecordedDetach(volumeName: string, nodeName: string, lun: number | undefined, deadline: number): Promise<QueuedDetach | undefined> {
    return withArm(deadline - Date.now(), `detaching ${volumeName} from ${nodeName}`, async (arm) => {
      const resolved = await arm.resolveNode(nodeName);
      const machine = resolved && (await arm.readMachine(resolved.ref, { fresh: true }));
      if (machine === undefined) return undefined;
      const diskUri = findUnrecordedDisk(machine, volumeName, lun);
      return diskUri === undefined ? undefined : { op: 'detach', diskUri, lun: findDataDisk(machine.dataDisks, diskUri)?.lun };
    });
  }

  /** The fallback described at the top of this file, for a PV this host has no record of. */
  function findUnrecordedDisk(machine: Machine, volumeName: string, lun: number | undefined): string | undefined {
    const dataDisks = machine.dataDisks.filter((entry) => entry.toBeDetached !== true && entry.managedDisk?.id);
    const atLun = lun === undefined ? undefined : dataDisks.find((entry) => entry.lun === lun);
    if (atLun?.managedDisk?.id !== undefined) {
      log(`no record of ${volumeName}; the node saw it at LUN ${lun}, where ${machineName(machine)} has ${atLun.managedDisk.id}`);
      return atLun.managedDisk.id;
    }
    const named = dataDisks.find((entry) => entry.name?.toLowerCase() === volumeName.toLowerCase());
    if (named?.managedDisk?.id !== undefined) {
      log(`no record of ${volumeName}; the data disk named like it is ${named.managedDisk.id}`);
      return named.managedDisk.id;
    }
    const recorded = volumes.keys().flatMap((key) => volumes.read(key)?.diskUri ?? []);
    const unaccounted = dataDisks.filter((entry) => !recorded.some((uri) => sameDiskId(entry.managedDisk?.id, uri)));
    if (unaccounted.length === 0) {
      log(`no record of ${volumeName}, and every data disk of ${machineName(machine)} belongs to another volume: nothing to detach`);
      return undefined;
    }
    throw new DriverError(
      `this host has no record of which disk ${volumeName} is (it was attached from another host?), and ${machineName(machine)} ` +
        `has disks no volume here accounts for: ${unaccounted.map((entry) => entry.name ?? entry.managedDisk?.id).join(', ')}. ` +
        `Run "azuredisk isattached '<options of the PV>' <node>" on this host to restore the record, or detach the disk in Azure`,
    );
  }

  return {
    calls: { attach, isattached, detach: ({ volumeName, nodeName }: CallArgs['detach']) => detachVolume({ volumeName, nodeName }) },
    detachVolume,
  };
}

/** `... attach <options> <node>` or `... detach <volume> <node>`, as the controller-manager runs them. */
function isDiskChangeFor(argv: string[], nodeName: string): boolean {
  const op = argv.at(-3);
  return (op === 'attach' || op === 'detach') && argv.at(-1)?.toLowerCase() === nodeName.toLowerCase();
}

const isDiskRequest = (item: DiskRequest | DiskOutcome): item is DiskRequest => 'op' in item;

function noMachine(arm: ArmSession, nodeName: string): string {
  const { vmType, resourceGroup } = arm.config;
  return vmType === 'vmss'
    ? `no VM or scale-set instance in resource group ${resourceGroup} has the computer name ${nodeName}; check resourceGroup (and primaryScaleSetName) in ${arm.config.file}`
    : `no VM named ${nodeName} in resource group ${resourceGroup}; check resourceGroup and vmType (vmss for scale sets) in ${arm.config.file}`;
}

function machineName(machine: Machine): string {
  return machine.computerName ?? (machine.ref.kind === 'vm' ? machine.ref.name : machine.ref.instanceId);
}

function checkDiskUri(diskUri: string): void {
  try {
    parseDiskUri(diskUri);
  } catch (error) {
    throw new InvalidInput(`option 'diskURI': ${(error as Error).message}`);
  }
}

/** A VM or scale-set instance named for a person, from its resource id. */
function describeOwner(resourceId: string): string {
  const instance = /\/virtualMachineScaleSets\/([^/]+)\/virtualMachines\/([^/]+)$/i.exec(resourceId);
  if (instance) return `instance ${instance[2]} of scale set ${instance[1]} (${resourceId})`;
  return `VM ${resourceId.slice(resourceId.lastIndexOf('/') + 1)} (${resourceId})`;
}
