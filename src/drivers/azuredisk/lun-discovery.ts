// From the LUN that attach answered to the block device on this node. The udev links that
// WALinuxAgent / azure-vm-utils create come first (`disk/azure/scsi1/lun<N>`, `data/by-lun/<N>`),
// each confirmed through sysfs; without them, sysfs is scanned directly. Either way a disk is taken
// only when it is an Azure data disk on the data-disk controller: never the OS or resource disk,
// never a disk with the same LUN on another controller (a BitLocker key volume, say).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { DriverError, InvalidInput } from '../../flexvolume/errors.ts';
import { entryPath } from '../../system/entry-path.ts';
import { log } from '../../system/log.ts';

export interface DiscoveryRoots {
  sysRoot: string;
  devRoot: string;
}

const MAX_LUN = 255;

/**
 * The LUN in what the kubelet passes back: `3`, `lun3`, or a path that ends in it
 * (`/dev/disk/azure/scsi1/lun3`, as kubelets 1.10.0 and 1.10.1 passed it; `…/data/by-lun/3`).
 */
export function lunIn(devicePath: string): number | undefined {
  const match = /^(?:lun)?(\d{1,3})$/i.exec(devicePath) ?? /^\/.*\/(?:lun|by-lun\/)(\d{1,3})$/.exec(devicePath);
  const lun = match ? Number(match[1]) : undefined;
  return lun !== undefined && lun <= MAX_LUN ? lun : undefined;
}

export function parseLun(devicePath: string): number {
  const lun = lunIn(devicePath);
  if (lun === undefined) {
    throw new InvalidInput(
      `device '${devicePath}' is not a LUN; azuredisk's attach answers the LUN (e.g. "3"), which the kubelet passes back here`,
    );
  }
  return lun;
}

/** The VMBus controllers Azure puts disks on, by the `device_id` of the controller (udev's `ATTRS{device_id}`). */
type Controller = 'data' | 'system' | 'other' | 'unknown';

function controllerOf(deviceId: string | undefined): Controller {
  if (deviceId === undefined) return 'unknown';
  const id = deviceId.trim().toLowerCase();
  // Generation 1 VMs: root and resource disks on their own controllers.
  if (/^\{?00000000-000[01]-/.test(id)) return 'system';
  // scsi0 carries the OS and resource disks on generation 2 VMs; scsi1 carries every data disk.
  if (id === '{f8b3781a-1e82-4818-a1c3-63d806ec15bb}') return 'system';
  if (id === '{f8b3781b-1e82-4818-a1c3-63d806ec15bb}') return 'data';
  return 'other';
}

interface ScsiDisk {
  /** `H:C:T:L` */
  address: string;
  host: string;
  lun: number;
  isAzureDisk: boolean;
  blockNames: string[];
  controller: Controller;
}

function readTrimmed(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8').trim();
  } catch {
    return undefined;
  }
}

function listDir(dir: string): string[] {
  try {
    return fs.readdirSync(dir);
  } catch {
    return [];
  }
}

/** Walks up from the SCSI device to the VMBus device that carries `device_id`, as udev's ATTRS does. */
function findDeviceId(scsiDeviceDir: string, sysTop: string): string | undefined {
  let dir: string;
  try {
    dir = fs.realpathSync.native(scsiDeviceDir);
  } catch {
    return undefined;
  }
  // A real path: its parent is everything before the last slash.
  while (dir.startsWith(`${sysTop}/`)) {
    const id = readTrimmed(entryPath(dir, 'device_id'));
    if (id !== undefined) return id;
    dir = dir.slice(0, dir.lastIndexOf('/'));
  }
  return undefined;
}

function readScsiDisks(sysRoot: string): ScsiDisk[] {
  const devicesDir = entryPath(sysRoot, 'bus/scsi/devices');
  const sysTop = path.resolve(sysRoot);
  const disks: ScsiDisk[] = [];
  for (const address of listDir(devicesDir)) {
    const fields = /^(\d+):\d+:\d+:(\d+)$/.exec(address);
    if (!fields) continue;
    const dir = entryPath(devicesDir, address);
    const vendor = readTrimmed(entryPath(dir, 'vendor'))?.toUpperCase();
    const model = readTrimmed(entryPath(dir, 'model'))?.toUpperCase();
    disks.push({
      address,
      host: fields[1] ?? '',
      lun: Number(fields[2]),
      isAzureDisk: vendor === 'MSFT' && model === 'VIRTUAL DISK',
      blockNames: listDir(entryPath(dir, 'block')),
      controller: controllerOf(findDeviceId(dir, sysTop)),
    });
  }
  return disks;
}

/** The block name a link leads to, or undefined when it does not lead to a block device. */
function blockNameBehind(link: string): string | undefined {
  try {
    const target = fs.realpathSync.native(link);
    return fs.statSync(target).isBlockDevice() ? path.basename(target) : undefined;
  } catch {
    return undefined;
  }
}

/** OS and resource disks as udev names them: every device link directly in disk/azure (root, resource, os), and scsi0's. */
function systemDiskNames(devRoot: string): Set<string> {
  const names = new Set<string>();
  const azure = entryPath(devRoot, 'disk/azure');
  for (const dir of [azure, entryPath(azure, 'scsi0')]) {
    for (const entry of listDir(dir)) {
      const name = blockNameBehind(entryPath(dir, entry));
      if (name !== undefined) names.add(name);
    }
  }
  return names;
}

export interface FoundDisk {
  /** The stable path to answer: a udev link where one exists. */
  stablePath: string;
  /** The kernel's name for the device, e.g. `sdc`. */
  blockName: string;
  /** How it was found, for the log. */
  via: string;
}

export type Lookup = { found: FoundDisk } | { missing: string };

interface Scan {
  lun: number;
  roots: DiscoveryRoots;
  disks: ScsiDisk[];
  systemNames: Set<string>;
}

/** Why a SCSI disk cannot be the data disk at this LUN, or undefined when it can. */
function rejectScsiDisk(scan: Scan, disk: ScsiDisk, name: string): string | undefined {
  if (!disk.isAzureDisk) return `${name} (${disk.address}) is not an Azure virtual disk (vendor/model)`;
  if (scan.systemNames.has(name) || disk.controller === 'system') return `${name} (${disk.address}) is the OS or resource disk`;
  if (disk.controller === 'other') return `${name} (${disk.address}) is on another controller than the data disks`;
  if (disk.lun !== scan.lun) return `${name} (${disk.address}) has LUN ${disk.lun}, not ${scan.lun}`;
  return undefined;
}

function checkLink(scan: Scan, link: string): Lookup | undefined {
  try {
    fs.lstatSync(link);
  } catch {
    return undefined;
  }
  const name = blockNameBehind(link);
  if (name === undefined) return { missing: `${link} does not lead to a block device` };
  const disk = scan.disks.find((candidate) => candidate.blockNames.includes(name));
  if (disk === undefined) {
    // NVMe data disks have no SCSI entry; a SCSI link without one is sysfs not having caught up.
    if (link.includes('/by-lun/') && !scan.systemNames.has(name)) return { found: { stablePath: link, blockName: name, via: link } };
    return { missing: `${link} leads to ${name}, which no SCSI device in sysfs owns (yet)` };
  }
  const rejected = rejectScsiDisk(scan, disk, name);
  if (rejected !== undefined) return { missing: `${link}: ${rejected}` };
  return { found: { stablePath: link, blockName: name, via: `${link} (${disk.address})` } };
}

/** The most stable name for a device found in sysfs: a udev link when any leads to it. */
function stablePathFor(devRoot: string, name: string): string {
  for (const dir of ['disk/azure/scsi1', 'disk/by-id']) {
    const linkDir = entryPath(devRoot, dir);
    for (const entry of listDir(linkDir).sort()) {
      const link = entryPath(linkDir, entry);
      if (blockNameBehind(link) === name) return link;
    }
  }
  return entryPath(devRoot, name);
}

function scanSysfs(scan: Scan): Lookup {
  const reasons: string[] = [];
  const candidates: Array<{ disk: ScsiDisk; name: string }> = [];
  for (const disk of scan.disks.filter((entry) => entry.lun === scan.lun)) {
    for (const name of disk.blockNames) {
      const rejected = rejectScsiDisk(scan, disk, name);
      if (rejected === undefined) candidates.push({ disk, name });
      else reasons.push(rejected);
    }
  }
  const onDataController = candidates.filter(({ disk }) => disk.controller === 'data');
  // Without controller ids (not Hyper-V), a lone candidate is trusted unless it shares a host with the OS disk.
  const systemHosts = new Set(
    scan.disks.filter((disk) => disk.controller === 'system' || disk.blockNames.some((name) => scan.systemNames.has(name))).map((disk) => disk.host),
  );
  const unknown = candidates.filter(({ disk }) => disk.controller === 'unknown' && !systemHosts.has(disk.host));
  const chosen = onDataController.length > 0 ? onDataController : unknown;
  if (chosen.length === 1 && chosen[0] !== undefined) {
    const { disk, name } = chosen[0];
    return { found: { stablePath: stablePathFor(scan.roots.devRoot, name), blockName: name, via: `sysfs ${disk.address}` } };
  }
  if (chosen.length > 1) {
    reasons.push(`several disks could be LUN ${scan.lun}: ${chosen.map(({ disk, name }) => `${name} (${disk.address})`).join(', ')}`);
  }
  return { missing: reasons.length > 0 ? reasons.join('; ') : `no SCSI device with LUN ${scan.lun} in sysfs` };
}

/** Where the data disk at `lun` is right now, or why it is not there. */
export function findDiskByLun(lun: number, roots: DiscoveryRoots): Lookup {
  const scan: Scan = { lun, roots, disks: readScsiDisks(roots.sysRoot), systemNames: systemDiskNames(roots.devRoot) };
  const reasons: string[] = [];
  for (const link of linksFor(lun, roots.devRoot)) {
    const outcome = checkLink(scan, link);
    if (outcome === undefined) continue;
    if ('found' in outcome) return outcome;
    reasons.push(outcome.missing);
  }
  const scanned = scanSysfs(scan);
  if ('found' in scanned) return scanned;
  return { missing: [...reasons, scanned.missing].join('; ') };
}

export function linksFor(lun: number, devRoot: string): string[] {
  return [entryPath(devRoot, `disk/azure/scsi1/lun${lun}`), entryPath(devRoot, `disk/azure/data/by-lun/${lun}`)];
}

/**
 * Asks every SCSI host to look for new devices, as `- - -` (all channels, targets and LUNs). The
 * kernel usually learns of a new disk by itself; this covers the times it does not. Errors (a host
 * that cannot scan) are expected and ignored.
 */
export async function rescanScsiHosts(sysRoot: string): Promise<void> {
  const hostsDir = entryPath(sysRoot, 'class/scsi_host');
  await Promise.all(
    listDir(hostsDir).map((host) =>
      fs.promises.writeFile(entryPath(hostsDir, host, 'scan'), '- - -').catch((error: NodeJS.ErrnoException) => {
        log(`rescan of ${host} failed: ${error.code}`);
      }),
    ),
  );
}

export interface WaitOptions {
  timeoutMs: number;
  pollMs: number;
  rescanEveryMs: number;
}

/** Polls until the data disk at `lun` shows up, rescanning the SCSI hosts now and then meanwhile. */
export async function waitForDisk(lun: number, roots: DiscoveryRoots, options: WaitOptions): Promise<FoundDisk> {
  const started = Date.now();
  let rescan: Promise<void> | undefined;
  let lastRescan = -Infinity;
  for (;;) {
    const lookup = findDiskByLun(lun, roots);
    if ('found' in lookup) {
      log(`LUN ${lun} is ${lookup.found.blockName}, via ${lookup.found.via}, after ${Date.now() - started} ms`);
      return lookup.found;
    }
    const elapsed = Date.now() - started;
    if (elapsed >= options.timeoutMs) {
      throw new DriverError(
        `the data disk at LUN ${lun} did not appear on this node within ${options.timeoutMs / 1000} s. ` +
          `Looked for ${linksFor(lun, roots.devRoot).join(' and ')} and for an Azure data disk with LUN ${lun} in ` +
          `${entryPath(roots.sysRoot, 'bus/scsi/devices')} (${lookup.missing}). Check that the disk is attached to this VM at LUN ${lun}.`,
      );
    }
    // The first look is free of rescans: the disk is usually there already, and a rescan of
    // every host is the expensive part.
    if (rescan === undefined && Date.now() - lastRescan >= options.rescanEveryMs) {
      lastRescan = Date.now();
      log(`LUN ${lun} not found yet (${lookup.missing}); rescanning SCSI hosts`);
      rescan = rescanScsiHosts(roots.sysRoot).finally(() => {
        rescan = undefined;
      });
    }
    await sleep(Math.min(options.pollMs, options.timeoutMs - elapsed));
  }
}

/**
 * The LUN of the data disk that is `blockName` (e.g. `sdc`), so an unmount can name the disk to
 * detach when no record of it survived. The candidate LUNs come from one look at sysfs (and the
 * NVMe by-lun links); each is confirmed the way waitforattach finds a disk.
 */
export function findLunOfDevice(blockName: string, roots: DiscoveryRoots): number | undefined {
  const byLun = entryPath(roots.devRoot, 'disk/azure/data/by-lun');
  const candidates = new Set([
    ...readScsiDisks(roots.sysRoot)
      .filter((disk) => disk.blockNames.includes(blockName))
      .map((disk) => disk.lun),
    ...listDir(byLun)
      .filter((entry) => blockNameBehind(entryPath(byLun, entry)) === blockName)
      .map(Number),
  ]);
  for (const lun of candidates) {
    const lookup = findDiskByLun(lun, roots);
    if ('found' in lookup && lookup.found.blockName === blockName) return lun;
  }
  return undefined;
}
