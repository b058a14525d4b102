// azure/nfs: a subdirectory of one export per claim, `<namespace>-<claim>-<pv>`, made by mounting
// the export here; the PV points the driver at `server:/share/<subdir>`. Delete removes the
// subdirectory, or renames it `archived-<subdir>` when the class says archiveOnDelete.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as z from 'zod';
import { exportPath, formatMountOption, nfsSource, serverName } from '../drivers/network-mount.ts';
import { nfsOptions } from '../drivers/nfs.ts';
import { InvalidInput } from '../flexvolume/errors.ts';
import { parseDriverOptions } from '../flexvolume/options.ts';
import { cleanupMountPoint, ensureMountPoint, mount } from '../system/mount.ts';
import type { V1PersistentVolume } from '../kube/client.ts';
import { roundUpGiB } from './claims.ts';
import {
  checkAccessModes,
  classMountOptions,
  classParameters,
  volumeOptions,
  type DeleteOutcome,
  type ProvisionRequest,
  type Provisioned,
  type VolumeDriver,
} from './volume-driver.ts';

const parameters = z.object({
  server: serverName(),
  share: exportPath(),
  mountPermissions: z
    .string()
    .regex(/^0?[0-7]{3,4}$/, 'must be an octal mode such as 0777')
    .transform((text) => parseInt(text, 8))
    .optional(),
  archiveOnDelete: z.enum(['true', 'false'], { error: 'must be "true" or "false"' }).optional(),
});

export interface NfsProvisionerOptions {
  /** Exports are mounted below here, one directory per operation. */
  mountDir: string;
  timeoutMs: number;
}

/** The class's archiveOnDelete, kept on the PV: the class may be gone by the time the PV is deleted. */
const ARCHIVE_ANNOTATION = 'azure-flexvolume/archive-on-delete';

function subdirOf(request: ProvisionRequest): string {
  return `${request.claim.metadata?.namespace ?? ''}-${request.claim.metadata?.name ?? ''}-${request.volumeName}`;
}

export function createNfsProvisioner(options: NfsProvisionerOptions): VolumeDriver {
  /** Mounts `server:/share` privately, runs `work` on it, and always unmounts. */
  async function withExport<T>(server: string, share: string, mountOptions: string[], name: string, work: (root: string) => T): Promise<T> {
    const target = path.join(options.mountDir, name);
    ensureMountPoint(target);
    await mount({ source: nfsSource(server, share), target, fsType: 'nfs', options: mountOptions, timeoutMs: options.timeoutMs, networkShare: true });
    try {
      return work(target);
    } finally {
      await cleanupMountPoint(target, { timeoutMs: options.timeoutMs, networkShare: true });
    }
  }

  /**
   * A PV's options through the driver's own schema, as a mount of it would read them: a server,
   * an export path and mount options that are checked, whoever wrote the PV.
   */
  function driverOptionsOf(volume: V1PersistentVolume, name: string) {
    try {
      return parseDriverOptions(nfsOptions, volumeOptions(volume));
    } catch (error) {
      throw error instanceof InvalidInput ? new InvalidInput(`PV ${name}: ${error.message}`) : error;
    }
  }

  function plan(request: ProvisionRequest) {
    checkAccessModes(request.claim, ['ReadWriteOnce', 'ReadOnlyMany', 'ReadWriteMany'], 'nfs');
    const p = parseDriverOptions(() => parameters, classParameters(request.storageClass));
    const subdir = subdirOf(request);
    const share = `${p.share.replace(/\/+$/, '')}/${subdir}`;
    const driverOptions = { server: p.server, share, ...classMountOptions(request.storageClass) };
    // Through the driver's own schema, so the PV holds what `nfs` itself accepts.
    const parsed = parseDriverOptions(nfsOptions, driverOptions);
    return { p, subdir, driverOptions, mountOptions: (parsed.mountOptions ?? []).map(formatMountOption) };
  }

  return {
    provisioner: 'azure/nfs',
    driver: 'nfs',
    check: (request) => void plan(request),

    async provision(request): Promise<Provisioned> {
      const { p, subdir, driverOptions, mountOptions } = plan(request);
      await withExport(p.server, p.share, mountOptions, request.volumeName, (root) => {
        const dir = path.join(root, subdir);
        fs.mkdirSync(dir, { recursive: true });
        // mkdir's mode is cut by the umask; the class's mode is meant as written.
        fs.chmodSync(dir, p.mountPermissions ?? 0o777);
      });
      return {
        capacityGiB: roundUpGiB(request.requestBytes),
        source: { driver: 'azure/nfs', options: driverOptions },
        annotations: { [ARCHIVE_ANNOTATION]: p.archiveOnDelete ?? 'false' },
      };
    },

    async delete(volume: V1PersistentVolume): Promise<DeleteOutcome> {
      const name = volume.metadata?.name ?? '';
      const { server, share, mountOptions = [] } = driverOptionsOf(volume, name);
      const subdir = path.posix.basename(share);
      const parent = path.posix.dirname(share);
      if (subdir === '' || subdir === '.' || parent === share) throw new InvalidInput(`PV ${name}: share '${share}' is not a subdirectory of an export`);
      const archive = volume.metadata?.annotations?.[ARCHIVE_ANNOTATION] === 'true';
      await withExport(server, parent, mountOptions.map(formatMountOption), name || subdir, (root) => {
        const dir = path.join(root, subdir);
        if (!fs.existsSync(dir)) return;
        if (archive) fs.renameSync(dir, path.join(root, `archived-${subdir}`));
        else fs.rmSync(dir, { recursive: true, force: true });
      });
      return { status: 'deleted' };
    },

    // An NFS export has no per-directory size to grow.
    async resize() {
      return { status: 'unchanged' };
    },
  };
}

