// azure/azuredisk: one managed disk per claim, named after the PV (the driver's detach without a
// record finds a disk by the PV name), tagged with the claim's uid, in the selected node's zone.
import * as z from 'zod';
import { azurediskOptions, FILESYSTEMS } from '../drivers/azuredisk/options.ts';
import { InvalidInput } from '../flexvolume/errors.ts';
import { caselessEnum, parseDriverOptions } from '../flexvolume/options.ts';
import { armFailure } from '../azure/arm-errors.ts';
import { parseDiskUri } from '../azure/disk-uri.ts';
import { createManagedDisk, deleteManagedDisk, readManagedDisk, resizeManagedDisk, type ManagedDisk } from '../azure/managed-disks.ts';
import type { V1PersistentVolume } from '../kube/client.ts';
import type { AzureContext } from './azure-context.ts';
import { CLAIM_UID_TAG, CREATED_BY, CREATED_BY_TAG, roundUpGiB } from './claims.ts';
import {
  checkAccessModes,
  classMountOptions,
  classParameters,
  parseTags,
  volumeOptions,
  type DeleteOutcome,
  type ProvisionRequest,
  type Provisioned,
  type ResizeOutcome,
  type VolumeDriver,
} from './volume-driver.ts';

export const DISK_SKUS = ['Standard_LRS', 'Premium_LRS', 'StandardSSD_LRS', 'UltraSSD_LRS', 'PremiumV2_LRS', 'Premium_ZRS', 'StandardSSD_ZRS'] as const;

/** Azure's smallest disk per SKU, GiB. */
const MINIMUM_GIB: Partial<Record<(typeof DISK_SKUS)[number], number>> = { UltraSSD_LRS: 4 };
/** SKUs whose performance is set per disk. */
const PROVISIONED_PERFORMANCE = new Set(['UltraSSD_LRS', 'PremiumV2_LRS']);
/** SKUs Azure cannot grow while the disk is attached (docs: "expand without downtime" excludes them). */
const OFFLINE_RESIZE_ONLY = new Set(['UltraSSD_LRS', 'PremiumV2_LRS']);

const ZONE_LABEL = 'topology.kubernetes.io/zone';

const whole = (what: string) => z.string().regex(/^\s*\d{1,7}\s*$/, `must be a whole number of ${what}`).transform(Number);

const parameters = z.object({
  skuName: z.optional(caselessEnum(DISK_SKUS, 'a disk SKU')),
  storageaccounttype: z.optional(caselessEnum(DISK_SKUS, 'a disk SKU')),
  cachingMode: z.string().optional(),
  fsType: z.enum(FILESYSTEMS, { error: `must be one of ${FILESYSTEMS.join(', ')}` }).optional(),
  resourceGroup: z.string().regex(/^[-\w._()]{1,90}$/, 'must be a resource group name').optional(),
  diskIOPSReadWrite: whole('IOPS').optional(),
  diskMBpsReadWrite: whole('MB/s').optional(),
  diskEncryptionSetID: z
    .string()
    .regex(/^\/subscriptions\/[^/]+\/resourceGroups\/[^/]+\/providers\/Microsoft\.Compute\/diskEncryptionSets\/[^/]+$/i, 'must be a disk encryption set resource id')
    .optional(),
  networkAccessPolicy: z.optional(caselessEnum(['AllowAll', 'DenyAll', 'AllowPrivate'] as const, 'a network access policy')),
  tags: z.string().optional(),
  zoned: z.enum(['true', 'false'], { error: 'must be "true" or "false"' }).optional(),
  zones: z.string().regex(/^\s*\d+(\s*,\s*\d+)*\s*$/, 'must be a comma-separated list of zone numbers such as 1,2,3').optional(),
});

type Parameters = z.infer<typeof parameters>;

interface DiskPlan {
  resourceGroup: string;
  skuName: string;
  zone: string | undefined;
  sizeGiB: number;
  fsType: string | undefined;
  options: Record<string, string>;
  tags: Record<string, string>;
  parameters: Parameters;
}

function readParameters(request: ProvisionRequest): Parameters {
  const parsed = parseDriverOptions(() => parameters, classParameters(request.storageClass));
  if (parsed.skuName !== undefined && parsed.storageaccounttype !== undefined && parsed.skuName !== parsed.storageaccounttype) {
    throw new InvalidInput(`parameters 'skuName' and 'storageaccounttype' disagree (${parsed.skuName}, ${parsed.storageaccounttype}); set one`);
  }
  return parsed;
}

/** `westeurope-2` → `2`; a fault-domain label (`0`, `1`) of a region without zones → undefined. */
function zoneNumber(label: string | undefined): string | undefined {
  return label === undefined ? undefined : /^.+-(\d+)$/.exec(label)?.[1];
}

export function createAzurediskProvisioner(azure: AzureContext): VolumeDriver {
  const { config } = azure;

  function plan(request: ProvisionRequest): DiskPlan {
    const { claim, storageClass } = request;
    checkAccessModes(claim, ['ReadWriteOnce'], 'azuredisk');
    const p = readParameters(request);
    const skuName = p.skuName ?? p.storageaccounttype ?? 'StandardSSD_LRS';
    if ((p.diskIOPSReadWrite !== undefined || p.diskMBpsReadWrite !== undefined) && !PROVISIONED_PERFORMANCE.has(skuName)) {
      throw new InvalidInput(`parameters 'diskIOPSReadWrite' and 'diskMBpsReadWrite' apply to UltraSSD_LRS and PremiumV2_LRS disks only, not ${skuName}`);
    }
    const waitsForNode = storageClass.volumeBindingMode === 'WaitForFirstConsumer';
    if (skuName.endsWith('_ZRS') && p.zones !== undefined) throw new InvalidInput(`parameter 'zones' cannot be used with ${skuName}: zone-redundant disks span the zones`);
    if (waitsForNode && p.zones !== undefined) {
      throw new InvalidInput("parameter 'zones' cannot be used with volumeBindingMode WaitForFirstConsumer: the disk goes to the selected node's zone");
    }
    const zones = p.zones?.split(',').map((zone) => zone.trim());
    // Immediate classes spread claims over the listed zones by their uid.
    const listed = zones?.[parseInt((claim.metadata?.uid ?? '0').slice(0, 8), 16) % zones.length];
    // A zone-redundant disk spans the zones: it takes none, and any node can use it.
    const zone = p.zoned === 'false' || skuName.endsWith('_ZRS') ? undefined : waitsForNode ? zoneNumber(request.nodeZone) : listed;
    if (zone === undefined && skuName === 'UltraSSD_LRS') throw new InvalidInput('UltraSSD_LRS disks must be zonal: use WaitForFirstConsumer in a zonal cluster, or list zones');
    const options = parseOptions({
      diskName: request.volumeName,
      diskURI: `/subscriptions/${config.subscriptionId}/resourceGroups/${p.resourceGroup ?? config.resourceGroup}/providers/Microsoft.Compute/disks/${request.volumeName}`,
      ...(p.cachingMode !== undefined && { cachingMode: p.cachingMode }),
      ...classMountOptions(storageClass),
    });
    return {
      resourceGroup: p.resourceGroup ?? config.resourceGroup,
      skuName,
      zone,
      sizeGiB: roundUpGiB(request.requestBytes, MINIMUM_GIB[skuName as keyof typeof MINIMUM_GIB] ?? 1),
      fsType: p.fsType,
      options,
      tags: { ...parseTags(p.tags), [CREATED_BY_TAG]: CREATED_BY, [CLAIM_UID_TAG]: claim.metadata?.uid ?? '' },
      parameters: p,
    };
  }

  async function findOrCreate(request: ProvisionRequest, disk: DiskPlan): Promise<ManagedDisk> {
    const existing = await readManagedDisk(azure.compute, disk.resourceGroup, request.volumeName, azure.signal());
    if (existing !== undefined) {
      if (existing.tags[CLAIM_UID_TAG] !== request.claim.metadata?.uid) {
        throw new InvalidInput(`a disk named ${request.volumeName} already exists in resource group ${disk.resourceGroup} and was not made for this claim; remove or rename it`);
      }
      // Made by an earlier try that stopped before the PV was saved, or still being made.
      if (existing.provisioningState === 'Succeeded') return existing;
    }
    return createManagedDisk(
      azure.compute,
      {
        resourceGroup: disk.resourceGroup,
        name: request.volumeName,
        location: config.location ?? '',
        sizeGB: disk.sizeGiB,
        skuName: disk.skuName,
        zones: disk.zone === undefined ? undefined : [disk.zone],
        tags: disk.tags,
        diskIOPSReadWrite: disk.parameters.diskIOPSReadWrite,
        diskMBpsReadWrite: disk.parameters.diskMBpsReadWrite,
        diskEncryptionSetID: disk.parameters.diskEncryptionSetID,
        networkAccessPolicy: disk.parameters.networkAccessPolicy,
      },
      azure.signal(),
    );
  }

  return {
    provisioner: 'azure/azuredisk',
    driver: 'azuredisk',
    check: (request) => void plan(request),

    async provision(request): Promise<Provisioned> {
      const disk = plan(request);
      const created = await findOrCreate(request, disk);
      const zone = created.zones[0];
      const zoneLabel = zone === undefined ? undefined : `${config.location ?? ''}-${zone}`;
      return {
        capacityGiB: created.sizeGB,
        source: { driver: 'azure/azuredisk', ...(disk.fsType && { fsType: disk.fsType }), options: disk.options },
        ...(zoneLabel !== undefined && {
          nodeAffinity: { required: { nodeSelectorTerms: [{ matchExpressions: [{ key: ZONE_LABEL, operator: 'In', values: [zoneLabel] }] }] } },
          labels: { [ZONE_LABEL]: zoneLabel, 'topology.kubernetes.io/region': config.location ?? '' },
        }),
      };
    },

    async delete(volume: V1PersistentVolume): Promise<DeleteOutcome> {
      const uri = parseDiskUri(volumeOptions(volume)['diskURI'] ?? '');
      const disk = await readManagedDisk(azure.compute, uri.resourceGroup, uri.name, azure.signal());
      if (disk === undefined) return { status: 'deleted' };
      if (disk.managedBy !== undefined) return { status: 'waiting', reason: `disk ${uri.name} is still attached to ${disk.managedBy}; it is deleted once detached` };
      await deleteManagedDisk(azure.compute, uri.resourceGroup, uri.name, azure.signal());
      return { status: 'deleted' };
    },

    async resize(volume: V1PersistentVolume, requestBytes: number): Promise<ResizeOutcome> {
      const uri = parseDiskUri(volumeOptions(volume)['diskURI'] ?? '');
      const disk = await readManagedDisk(azure.compute, uri.resourceGroup, uri.name, azure.signal());
      if (disk === undefined) return { status: 'waiting', reason: `disk ${uri.name} does not exist in resource group ${uri.resourceGroup}` };
      const wanted = roundUpGiB(requestBytes, MINIMUM_GIB[disk.skuName as keyof typeof MINIMUM_GIB] ?? 1);
      if (wanted <= disk.sizeGB) return { status: 'unchanged' };
      if (disk.managedBy !== undefined && OFFLINE_RESIZE_ONLY.has(disk.skuName)) {
        return { status: 'waiting', reason: `Azure cannot grow a ${disk.skuName} disk while it is attached; disk ${uri.name} grows to ${wanted} GiB once its pod stops and it is detached` };
      }
      try {
        const grown = await resizeManagedDisk(azure.compute, uri.resourceGroup, uri.name, wanted, azure.signal());
        return { status: 'grown', fromGiB: disk.sizeGB, toGiB: grown.sizeGB };
      } catch (error) {
        // Azure's own answer for a disk it will not grow while attached: wait for the detach.
        const { status, code, message } = armFailure(error);
        if (disk.managedBy === undefined || status !== 409 || code !== 'OperationNotAllowed') throw error;
        return { status: 'waiting', reason: `Azure will not grow disk ${uri.name} while it is attached (${message}); it grows to ${wanted} GiB once detached` };
      }
    },
  };
}

/** Through the driver's own schema, so the PV holds what `azuredisk` itself accepts. */
function parseOptions(options: Record<string, string>): Record<string, string> {
  parseDriverOptions(azurediskOptions, options);
  return options;
}
