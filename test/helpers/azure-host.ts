// Plays the hypervisor for tests and the demo: watches the ARM simulator's model of one VM and,
// like Azure hot-plugging a disk into the guest, makes each attached disk appear in the fixture
// sysfs and /dev/disk/azure tree at its LUN (leading to the loop device that plays it), and
// disappear once it is detached.
import { CONTROLLER, type FixtureDisk, type ScsiFixture } from './scsi-fixture.ts';
import type { ArmSimulator } from '../arm-simulator/index.ts';

export interface AzureHostOptions {
  sim: ArmSimulator;
  fixture: ScsiFixture;
  vmName: string;
  /** Azure disk name → the loop device that plays it. */
  devices: Map<string, string>;
  pollMs?: number;
}

export interface AzureHost {
  /** LUN → disk name of what the guest sees now. */
  visible(): Map<number, string>;
  stop(): void;
}

/** Data disks sit on the second SCSI controller (host 1 here), target 0, at their LUN. */
function fixtureDisk(lun: number, device: string): FixtureDisk {
  return { address: `1:0:0:${lun}`, controller: CONTROLLER.scsi1, device, links: [`disk/azure/scsi1/lun${lun}`] };
}

export function simulateAzureHost(options: AzureHostOptions): AzureHost {
  const plugged = new Map<number, { name: string; disk: FixtureDisk }>();

  function sync(): void {
    const dataDisks = options.sim.getVM(options.vmName)?.properties.storageProfile.dataDisks ?? [];
    const wanted = new Map(dataDisks.filter((entry) => !entry.toBeDetached).map((entry) => [entry.lun, entry.name]));
    for (const [lun, { name, disk }] of plugged) {
      if (wanted.get(lun) === name) continue;
      options.fixture.removeDisk(disk);
      plugged.delete(lun);
    }
    for (const [lun, name] of wanted) {
      const device = options.devices.get(name);
      if (plugged.has(lun) || device === undefined) continue;
      const disk = fixtureDisk(lun, device);
      options.fixture.addDisk(disk);
      plugged.set(lun, { name, disk });
    }
  }

  sync();
  const timer = setInterval(sync, options.pollMs ?? 25);
  return {
    visible: () => new Map([...plugged].map(([lun, { name }]) => [lun, name])),
    stop: () => clearInterval(timer),
  };
}
