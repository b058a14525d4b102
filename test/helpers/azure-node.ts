// One Azure node for integration tests, set up and torn down in one place: the ARM simulator with
// the node's VM (and any others) and its disks, a fixture sysfs into which a simulated hypervisor
// hot-plugs each attached disk as a real loop device, and a sandbox whose calls see both.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { startArmSimulator, type ArmSimulator, type ArmSimulatorOptions } from '../arm-simulator/index.ts';
import { simulateAzureHost, type AzureHost } from './azure-host.ts';
import { createLoopPool } from './loop-devices.ts';
import { createSandbox, SEA, useArmSimulator, type Sandbox } from './sandbox.ts';
import { createScsiFixture, type ScsiFixture } from './scsi-fixture.ts';

export interface AzureNodeSpec {
  simulator?: ArmSimulatorOptions;
  /** The VM the sandbox's calls run on. */
  node: string;
  otherVMs?: string[];
  /** Managed disks: name → loop device size in bytes (the Azure size is rounded up to GiB). */
  disks: Record<string, number>;
  env?: NodeJS.ProcessEnv;
}

export interface AzureNode {
  sim: ArmSimulator;
  fixture: ScsiFixture;
  sandbox: Sandbox;
  host: AzureHost;
  tearDown(): Promise<void>;
}

export async function setUpAzureNode(spec: AzureNodeSpec): Promise<AzureNode> {
  const pool = createLoopPool();
  const sim = await startArmSimulator({ updateLatencyMs: 20, ...spec.simulator });
  for (const name of [spec.node, ...(spec.otherVMs ?? [])]) sim.addVM({ name });
  const devices = new Map<string, string>();
  for (const [name, bytes] of Object.entries(spec.disks)) {
    sim.addDisk({ name, sizeGB: Math.max(1, Math.ceil(bytes / 2 ** 30)) });
    devices.set(name, pool.create(name, bytes).path);
  }
  const fixture = createScsiFixture(fs.mkdtempSync(path.join(os.tmpdir(), 'azure-node-')));
  const host = simulateAzureHost({ sim, fixture, vmName: spec.node, devices });
  const sandbox = createSandbox(SEA, { ...fixture.env, ...spec.env });
  useArmSimulator(sandbox, sim);
  return {
    sim,
    fixture,
    sandbox,
    host,
    async tearDown(): Promise<void> {
      host.stop();
      await sandbox.cleanup();
      pool.detachAll();
      await sim.close();
      fixture.cleanup();
    },
  };
}
