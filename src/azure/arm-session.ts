// One call's connection to Azure Resource Manager: azure.json, the credential, the Compute client,
// and the host-wide state every call shares (throttle gate, VM cache, node → VM map, update
// queues). Importing this module loads the Azure SDK, so only the azuredisk controller calls do.
import { setTimeout as sleep } from 'node:timers/promises';
import type { ComputeManagementClient } from '@azure/arm-compute';
import { DriverError, describeError } from '../flexvolume/errors.ts';
import { log } from '../system/log.ts';
import { armFailure, isFailedOperation, isNotFound, isPreconditionFailed, isPreempted, isRetryableConflict } from './arm-errors.ts';
import { armEndpoints, readCloudConfig, type ArmEndpoints, type CloudConfig } from './cloud-config.ts';
import { createComputeClient } from './compute-client.ts';
import { createCredential, type ArmCredential } from './credentials.ts';
import { outcomesAfterUpdate, pinObservedLuns, planDataDisks, type DiskOutcome, type DiskRequest } from './data-disks.ts';
import { parseDiskUri } from './disk-uri.ts';
import { azureStateDirs } from './host-state.ts';
import {
  describeMachine,
  fetchMachine,
  listResourceGroupMachines,
  listScaleSetMachines,
  machineResourceId,
  repairMachine,
  updateDataDisks,
  type DataDiskChange,
  type Machine,
  type MachineRef,
} from './machines.ts';
import { routeSdkLog } from './sdk-log.ts';
import { ThrottleGate } from './throttle-gate.ts';
import { VmCache } from './vm-cache.ts';
import { VmResolver } from './vm-resolver.ts';

routeSdkLog();

export interface ArmSessionOptions {
  credentialFile: string;
  stateDir: string;
  /** The whole call's budget; every ARM request and every wait ends by then. */
  timeoutMs: number;
  userAgent: string;
}

export interface DiskInfo {
  id: string;
  name: string;
  sizeGB: number;
  /** The resource id of the VM or instance the disk is attached to. */
  managedBy: string | undefined;
  /** The disk tag cloud-provider-azure honours: `writeacceleratorenabled=true`. */
  writeAcceleratorEnabled: boolean;
}

/** How many times a 409 "concurrent request" is met with a fresh read and another update. */
const CONFLICT_RETRIES = 3;
/**
 * How many times a 412 (another writer changed the machine between our read and our write) is
 * met with a fresh read and a new plan. Each is a real change by someone else, so a few suffice
 * unless the machine is being rewritten in a loop, which is better reported than outrun.
 */
const PRECONDITION_RETRIES = 5;

export async function openArmSession(options: ArmSessionOptions): Promise<ArmSession> {
  const config = readCloudConfig(options.credentialFile);
  const endpoints = armEndpoints(config);
  const credential = await createCredential(config, endpoints);
  return new ArmSession(options, config, endpoints, credential);
}

export class ArmSession {
  readonly config: CloudConfig;
  readonly endpoints: ArmEndpoints;
  readonly signal: AbortSignal;
  private readonly options: ArmSessionOptions;
  private readonly credential: ArmCredential;
  private readonly gate: ThrottleGate;
  private readonly clients = new Map<string, ComputeManagementClient>();
  private readonly cache: VmCache;
  private readonly resolver: VmResolver;

  constructor(options: ArmSessionOptions, config: CloudConfig, endpoints: ArmEndpoints, credential: ArmCredential) {
    this.options = options;
    this.config = config;
    this.endpoints = endpoints;
    this.credential = credential;
    this.signal = AbortSignal.timeout(options.timeoutMs);
    const dirs = azureStateDirs(options.stateDir);
    this.gate = new ThrottleGate(dirs.throttle);
    this.cache = new VmCache({ dir: dirs.vms, lockTimeoutMs: options.timeoutMs });
    this.resolver = new VmResolver({
      dir: dirs.nodes,
      config: { vmType: config.vmType, resourceGroup: config.resourceGroup, primaryScaleSetName: config.primaryScaleSetName },
      reader: {
        get: (ref) => this.readMachine(ref),
        listScaleSet: (resourceGroup, scaleSet) => this.listScaleSet(resourceGroup, scaleSet),
      },
    });
  }

  /** Disks may live in another subscription than the VMs; each gets its own client. */
  private client(subscriptionId = this.config.subscriptionId): ComputeManagementClient {
    const key = subscriptionId.toLowerCase();
    let client = this.clients.get(key);
    if (client === undefined) {
      client = createComputeClient({
        credential: this.credential.credential,
        subscriptionId,
        endpoints: this.endpoints,
        gate: this.gate,
        userAgent: this.options.userAgent,
      });
      this.clients.set(key, client);
    }
    return client;
  }

  /** What to say once the call's budget is spent: the operation may still complete in Azure. */
  timedOut(what: string): DriverError {
    return new DriverError(
      `${what} did not finish within ${Math.round(this.options.timeoutMs / 1000)} s; Azure may still complete it, and Kubernetes retries this call`,
    );
  }

  /** For messages: which credential from which file. */
  get credentialDescription(): string {
    return `${this.credential.kind} from ${this.config.file}`;
  }

  machineId(ref: MachineRef): string {
    return machineResourceId(this.config.subscriptionId, ref);
  }

  /** undefined when the disk does not exist. */
  async getDisk(diskUri: string): Promise<DiskInfo | undefined> {
    const uri = parseDiskUri(diskUri);
    try {
      const disk = await this.client(uri.subscriptionId).disks.get(uri.resourceGroup, uri.name, { abortSignal: this.signal });
      return {
        id: disk.id ?? diskUri,
        name: disk.name ?? uri.name,
        sizeGB: disk.diskSizeGB ?? 0,
        managedBy: disk.managedBy || undefined,
        writeAcceleratorEnabled: disk.tags?.['writeacceleratorenabled']?.toLowerCase() === 'true',
      };
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  /** The node's VM or scale-set instance; undefined when none answers to the name. */
  resolveNode(nodeName: string): Promise<Machine | undefined> {
    return this.resolver.resolve(nodeName);
  }

  /**
   * The machine, from the host's cache when it is young (filled by a list of the machine's group,
   * shared by every process); `fresh` reads the machine from ARM in any case.
   */
  readMachine(ref: MachineRef, options: { fresh?: boolean } = {}): Promise<Machine | undefined> {
    const read = () => fetchMachine(this.client(), ref, this.signal);
    if (options.fresh) return this.cache.refresh(ref, read);
    const list = ref.kind === 'vm' ? () => this.listResourceGroup(ref.resourceGroup) : () => this.listScaleSet(ref.resourceGroup, ref.scaleSet);
    return this.cache.get(ref, read, list);
  }

  private listResourceGroup(resourceGroup: string): Promise<Machine[]> {
    return emptyIfNotFound(listResourceGroupMachines(this.client(), resourceGroup, this.signal));
  }

  private listScaleSet(resourceGroup: string, scaleSet: string): Promise<Machine[]> {
    return emptyIfNotFound(listScaleSetMachines(this.client(), resourceGroup, scaleSet, this.signal));
  }

  /**
   * One update of the machine for a batch of requests (the leader's part of disk-queue.ts): a
   * fresh read, a plan, a conditional write; a 412 or a retryable conflict reads and plans again.
   */
  applyDiskRequests(ref: MachineRef, requests: DiskRequest[]): Promise<DiskOutcome[]> {
    // The gate may have closed while the batch waited for company.
    this.gate.check('write');
    return this.updateBatch(ref, requests);
  }

  private async updateBatch(ref: MachineRef, batch: DiskRequest[]): Promise<DiskOutcome[]> {
    const name = describeMachine(ref);
    const outcomes: (DiskOutcome | undefined)[] = batch.map(() => undefined);
    // Planned from a fresh read, never the cache: whatever another writer (another host, an
    // operator, the portal) changed is in the list we write back.
    let machine = await this.readMachine(ref, { fresh: true });
    // A detach whose caller saw nothing is held, from here on, to where this read shows the disk.
    const requests = pinObservedLuns(batch, machine?.dataDisks ?? []);
    let repaired = false;
    let conflicts = 0;
    let preconditions = 0;
    for (;;) {
      if (machine === undefined) return requests.map(() => ({ status: 'machine-gone' }));
      if (machine.provisioningState.toLowerCase() === 'failed' && !repaired) {
        repaired = true;
        machine = await this.repair(machine);
        continue;
      }
      const open = requests.map((request, index) => ({ request, index })).filter(({ index }) => outcomes[index] === undefined);
      const openRequests = open.map(({ request }) => request);
      const plan = planDataDisks(machine.dataDisks, openRequests, { removeOnDetach: this.endpoints.isAzureStack, machineName: name });
      try {
        const result = plan.changed ? await this.update(machine, plan) : machine;
        const decided = outcomesAfterUpdate(result.dataDisks, openRequests, plan, name);
        open.forEach(({ index }, position) => (outcomes[index] = decided[position]));
        return settled(outcomes, name);
      } catch (error) {
        this.cache.invalidate(ref);
        if (this.signal.aborted) throw this.timedOut(`the update of ${name}`);
        if (isPreconditionFailed(error) && preconditions < PRECONDITION_RETRIES) {
          preconditions++;
          log(`${name} changed since it was read (412, another writer); reading it again and planning anew, try ${preconditions + 1}`);
          machine = await this.readMachine(ref, { fresh: true });
          continue;
        }
        if ((isPreempted(error) || isFailedOperation(error)) && !repaired) {
          log(`update of ${name} failed (${describeError(error)}); repairing the VM with an empty update and trying once more`);
          repaired = true;
          machine = await this.repair(await this.readMachine(ref, { fresh: true }));
          continue;
        }
        if (isRetryableConflict(error) && conflicts < CONFLICT_RETRIES) {
          conflicts++;
          log(`update of ${name} conflicted (${describeError(error)}); reading it again, try ${conflicts + 1}`);
          await sleep(500 * 2 ** (conflicts - 1), undefined, { signal: this.signal });
          machine = await this.readMachine(ref, { fresh: true });
          continue;
        }
        if (isNotFound(error) && (await this.readMachine(ref, { fresh: true })) === undefined) {
          return requests.map(() => ({ status: 'machine-gone' }));
        }
        // An error that names some of the disks (owned by another VM, deleted meanwhile) fails
        // those alone; the rest of the batch goes out again without them.
        const message = refusal(name, error);
        const culprits = open.filter(({ request }) => mentions(armFailure(error).message, request));
        if (culprits.length === 0 || culprits.length === open.length) {
          for (const { index } of open) outcomes[index] = { status: 'failed', message };
          return settled(outcomes, name);
        }
        for (const { index } of culprits) outcomes[index] = { status: 'failed', message };
        machine = await this.readMachine(ref, { fresh: true });
      }
    }
  }

  private async update(machine: Machine, change: DataDiskChange): Promise<Machine> {
    const started = Date.now();
    const result = await updateDataDisks(this.client(), machine, change, this.signal);
    this.cache.remember(result);
    log(`updated ${describeMachine(machine.ref)} in ${Date.now() - started} ms: LUNs ${describeLuns(result)}`);
    return result;
  }

  /** An empty update brings a VM out of Failed state (known-issues §18, azuredisk-csi-driver #780). */
  private async repair(machine: Machine | undefined): Promise<Machine | undefined> {
    if (machine === undefined) return undefined;
    log(`${describeMachine(machine.ref)} is in provisioning state ${machine.provisioningState}; sending an empty update to repair it`);
    try {
      const repaired = await repairMachine(this.client(), machine, this.signal);
      this.cache.remember(repaired);
      return repaired;
    } catch (error) {
      this.cache.invalidate(machine.ref);
      throw new DriverError(`${describeMachine(machine.ref)} is in a failed state and an empty update did not repair it: ${describeError(error)}`);
    }
  }
}

/** A group (resource group, scale set) that does not exist lists no machines. */
async function emptyIfNotFound(listing: Promise<Machine[]>): Promise<Machine[]> {
  try {
    return await listing;
  } catch (error) {
    if (isNotFound(error)) return [];
    throw error;
  }
}

function settled(outcomes: (DiskOutcome | undefined)[], machineName: string): DiskOutcome[] {
  return outcomes.map((outcome) => outcome ?? { status: 'failed', message: `the update of ${machineName} gave no answer for this disk` });
}

function describeLuns(machine: Machine): string {
  const luns = machine.dataDisks.map((disk) => `${disk.lun}=${disk.name ?? '?'}${disk.toBeDetached ? '(detaching)' : ''}`);
  return luns.length === 0 ? 'none' : luns.join(' ');
}

function mentions(message: string, request: DiskRequest): boolean {
  const text = message.toLowerCase();
  const name = request.diskUri.slice(request.diskUri.lastIndexOf('/') + 1).toLowerCase();
  return text.includes(request.diskUri.toLowerCase()) || new RegExp(`'${escapeRegExp(name)}'`).test(text);
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function refusal(machineName: string, error: unknown): string {
  const { status, code, message } = armFailure(error);
  if (error instanceof DriverError) return message;
  const what = [status, code].filter((part) => part !== undefined).join(' ');
  return `Azure refused the update of ${machineName}${what ? ` (${what})` : ''}: ${message}`;
}
