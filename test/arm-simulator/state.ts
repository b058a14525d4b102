// The simulated subscription: managed disks, VMs, scale-set instances and the long-running
// operations that change their data disks. Changes land when an operation completes, which is
// decided lazily (`settle`) from the clock, so no timers outlive a test.
import { randomUUID } from 'node:crypto';
import {
  ArmError,
  type ArmDataDisk,
  type ArmDisk,
  type ArmScaleSetVM,
  type ArmStorageProfile,
  type ArmVirtualMachine,
  type ProvisioningState,
} from './model.ts';

const HIGHEST_LUN = 63;
const VM_SIZE = 'Standard_D4s_v3';
const DEFAULT_DISK_SKU = 'StandardSSD_LRS';

export interface StateConfig {
  subscriptionId: string;
  resourceGroup: string;
  location: string;
  updateLatencyMs: number;
  rejectConcurrentWrites: boolean;
  maxDataDisks: number;
}

export interface Disk {
  id: string;
  name: string;
  sizeGB: number;
  sku: string;
  managedBy: string | undefined;
  /** An attach in flight claims the disk before `managedBy` shows it, as ARM does. */
  reservedBy: string | undefined;
}

export interface Machine {
  id: string;
  name: string;
  resourceGroup: string;
  computerName: string;
  vmId: string;
  scaleSet: { name: string; instanceId: string } | undefined;
  dataDisks: ArmDataDisk[];
  failed: boolean;
  inFlight: Operation[];
  /** ARM's optimistic-concurrency token: a new one on every change of the model. */
  etag: string;
  /** Test hooks run once each when the next write of this machine arrives (see `beforeNextWrite`). */
  writeHooks: Array<() => void>;
}

interface DataDiskPlan {
  /** The list as the caller asked for it, `toBeDetached` entries included. */
  desired: ArmDataDisk[];
  attaching: Disk[];
  /** Lower-cased ids of disks leaving the VM. */
  detaching: Set<string>;
}

export interface OperationError {
  code: string;
  message: string;
}

export interface Operation {
  id: string;
  machine: Machine;
  startTime: Date;
  completesAt: number;
  status: 'InProgress' | 'Succeeded' | 'Failed';
  endTime: Date | undefined;
  plan: DataDiskPlan | undefined;
  /** Set by a `failOperation` fault: the operation ends Failed and leaves the VM Failed. */
  failure: OperationError | undefined;
  /** What the operation's Location URL answers once done. */
  result: 'machine' | 'storageProfile';
}

export type LocalInstance = { vmName: string } | { vmss: string; instanceId: string };

/** A dataDisks entry as a client sends it. */
interface DataDiskRequest {
  lun: number;
  name: string;
  createOption: string;
  caching?: string;
  managedDisk: { id: string };
  toBeDetached: boolean;
  detachOption?: string;
}

interface ParsedDataDisk {
  lun: number;
  diskId: string;
  name: string | undefined;
  createOption: string | undefined;
  caching: string | undefined;
  toBeDetached: boolean;
  detachOption: string | undefined;
}

export class SimulatorState {
  readonly config: StateConfig;
  private readonly disks = new Map<string, Disk>();
  private readonly machines = new Map<string, Machine>();
  /** Lower-cased `<resource group>/<name>` to the name as created. */
  private readonly scaleSets = new Map<string, string>();
  private readonly operations = new Map<string, Operation>();
  private localMachine: Machine | undefined;

  constructor(config: StateConfig) {
    this.config = config;
  }

  resourceId(resourceGroup: string, type: string, name: string): string {
    return `/subscriptions/${this.config.subscriptionId}/resourceGroups/${resourceGroup}/providers/Microsoft.Compute/${type}/${name}`;
  }

  addDisk(spec: { name: string; sizeGB: number; resourceGroup?: string; sku?: string }): string {
    const id = this.resourceId(spec.resourceGroup ?? this.config.resourceGroup, 'disks', spec.name);
    if (this.disks.has(key(id))) throw new Error(`disk ${id} already exists`);
    this.disks.set(key(id), {
      id,
      name: spec.name,
      sizeGB: spec.sizeGB,
      sku: spec.sku ?? DEFAULT_DISK_SKU,
      managedBy: undefined,
      reservedBy: undefined,
    });
    return id;
  }

  addVM(spec: { name: string; computerName?: string; resourceGroup?: string }): string {
    const resourceGroup = spec.resourceGroup ?? this.config.resourceGroup;
    const id = this.resourceId(resourceGroup, 'virtualMachines', spec.name);
    this.addMachine({ id, name: spec.name, resourceGroup, computerName: spec.computerName ?? spec.name, scaleSet: undefined });
    return id;
  }

  /** Returns the instances' resource ids, in the order of `instanceIds`. */
  addScaleSet(spec: { name: string; computerNamePrefix: string; instanceIds: Array<string | number>; resourceGroup?: string }): string[] {
    const resourceGroup = spec.resourceGroup ?? this.config.resourceGroup;
    const scaleSetKey = key(`${resourceGroup}/${spec.name}`);
    if (this.scaleSets.has(scaleSetKey)) throw new Error(`scale set ${spec.name} already exists`);
    this.scaleSets.set(scaleSetKey, spec.name);
    return spec.instanceIds.map((raw) => {
      const instanceId = String(raw);
      const id = this.resourceId(resourceGroup, 'virtualMachineScaleSets', `${spec.name}/virtualMachines/${instanceId}`);
      this.addMachine({
        id,
        name: `${spec.name}_${instanceId}`,
        resourceGroup,
        computerName: scaleSetComputerName(spec.computerNamePrefix, instanceId),
        scaleSet: { name: spec.name, instanceId },
      });
      return id;
    });
  }

  private addMachine(spec: Pick<Machine, 'id' | 'name' | 'resourceGroup' | 'computerName' | 'scaleSet'>): void {
    if (this.machines.has(key(spec.id))) throw new Error(`${spec.id} already exists`);
    this.machines.set(key(spec.id), {
      ...spec,
      vmId: randomUUID(),
      dataDisks: [],
      failed: false,
      inFlight: [],
      etag: nextEtag(),
      writeHooks: [],
    });
  }

  getVM(name: string): ArmVirtualMachine | undefined {
    this.settle();
    const machine = [...this.machines.values()].find((m) => m.scaleSet === undefined && sameId(m.name, name));
    return machine && this.vmView(machine);
  }

  getScaleSetVM(vmss: string, instanceId: string | number): ArmScaleSetVM | undefined {
    this.settle();
    const machine = [...this.machines.values()].find(
      (m) => m.scaleSet !== undefined && sameId(m.scaleSet.name, vmss) && m.scaleSet.instanceId === String(instanceId),
    );
    return machine && this.scaleSetVmView(machine);
  }

  getDisk(name: string): ArmDisk | undefined {
    this.settle();
    const disk = [...this.disks.values()].find((d) => sameId(d.name, name));
    return disk && this.diskView(disk);
  }

  /** Puts a disk on a VM without an ARM call, e.g. to make it "owned by another VM". */
  attachDirectly(vmNameOrId: string, diskName: string, lun: number): void {
    this.settle();
    const machine = this.machineByNameOrId(vmNameOrId);
    const disk = [...this.disks.values()].find((d) => sameId(d.name, diskName));
    if (!disk) throw new Error(`no disk named ${diskName}`);
    if (disk.managedBy !== undefined) throw new Error(`disk ${diskName} is already attached to ${disk.managedBy}`);
    if (machine.dataDisks.some((d) => d.lun === lun)) throw new Error(`LUN ${lun} is taken on ${machine.name}`);
    machine.dataDisks.push(dataDiskEntry(disk, { lun, diskId: disk.id, name: undefined, createOption: undefined, caching: undefined }));
    disk.managedBy = machine.id;
    machine.etag = nextEtag();
  }

  /** Takes a disk off a VM without an ARM call: another writer's detach. */
  detachDirectly(vmNameOrId: string, diskName: string): void {
    this.settle();
    const machine = this.machineByNameOrId(vmNameOrId);
    const entry = machine.dataDisks.find((d) => sameId(lastSegment(d.managedDisk.id), diskName));
    if (!entry) throw new Error(`disk ${diskName} is not attached to ${machine.name}`);
    machine.dataDisks = machine.dataDisks.filter((d) => d !== entry);
    const disk = this.disks.get(key(entry.managedDisk.id));
    if (disk && sameId(disk.managedBy, machine.id)) disk.managedBy = undefined;
    machine.etag = nextEtag();
  }

  setProvisioningState(vmNameOrId: string, state: 'Succeeded' | 'Failed'): void {
    this.settle();
    const machine = this.machineByNameOrId(vmNameOrId);
    machine.failed = state === 'Failed';
    machine.etag = nextEtag();
  }

  /**
   * Runs `hook` once, when the next write of the machine arrives and before ARM looks at it: the
   * moment another writer's change lands between a client's read and its write.
   */
  beforeNextWrite(vmNameOrId: string, hook: () => void): void {
    this.machineByNameOrId(vmNameOrId).writeHooks.push(hook);
  }

  /** The hooks `beforeNextWrite` left for this machine, each run once. */
  runWriteHooks(machine: Machine): void {
    const hooks = machine.writeHooks.splice(0);
    for (const hook of hooks) hook();
  }

  /**
   * ARM's conditional writes: `If-Match` names the etag the client last read (or `*`: any existing
   * resource), `If-None-Match: *` asks for creation only. Either unmet is 412 PreconditionFailed.
   */
  checkPreconditions(machine: Machine, ifMatch: string | undefined, ifNoneMatch: string | undefined): void {
    this.settle();
    if (ifNoneMatch !== undefined && ifNoneMatch.trim() === '*') {
      throw new ArmError(412, 'PreconditionFailed', `The resource '${machine.name}' already exists; the request's If-None-Match condition '*' is not met.`);
    }
    if (ifMatch === undefined || ifMatch.trim() === '*') return;
    if (ifMatch.trim() !== machine.etag) {
      throw new ArmError(
        412,
        'PreconditionFailed',
        `Etag provided in if-match header ${ifMatch.trim()} does not match etag ${machine.etag} of resource ${machine.id} in NRP data store.`,
      );
    }
  }

  setLocalInstance(instance: LocalInstance): void {
    this.localMachine =
      'vmName' in instance
        ? this.machineByNameOrId(instance.vmName)
        : this.findScaleSetMachine(this.config.resourceGroup, instance.vmss, String(instance.instanceId));
    if (!this.localMachine) throw new Error(`no such scale-set instance ${JSON.stringify(instance)}`);
  }

  private machineByNameOrId(nameOrId: string): Machine {
    const machine = nameOrId.startsWith('/')
      ? this.machines.get(key(nameOrId))
      : [...this.machines.values()].find((m) => sameId(m.name, nameOrId));
    if (!machine) throw new Error(`no VM or scale-set instance ${nameOrId}`);
    return machine;
  }

  // ---- lookups for the ARM routes (404s worded like ARM) ----

  disk(resourceGroup: string, name: string): ArmDisk {
    const disk = this.disks.get(key(this.resourceId(resourceGroup, 'disks', name)));
    if (!disk) throw notFound(resourceGroup, `disks/${name}`);
    return this.diskView(disk);
  }

  vm(resourceGroup: string, name: string): Machine {
    const machine = this.machines.get(key(this.resourceId(resourceGroup, 'virtualMachines', name)));
    if (!machine) throw notFound(resourceGroup, `virtualMachines/${name}`);
    return machine;
  }

  scaleSetVM(resourceGroup: string, vmss: string, instanceId: string): Machine {
    this.scaleSetName(resourceGroup, vmss);
    const machine = this.findScaleSetMachine(resourceGroup, vmss, instanceId);
    if (!machine) throw new ArmError(404, 'NotFound', 'The entity was not found in this Azure location.');
    return machine;
  }

  /** The standalone VMs of a resource group, by name (an empty group lists nothing, as ARM does). */
  resourceGroupVMs(resourceGroup: string): ArmVirtualMachine[] {
    return [...this.machines.values()]
      .filter((m) => m.scaleSet === undefined && sameId(m.resourceGroup, resourceGroup))
      .sort((a, b) => a.name.localeCompare(b.name))
      .map((m) => this.vmView(m));
  }

  scaleSetVMs(resourceGroup: string, vmss: string): ArmScaleSetVM[] {
    const scaleSetName = this.scaleSetName(resourceGroup, vmss);
    return [...this.machines.values()]
      .filter((m) => m.scaleSet !== undefined && sameId(m.resourceGroup, resourceGroup) && sameId(m.scaleSet.name, scaleSetName))
      .sort((a, b) => Number(a.scaleSet?.instanceId) - Number(b.scaleSet?.instanceId))
      .map((m) => this.scaleSetVmView(m));
  }

  private scaleSetName(resourceGroup: string, name: string): string {
    const scaleSetName = this.scaleSets.get(key(`${resourceGroup}/${name}`));
    if (scaleSetName === undefined) throw notFound(resourceGroup, `virtualMachineScaleSets/${name}`);
    return scaleSetName;
  }

  private findScaleSetMachine(resourceGroup: string, vmss: string, instanceId: string): Machine | undefined {
    return this.machines.get(key(this.resourceId(resourceGroup, 'virtualMachineScaleSets', `${vmss}/virtualMachines/${instanceId}`)));
  }

  operation(id: string): Operation | undefined {
    return this.operations.get(id);
  }

  instanceMetadata(): Record<string, unknown> {
    const machine = this.localMachine;
    if (!machine) throw new ArmError(404, 'NotFound', 'no local instance: call sim.setLocalInstance() first');
    return {
      azEnvironment: 'AzurePublicCloud',
      location: this.config.location,
      name: machine.name,
      osType: 'Linux',
      osProfile: { computerName: machine.computerName, adminUsername: 'azureuser' },
      resourceGroupName: machine.resourceGroup,
      resourceId: machine.id,
      subscriptionId: this.config.subscriptionId,
      vmId: machine.vmId,
      vmScaleSetName: machine.scaleSet?.name ?? '',
      vmSize: VM_SIZE,
      zone: '',
    };
  }

  // ---- writes ----

  /**
   * Starts an update of the machine. `requestedDataDisks` undefined means the body left the data
   * disks alone (an "empty update", which is how callers repair a Failed VM).
   */
  beginUpdate(
    machine: Machine,
    requestedDataDisks: unknown[] | undefined,
    result: Operation['result'],
  ): Operation {
    this.settle();
    if (this.config.rejectConcurrentWrites && machine.inFlight.length > 0) {
      throw new ArmError(
        409,
        'Conflict',
        'The request failed due to conflict with a concurrent request. To resolve it, please refer to https://aka.ms/activitylog to get more details on the conflicting requests.',
      );
    }
    const plan = requestedDataDisks === undefined ? undefined : this.planDataDisks(machine, requestedDataDisks);
    for (const disk of plan?.attaching ?? []) disk.reservedBy = machine.id;
    const now = Date.now();
    const operation: Operation = {
      id: randomUUID(),
      machine,
      startTime: new Date(now),
      completesAt: now + this.config.updateLatencyMs,
      status: 'InProgress',
      endTime: undefined,
      plan,
      failure: undefined,
      result,
    };
    machine.inFlight.push(operation);
    machine.etag = nextEtag();
    this.operations.set(operation.id, operation);
    return operation;
  }

  /** Turns an attachDetachDataDisks body into the full dataDisks list a PUT would carry. */
  attachDetachAsDataDisks(machine: Machine, body: Record<string, unknown>): unknown[] {
    const disks: DataDiskRequest[] = structuredClone(machine.dataDisks);
    for (const request of arrayField(body, 'dataDisksToDetach')) {
      const diskId = requiredString(request, 'diskId', 'dataDisksToDetach');
      const entry = disks.find((d) => sameId(d.managedDisk.id, diskId));
      if (!entry) continue;
      entry.toBeDetached = true;
      entry.detachOption = optionalString(request['detachOption']);
    }
    for (const request of arrayField(body, 'dataDisksToAttach')) {
      const diskId = requiredString(request, 'diskId', 'dataDisksToAttach');
      if (disks.some((d) => sameId(d.managedDisk.id, diskId) && !d.toBeDetached)) continue;
      disks.push({
        lun: typeof request['lun'] === 'number' ? request['lun'] : lowestFreeLun(disks),
        name: lastSegment(diskId),
        createOption: 'Attach',
        caching: optionalString(request['caching']),
        managedDisk: { id: diskId },
        toBeDetached: false,
      });
    }
    return disks;
  }

  private planDataDisks(machine: Machine, requested: unknown[]): DataDiskPlan {
    const entries = requested.map(parseDataDisk);
    this.checkLayout(entries);
    const current = new Map(machine.dataDisks.map((d) => [key(d.managedDisk.id), d]));
    const desired: ArmDataDisk[] = [];
    const attaching: Disk[] = [];
    for (const entry of entries) {
      const disk = this.disks.get(key(entry.diskId));
      if (entry.toBeDetached) {
        desired.push(detachingEntry(entry, current.get(key(entry.diskId)), disk));
        continue;
      }
      if (!disk) throw new ArmError(404, 'NotFound', `Disk '${entry.diskId}' was not found.`);
      if (!current.has(key(disk.id))) {
        checkCreateOption(entry);
        this.checkAttachable(disk, machine);
        attaching.push(disk);
      }
      desired.push(dataDiskEntry(disk, entry));
    }
    const staying = new Set(desired.filter((d) => !d.toBeDetached).map((d) => key(d.managedDisk.id)));
    const detaching = new Set([...current.keys()].filter((k) => !staying.has(k)));
    return { desired, attaching, detaching };
  }

  private checkLayout(entries: ParsedDataDisk[]): void {
    const luns = new Set<number>();
    const ids = new Set<string>();
    for (const entry of entries) {
      if (!Number.isInteger(entry.lun) || entry.lun < 0 || entry.lun > HIGHEST_LUN) {
        throw new ArmError(
          400,
          'InvalidParameter',
          `The value '${entry.lun}' of parameter 'dataDisk.lun' is out of range. Value must be between '0' and '${HIGHEST_LUN}', inclusive.`,
        );
      }
      if (luns.has(entry.lun)) throw new ArmError(409, 'InvalidParameter', `A disk at LUN ${entry.lun} already exists.`);
      if (ids.has(key(entry.diskId))) throw new ArmError(409, 'InvalidParameter', `Disk '${entry.diskId}' is listed more than once.`);
      luns.add(entry.lun);
      ids.add(key(entry.diskId));
    }
    const attached = entries.filter((e) => !e.toBeDetached).length;
    if (attached > this.config.maxDataDisks) {
      throw new ArmError(
        409,
        'OperationNotAllowed',
        `The maximum number of data disks allowed to be attached to a VM of this size is ${this.config.maxDataDisks}.`,
      );
    }
  }

  private checkAttachable(disk: Disk, machine: Machine): void {
    const owner = disk.managedBy ?? disk.reservedBy;
    if (owner === undefined || sameId(owner, machine.id)) return;
    const ownerMachine = this.machines.get(key(owner));
    if (ownerMachine?.inFlight.some((op) => op.plan?.detaching.has(key(disk.id)))) {
      throw new ArmError(
        409,
        'AttachDiskWhileBeingDetached',
        `Cannot attach data disk '${disk.name}' to virtual machine '${machine.name}' because the disk is currently being detached or the last detach operation failed. Please wait until the disk is completely detached and then try again or delete/detach the disk explicitly again.`,
      );
    }
    throw new ArmError(409, 'ConflictingUserInput', `Disk '${disk.id}' cannot be attached as the disk is already owned by VM '${owner}'.`);
  }

  /** Completes every operation whose latency has elapsed, oldest first. */
  settle(): void {
    const now = Date.now();
    const due = [...this.machines.values()]
      .flatMap((m) => m.inFlight)
      .filter((op) => op.completesAt <= now)
      .sort((a, b) => a.completesAt - b.completesAt);
    for (const operation of due) this.complete(operation);
  }

  private complete(operation: Operation): void {
    const machine = operation.machine;
    machine.inFlight = machine.inFlight.filter((op) => op !== operation);
    machine.etag = nextEtag();
    // The operation ended when its time came, whenever the simulator is next asked about it.
    operation.endTime = new Date(operation.completesAt);
    for (const disk of operation.plan?.attaching ?? []) {
      if (disk.reservedBy === machine.id) disk.reservedBy = undefined;
    }
    if (operation.failure) {
      operation.status = 'Failed';
      machine.failed = true;
      return;
    }
    if (operation.plan) this.applyDataDisks(machine, operation.plan.desired.filter((d) => !d.toBeDetached));
    operation.status = 'Succeeded';
    machine.failed = false;
  }

  private applyDataDisks(machine: Machine, dataDisks: ArmDataDisk[]): void {
    const staying = new Set(dataDisks.map((d) => key(d.managedDisk.id)));
    for (const entry of machine.dataDisks) {
      const disk = this.disks.get(key(entry.managedDisk.id));
      if (disk && !staying.has(key(disk.id)) && sameId(disk.managedBy, machine.id)) disk.managedBy = undefined;
    }
    for (const entry of dataDisks) {
      const disk = this.disks.get(key(entry.managedDisk.id));
      if (disk) disk.managedBy = machine.id;
    }
    machine.dataDisks = dataDisks;
  }

  // ---- views ----

  /** The machine as ARM shows it; `dataDisks` overrides the list (a PUT echoes what was asked). */
  machineView(machine: Machine, dataDisks = machine.dataDisks): ArmVirtualMachine | ArmScaleSetVM {
    return machine.scaleSet ? this.scaleSetVmView(machine, dataDisks) : this.vmView(machine, dataDisks);
  }

  private vmView(machine: Machine, dataDisks = machine.dataDisks): ArmVirtualMachine {
    return {
      id: machine.id,
      name: machine.name,
      type: 'Microsoft.Compute/virtualMachines',
      location: this.config.location,
      etag: machine.etag,
      properties: this.machineProperties(machine, dataDisks),
    };
  }

  private scaleSetVmView(machine: Machine, dataDisks = machine.dataDisks): ArmScaleSetVM {
    return {
      id: machine.id,
      name: machine.name,
      instanceId: machine.scaleSet?.instanceId ?? '',
      type: 'Microsoft.Compute/virtualMachineScaleSets/virtualMachines',
      location: this.config.location,
      etag: machine.etag,
      properties: { ...this.machineProperties(machine, dataDisks), latestModelApplied: true },
    };
  }

  private machineProperties(machine: Machine, dataDisks: ArmDataDisk[]): ArmVirtualMachine['properties'] {
    return {
      vmId: machine.vmId,
      provisioningState: provisioningState(machine),
      hardwareProfile: { vmSize: VM_SIZE },
      osProfile: { computerName: machine.computerName },
      storageProfile: this.storageProfile(machine, dataDisks),
    };
  }

  storageProfile(machine: Machine, dataDisks = machine.dataDisks): ArmStorageProfile {
    const osDiskName = `${machine.name}_OsDisk_1`;
    return {
      osDisk: {
        osType: 'Linux',
        name: osDiskName,
        createOption: 'FromImage',
        caching: 'ReadWrite',
        diskSizeGB: 30,
        managedDisk: { id: this.resourceId(machine.resourceGroup, 'disks', osDiskName), storageAccountType: 'Premium_LRS' },
      },
      dataDisks: structuredClone(dataDisks),
    };
  }

  private diskView(disk: Disk): ArmDisk {
    return {
      id: disk.id,
      name: disk.name,
      type: 'Microsoft.Compute/disks',
      location: this.config.location,
      ...(disk.managedBy !== undefined && { managedBy: disk.managedBy }),
      sku: { name: disk.sku, tier: disk.sku.startsWith('Premium') ? 'Premium' : 'Standard' },
      properties: {
        diskSizeGB: disk.sizeGB,
        diskState: disk.managedBy === undefined ? 'Unattached' : 'Attached',
        provisioningState: 'Succeeded',
      },
    };
  }

  // ---- for the provisioner's routes (provisioning-routes.ts), which keep disks' other fields ----

  /** The disk the VM routes attach, by resource group and name; undefined when there is none. */
  findDisk(resourceGroup: string, name: string): Disk | undefined {
    return this.disks.get(key(this.resourceId(resourceGroup, 'disks', name)));
  }

  removeDisk(id: string): void {
    this.disks.delete(key(id));
  }
}

let etagCounter = 0;

/** ARM's VM etags are quoted integers; unique across the process so no two machines share one. */
function nextEtag(): string {
  etagCounter++;
  return `"${etagCounter}"`;
}

function provisioningState(machine: Machine): ProvisioningState {
  if (machine.inFlight.length > 0) return 'Updating';
  return machine.failed ? 'Failed' : 'Succeeded';
}

function scaleSetComputerName(prefix: string, instanceId: string): string {
  return prefix + Number(instanceId).toString(36).padStart(6, '0');
}

function dataDiskEntry(disk: Disk, entry: Pick<ParsedDataDisk, 'lun' | 'diskId' | 'name' | 'createOption' | 'caching'>): ArmDataDisk {
  return {
    lun: entry.lun,
    name: entry.name ?? disk.name,
    createOption: entry.createOption ?? 'Attach',
    // ARM's documented default: "None for Standard storage. ReadOnly for Premium storage".
    caching: entry.caching ?? (disk.sku.startsWith('Premium') ? 'ReadOnly' : 'None'),
    managedDisk: { id: entry.diskId, storageAccountType: disk.sku },
    toBeDetached: false,
    diskSizeGB: disk.sizeGB,
  };
}

function detachingEntry(entry: ParsedDataDisk, current: ArmDataDisk | undefined, disk: Disk | undefined): ArmDataDisk {
  return {
    lun: entry.lun,
    name: entry.name ?? current?.name ?? lastSegment(entry.diskId),
    createOption: entry.createOption ?? current?.createOption ?? 'Attach',
    caching: entry.caching ?? current?.caching ?? 'None',
    managedDisk: { id: entry.diskId, storageAccountType: disk?.sku ?? DEFAULT_DISK_SKU },
    toBeDetached: true,
    ...(entry.detachOption !== undefined && { detachOption: entry.detachOption }),
    diskSizeGB: disk?.sizeGB ?? current?.diskSizeGB ?? 0,
  };
}

function checkCreateOption(entry: ParsedDataDisk): void {
  if (entry.createOption === undefined) {
    throw new ArmError(400, 'InvalidParameter', "Required parameter 'dataDisk.createOption' is missing (null).");
  }
  if (entry.createOption.toLowerCase() !== 'attach') {
    throw new ArmError(
      400,
      'InvalidParameter',
      `The simulator only attaches existing managed disks; createOption '${entry.createOption}' is not supported.`,
    );
  }
}

function parseDataDisk(raw: unknown): ParsedDataDisk {
  const entry = asRecord(raw);
  if (!entry) throw new ArmError(400, 'InvalidRequestContent', 'dataDisks entries must be objects.');
  if (typeof entry['lun'] !== 'number') throw new ArmError(400, 'InvalidParameter', "Required parameter 'dataDisk.lun' is missing (null).");
  const diskId = asRecord(entry['managedDisk'])?.['id'];
  if (typeof diskId !== 'string') {
    throw new ArmError(
      400,
      'InvalidParameter',
      entry['vhd'] === undefined
        ? "Required parameter 'dataDisk.managedDisk' is missing (null)."
        : 'The simulator supports managed disks only, not VHD (blob) disks.',
    );
  }
  return {
    lun: entry['lun'],
    diskId,
    name: optionalString(entry['name']),
    createOption: optionalString(entry['createOption']),
    caching: optionalString(entry['caching']),
    toBeDetached: entry['toBeDetached'] === true,
    detachOption: optionalString(entry['detachOption']),
  };
}

function lowestFreeLun(disks: Array<{ lun: number }>): number {
  let lun = 0;
  while (disks.some((d) => d.lun === lun)) lun++;
  return lun;
}

function arrayField(body: Record<string, unknown>, field: string): Array<Record<string, unknown>> {
  const value = body[field] ?? [];
  if (!Array.isArray(value)) throw new ArmError(400, 'InvalidRequestContent', `'${field}' must be an array.`);
  return value.map((item) => asRecord(item) ?? {});
}

function requiredString(record: Record<string, unknown>, field: string, parent: string): string {
  const value = record[field];
  if (typeof value !== 'string') throw new ArmError(400, 'InvalidParameter', `Required parameter '${parent}.${field}' is missing (null).`);
  return value;
}

export function asRecord(value: unknown): Record<string, unknown> | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}

function optionalString(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

function notFound(resourceGroup: string, resource: string): ArmError {
  return new ArmError(
    404,
    'ResourceNotFound',
    `The Resource 'Microsoft.Compute/${resource}' under resource group '${resourceGroup}' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix`,
  );
}

function lastSegment(id: string): string {
  return id.slice(id.lastIndexOf('/') + 1);
}

/** ARM compares resource ids and names without regard to case. */
function key(id: string): string {
  return id.toLowerCase();
}

function sameId(a: string | undefined, b: string | undefined): boolean {
  return a !== undefined && b !== undefined && a.toLowerCase() === b.toLowerCase();
}
