// Node name → the machine in ARM. With vmType `standard` (or no vmType: what the old in-tree
// provider assumed) the node name is the VM name. With `vmss` the node name is the instance's
// computer name, `<computerNamePrefix><instance id in base 36, 6 characters>`
// (cloud-provider-azure azure_vmss.go getScaleSetVMInstanceID); AKS names the scale set after the
// prefix, so that guess is tried first, then the configured primaryScaleSetName (listing its
// instances when the prefix differs), then a standalone VM, which vmss clusters may also have.
// A successful mapping is remembered, so each node is resolved once per host.
import { RecordStore } from '../system/state.ts';
import { log } from '../system/log.ts';
import type { VmType } from './cloud-config.ts';
import type { Machine, MachineRef } from './machines.ts';

export interface ResolverConfig {
  vmType: VmType;
  resourceGroup: string;
  primaryScaleSetName: string | undefined;
}

export interface MachineReader {
  /** undefined when there is no such VM, instance or scale set. */
  get(ref: MachineRef): Promise<Machine | undefined>;
  /** Empty when there is no such scale set. */
  listScaleSet(resourceGroup: string, scaleSet: string): Promise<Machine[]>;
}

const INSTANCE_ID_CHARS = 6;

export interface ScaleSetComputerName {
  prefix: string;
  instanceId: string;
}

export function parseScaleSetComputerName(name: string): ScaleSetComputerName | undefined {
  const match = /^(.+)([0-9a-z]{6})$/i.exec(name);
  if (!match || match[1] === undefined || match[2] === undefined) return undefined;
  return { prefix: match[1], instanceId: String(Number.parseInt(match[2], 36)) };
}

export function scaleSetComputerName(prefix: string, instanceId: string): string {
  return prefix + Number(instanceId).toString(36).padStart(INSTANCE_ID_CHARS, '0');
}

const sameName = (a: string | undefined, b: string): boolean => a !== undefined && a.toLowerCase() === b.toLowerCase();

export class VmResolver {
  private readonly remembered: RecordStore<MachineRef>;
  private readonly config: ResolverConfig;
  private readonly reader: MachineReader;

  constructor(options: { dir: string; config: ResolverConfig; reader: MachineReader }) {
    this.remembered = new RecordStore(options.dir);
    this.config = options.config;
    this.reader = options.reader;
  }

  /** The node's machine, or undefined when no VM or instance answers to the node name. */
  async resolve(nodeName: string): Promise<Machine | undefined> {
    const key = nodeName.toLowerCase();
    const known = this.remembered.read(key);
    if (known !== undefined) {
      const machine = await this.reader.get(known);
      if (machine !== undefined && this.belongsTo(machine, nodeName)) return machine;
      log(`node ${nodeName} no longer maps to ${JSON.stringify(known)}; resolving it again`);
      this.remembered.delete(key);
    }
    const machine = await this.find(nodeName);
    if (machine !== undefined) this.remembered.write(key, machine.ref);
    return machine;
  }

  private belongsTo(machine: Machine, nodeName: string): boolean {
    return machine.ref.kind === 'vm' || sameName(machine.computerName, nodeName);
  }

  private async find(nodeName: string): Promise<Machine | undefined> {
    const { resourceGroup } = this.config;
    if (this.config.vmType === 'vmss') {
      const instance = await this.findScaleSetInstance(nodeName);
      if (instance !== undefined) return instance;
    }
    return this.reader.get({ kind: 'vm', resourceGroup, name: nodeName });
  }

  private async findScaleSetInstance(nodeName: string): Promise<Machine | undefined> {
    const { resourceGroup, primaryScaleSetName } = this.config;
    const parsed = parseScaleSetComputerName(nodeName);
    if (parsed !== undefined) {
      const guesses = [parsed.prefix, primaryScaleSetName].filter((name): name is string => name !== undefined);
      for (const scaleSet of new Set(guesses.map((name) => name.toLowerCase()))) {
        const machine = await this.reader.get({ kind: 'vmss', resourceGroup, scaleSet, instanceId: parsed.instanceId });
        if (machine !== undefined && sameName(machine.computerName, nodeName)) return machine;
      }
    }
    if (primaryScaleSetName === undefined) return undefined;
    const instances = await this.reader.listScaleSet(resourceGroup, primaryScaleSetName);
    return instances.find((machine) => sameName(machine.computerName, nodeName));
  }
}
