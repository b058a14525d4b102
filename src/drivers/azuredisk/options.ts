// The user's flexVolume.options for azuredisk, one schema for both sides: the controller side
// reads the disk and how to attach it, the node side the filesystem and its mount options. Every
// call gets the same document, so each side must accept the keys the other one uses.
import * as z from 'zod/mini';
import { parseDiskUri } from '../../azure/disk-uri.ts';
import { InvalidInput } from '../../flexvolume/errors.ts';
import { caselessEnum, lazily, type VolumeOptions } from '../../flexvolume/options.ts';
import { mountOptionList } from '../network-mount.ts';

/** Azure's caching modes, accepted in any letter case (`readonly` is `ReadOnly`). */
const CACHING_MODES = ['None', 'ReadOnly', 'ReadWrite'] as const;

const cachingMode = () => caselessEnum(CACHING_MODES, 'one of');

/** The filesystems the node side formats and mounts. */
export const FILESYSTEMS = ['ext4', 'xfs', 'ext3'] as const;
export type Filesystem = (typeof FILESYSTEMS)[number];

const filesystem = lazily(() => z.enum(FILESYSTEMS, { error: `must be one of ${FILESYSTEMS.join(', ')}` }));

/** The disk a managed disk's resource id names; undefined for anything else, which attach reports itself. */
function diskNameIn(diskUri: string): string | undefined {
  try {
    return parseDiskUri(diskUri).name;
  } catch {
    return undefined;
  }
}

export const azurediskOptions = lazily(() =>
  z
    .object({
      diskName: z.string().check(z.minLength(1, 'must name the managed disk')),
      diskURI: z
        .string()
        .check(z.minLength(1, 'must be the disk resource id, /subscriptions/<id>/resourceGroups/<group>/providers/Microsoft.Compute/disks/<name>')),
      // ReadOnly is Azure's safe default: ReadWrite host caching once cost data on power loss.
      cachingMode: z._default(cachingMode(), 'ReadOnly'),
      kind: z._default(
        z.enum(['Managed'], {
          error: 'only Managed disks are supported; blob-based VHDs (kind Shared or Dedicated) cannot be attached to VMs with managed disks: convert the VHD to a managed disk',
        }),
        'Managed',
      ),
      fsType: z.optional(filesystem()),
      mountOptions: z.optional(mountOptionList()),
    })
    .check(
      z.superRefine((options: { diskName: string; diskURI: string }, context) => {
        // Attach uses the diskURI and reports the diskName: two different disks would mislead every operator.
        const uriName = diskNameIn(options.diskURI);
        if (uriName === undefined || uriName.toLowerCase() === options.diskName.trim().toLowerCase()) return;
        context.addIssue({
          code: 'custom',
          path: ['diskName'],
          message: `'${options.diskName}' contradicts diskURI '${options.diskURI}', whose disk is '${uriName}'; they must name the same disk: fix the PV`,
        });
      }),
    ),
);

export type AzurediskOptions = z.infer<ReturnType<typeof azurediskOptions>>;

/**
 * The filesystem a volume asks for: the PV's fsType, else the `fsType` option, else ext4. Two
 * different answers are a mistake in the PV, reported rather than guessed.
 */
export function requestedFilesystem(volume: VolumeOptions, disk: AzurediskOptions): Filesystem {
  const fromPv = volume.fsType.trim();
  if (fromPv === '') return disk.fsType ?? 'ext4';
  const parsed = filesystem().safeParse(fromPv);
  if (!parsed.success) {
    throw new InvalidInput(`fsType '${fromPv}' is not supported for azuredisk; use one of ${FILESYSTEMS.join(', ')}`);
  }
  if (disk.fsType !== undefined && disk.fsType !== parsed.data) {
    throw new InvalidInput(`the PV's fsType is '${parsed.data}' but the fsType option says '${disk.fsType}'; set only one of them`);
  }
  return parsed.data;
}
