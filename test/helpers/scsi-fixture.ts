// A fixture sysfs and /dev tree shaped like an Azure VM's, whose disks lead to real loop devices:
//   sys/devices/…/VMBUS:00/<controller guid>/device_id                     "{<guid>}"
//   sys/devices/…/<guid>/host<H>/scsi_host/host<H>/scan                      (records rescans)
//   sys/devices/…/<guid>/host<H>/target<H>:<C>:<T>/<H:C:T:L>/{vendor,model,rescan,block/<name>}
//   sys/bus/scsi/devices/<H:C:T:L>, sys/class/scsi_host/host<H>, sys/class/block/<name>: symlinks, as in sysfs
//   sys/dev/block/<major:minor> -> the real /sys/dev/block entry, so size and ro are the kernel's own
//   dev/<name> -> /dev/<name> (the devtmpfs node), dev/disk/azure/… relative links as udev writes them
// The driver reads it through FLEXVOLUME_SYS_ROOT and FLEXVOLUME_DEV_ROOT.
import * as fs from 'node:fs';
import * as path from 'node:path';

/** VMBus device ids of the controllers Azure exposes (WALinuxAgent's 66-azure-storage.rules). */
export const CONTROLLER = {
  gen1Root: '00000000-0000-8899-0000-000000000000',
  gen1Resource: '00000000-0001-8899-0000-000000000000',
  scsi0: 'f8b3781a-1e82-4818-a1c3-63d806ec15bb',
  scsi1: 'f8b3781b-1e82-4818-a1c3-63d806ec15bb',
  /** Not one of Azure's disk controllers: where a decoy with a clashing LUN lives. */
  foreign: '6a8f3b2e-0d4c-4f53-9a3e-2f1d7c5b9e01',
} as const;

export interface FixtureDisk {
  /** `H:C:T:L` */
  address: string;
  /** The controller's VMBus device id; undefined for a controller without one (not Hyper-V). */
  controller: string | undefined;
  /** The real block device, e.g. `/dev/loop5`. */
  device: string;
  vendor?: string;
  model?: string;
  /** udev links under dev/, e.g. `disk/azure/scsi1/lun1` or `disk/azure/root`. */
  links?: string[];
}

export interface ScsiFixture {
  dir: string;
  sysRoot: string;
  devRoot: string;
  env: Record<string, string>;
  /** Adds a disk as the kernel does (device node, sysfs), then the udev links. */
  addDisk(disk: FixtureDisk): void;
  /** Removes a disk as a hot unplug does: udev links, sysfs entries, device node. */
  removeDisk(disk: FixtureDisk): void;
  /** An NVMe data disk: a device node and its udev links, no SCSI device in sysfs. */
  addNvmeDisk(disk: { device: string; links: string[] }): void;
  /** What was last written to a host's `scan` file ('' when never). */
  scanRequest(host: number): string;
  /** What was last written to a disk's `device/rescan` file ('' when never). */
  sizeRescanRequest(name: string): string;
  cleanup(): void;
}

const VMBUS = 'devices/LNXSYSTM:00/LNXSYBUS:00/ACPI0004:00/VMBUS:00';

function relativeLink(target: string, link: string): void {
  fs.mkdirSync(path.dirname(link), { recursive: true });
  fs.symlinkSync(path.relative(path.dirname(link), target), link);
}

/** Sysfs pads vendor to 8 and model to 16 characters. */
const padded = (text: string, width: number): string => `${text.padEnd(width)}\n`;

function deviceNumber(device: string): string {
  const { rdev } = fs.statSync(device);
  return `${Math.floor(rdev / 256) & 0xfff}:${(rdev & 0xff) | ((rdev >> 12) & 0xfff00)}`;
}

export function createScsiFixture(dir: string): ScsiFixture {
  const sysRoot = path.join(dir, 'sys');
  const devRoot = path.join(dir, 'dev');
  fs.mkdirSync(path.join(sysRoot, 'bus/scsi/devices'), { recursive: true });
  fs.mkdirSync(path.join(sysRoot, 'class/scsi_host'), { recursive: true });
  fs.mkdirSync(path.join(sysRoot, 'class/block'), { recursive: true });
  fs.mkdirSync(path.join(sysRoot, 'dev/block'), { recursive: true });
  fs.mkdirSync(devRoot, { recursive: true });
  const kernelEntry = (device: string) => path.join(sysRoot, 'dev/block', deviceNumber(device));

  const hostDir = (controller: string | undefined, host: string) =>
    controller === undefined ? path.join(sysRoot, 'devices/pci0000:00/0000:00:10.0', `host${host}`) : path.join(sysRoot, VMBUS, controller, `host${host}`);

  function ensureHost(controller: string | undefined, host: string): void {
    const controllerDir = controller === undefined ? undefined : path.join(sysRoot, VMBUS, controller);
    if (controllerDir !== undefined && !fs.existsSync(path.join(controllerDir, 'device_id'))) {
      fs.mkdirSync(controllerDir, { recursive: true });
      fs.writeFileSync(path.join(controllerDir, 'device_id'), `{${controller}}\n`);
    }
    const scsiHost = path.join(hostDir(controller, host), 'scsi_host', `host${host}`);
    if (fs.existsSync(scsiHost)) return;
    fs.mkdirSync(scsiHost, { recursive: true });
    fs.writeFileSync(path.join(scsiHost, 'scan'), '');
    relativeLink(scsiHost, path.join(sysRoot, 'class/scsi_host', `host${host}`));
  }

  return {
    dir,
    sysRoot,
    devRoot,
    env: { FLEXVOLUME_SYS_ROOT: sysRoot, FLEXVOLUME_DEV_ROOT: devRoot },
    addDisk(disk) {
      const [host = '', channel = '', target = ''] = disk.address.split(':');
      const name = path.basename(disk.device);
      ensureHost(disk.controller, host);
      // The kernel: device node, then the SCSI device with its block child.
      fs.symlinkSync(disk.device, path.join(devRoot, name));
      fs.symlinkSync(path.join('/sys/dev/block', deviceNumber(disk.device)), kernelEntry(disk.device));
      const deviceDir = path.join(hostDir(disk.controller, host), `target${host}:${channel}:${target}`, disk.address);
      fs.mkdirSync(path.join(deviceDir, 'block', name), { recursive: true });
      fs.writeFileSync(path.join(deviceDir, 'vendor'), padded(disk.vendor ?? 'Msft', 8));
      fs.writeFileSync(path.join(deviceDir, 'model'), padded(disk.model ?? 'Virtual Disk', 16));
      fs.writeFileSync(path.join(deviceDir, 'rescan'), '');
      relativeLink(deviceDir, path.join(deviceDir, 'block', name, 'device'));
      relativeLink(path.join(deviceDir, 'block', name), path.join(sysRoot, 'class/block', name));
      relativeLink(deviceDir, path.join(sysRoot, 'bus/scsi/devices', disk.address));
      // Then udev.
      for (const link of disk.links ?? []) relativeLink(path.join(devRoot, name), path.join(devRoot, link));
    },
    removeDisk(disk) {
      const [host = '', channel = '', target = ''] = disk.address.split(':');
      const name = path.basename(disk.device);
      for (const link of disk.links ?? []) fs.rmSync(path.join(devRoot, link), { force: true });
      fs.rmSync(path.join(sysRoot, 'bus/scsi/devices', disk.address), { force: true });
      fs.rmSync(path.join(sysRoot, 'class/block', name), { force: true });
      fs.rmSync(path.join(hostDir(disk.controller, host), `target${host}:${channel}:${target}`, disk.address), { recursive: true, force: true });
      fs.rmSync(kernelEntry(disk.device), { force: true });
      fs.rmSync(path.join(devRoot, name), { force: true });
    },
    addNvmeDisk(disk) {
      const name = path.basename(disk.device);
      fs.symlinkSync(disk.device, path.join(devRoot, name));
      fs.symlinkSync(path.join('/sys/dev/block', deviceNumber(disk.device)), kernelEntry(disk.device));
      for (const link of disk.links) relativeLink(path.join(devRoot, name), path.join(devRoot, link));
    },
    scanRequest(host) {
      const file = path.join(sysRoot, 'class/scsi_host', `host${host}`, 'scan');
      return fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
    },
    sizeRescanRequest(name) {
      const file = path.join(sysRoot, 'class/block', name, 'device/rescan');
      return fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
    },
    cleanup() {
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
