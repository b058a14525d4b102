// azure/azurefile: one file share per claim (named after the PV unless the class names one), in
// the class's storage account or one this provisioner made and tagged, with the account key in a
// Secret of type azure/azurefile (the only type the kubelet hands to this driver).
import { createHash } from 'node:crypto';
import * as z from 'zod';
import { azurefileOptions } from '../drivers/azurefile.ts';
import { InvalidInput } from '../flexvolume/errors.ts';
import { caselessEnum, parseDriverOptions } from '../flexvolume/options.ts';
import {
  createFileShare,
  createStorageAccount,
  deleteFileShare,
  findStorageAccount,
  readFileShare,
  resizeFileShare,
  storageAccountKey,
  type ShareRef,
} from '../azure/file-shares.ts';
import type { Kube, V1PersistentVolume } from '../kube/client.ts';
import type { AzureContext } from './azure-context.ts';
import { CREATED_BY, CREATED_BY_TAG, roundUpGiB } from './claims.ts';
import {
  checkAccessModes,
  classMountOptions,
  classParameters,
  volumeOptions,
  type DeleteOutcome,
  type ProvisionRequest,
  type Provisioned,
  type ResizeOutcome,
  type VolumeDriver,
} from './volume-driver.ts';

const FILE_SKUS = ['Standard_LRS', 'Standard_GRS', 'Standard_RAGRS', 'Standard_ZRS', 'Standard_GZRS', 'Standard_RAGZRS', 'Premium_LRS', 'Premium_ZRS'] as const;
/** Azure's smallest premium share. */
const PREMIUM_MINIMUM_GIB = 100;
/** Where the share lives, kept on the PV: azurefile's options carry no resource group. */
const RESOURCE_GROUP_ANNOTATION = 'azure-flexvolume/resource-group';
/** Share metadata keys must be identifiers: no dots or dashes. */
const SHARE_CLAIM_KEY = 'createdforpvcuid';
const SECRET_TYPE = 'azure/azurefile';

const parameters = z.object({
  skuName: z.optional(caselessEnum(FILE_SKUS, 'a storage SKU')),
  storageAccount: z.string().regex(/^[a-z0-9]{3,24}$/, 'must be a storage account name: 3 to 24 lower-case letters and digits').optional(),
  resourceGroup: z.string().regex(/^[-\w._()]{1,90}$/, 'must be a resource group name').optional(),
  location: z.string().regex(/^[a-z0-9]+$/i, 'must be an Azure region name such as westeurope').optional(),
  protocol: z
    .string()
    .transform((text) => text.trim().toLowerCase())
    .pipe(z.enum(['smb', 'nfs'], { error: 'must be smb or nfs' }))
    .optional(),
  shareName: z.string().optional(),
  secretNamespace: z.string().regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'must be a namespace name').optional(),
});

function secretName(account: string): string {
  return `azure-storage-account-${account}-secret`;
}

/** The same account for the same place and kind, so a retry or a second claim finds it again. */
function accountName(subscriptionId: string, resourceGroup: string, location: string, skuName: string): string {
  return `f${createHash('sha256').update([subscriptionId, resourceGroup, location, skuName].join('/').toLowerCase()).digest('hex').slice(0, 23)}`;
}

/** One account creation per kind at a time in this process, so parallel claims share it. */
const accountLocks = new Map<string, Promise<unknown>>();
async function serialized<T>(key: string, work: () => Promise<T>): Promise<T> {
  const previous = accountLocks.get(key) ?? Promise.resolve();
  const next = previous.catch(() => undefined).then(work);
  accountLocks.set(key, next);
  try {
    return await next;
  } finally {
    if (accountLocks.get(key) === next) accountLocks.delete(key);
  }
}

export function createAzurefileProvisioner(azure: AzureContext, kube: Kube): VolumeDriver {
  const { config } = azure;

  function plan(request: ProvisionRequest) {
    checkAccessModes(request.claim, ['ReadWriteOnce', 'ReadOnlyMany', 'ReadWriteMany'], 'azurefile');
    const p = parseDriverOptions(() => parameters, classParameters(request.storageClass));
    const protocol = p.protocol ?? 'smb';
    const skuName = p.skuName ?? (protocol === 'nfs' ? 'Premium_LRS' : 'Standard_LRS');
    const premium = skuName.startsWith('Premium');
    if (protocol === 'nfs' && !premium) throw new InvalidInput(`NFS file shares need a Premium FileStorage account; skuName ${skuName} cannot serve protocol nfs`);
    const location = p.location ?? config.location;
    if (location === undefined) throw new InvalidInput(`parameter 'location' is needed: ${config.file} names no location`);
    const shareName = p.shareName ?? request.volumeName;
    const resourceGroup = p.resourceGroup ?? config.resourceGroup;
    const options = { shareName, protocol, ...classMountOptions(request.storageClass), ...(p.storageAccount !== undefined && { storageAccount: p.storageAccount }) };
    // Through the driver's own schema, so the PV holds what `azurefile` itself accepts.
    parseDriverOptions(azurefileOptions, options);
    return {
      p,
      protocol,
      skuName,
      kind: premium ? ('FileStorage' as const) : ('StorageV2' as const),
      location,
      resourceGroup,
      shareName,
      options,
      quotaGiB: roundUpGiB(request.requestBytes, premium ? PREMIUM_MINIMUM_GIB : 1),
      secretNamespace: p.secretNamespace ?? request.claim.metadata?.namespace ?? 'default',
    };
  }

  async function accountFor(share: ReturnType<typeof plan>): Promise<string> {
    if (share.p.storageAccount !== undefined) return share.p.storageAccount;
    const tags = { [CREATED_BY_TAG]: CREATED_BY };
    const want = { resourceGroup: share.resourceGroup, location: share.location, skuName: share.skuName, kind: share.kind, tags };
    return serialized(JSON.stringify(want), async () => {
      const found = await findStorageAccount(azure.storage, want, azure.signal());
      if (found !== undefined) return found;
      const name = accountName(config.subscriptionId, share.resourceGroup, share.location, share.skuName);
      await createStorageAccount(
        azure.storage,
        { resourceGroup: share.resourceGroup, name, location: share.location, skuName: share.skuName, kind: share.kind, httpsOnly: share.protocol !== 'nfs', tags },
        azure.signal(),
      );
      return name;
    });
  }

  function shareRef(volume: V1PersistentVolume): ShareRef {
    const options = volumeOptions(volume);
    return {
      resourceGroup: volume.metadata?.annotations?.[RESOURCE_GROUP_ANNOTATION] ?? config.resourceGroup,
      account: options['storageAccount'] ?? '',
      share: options['shareName'] ?? '',
    };
  }

  /** The Secret stays while another PV still refers to it. */
  async function deleteSecretIfUnused(volume: V1PersistentVolume): Promise<void> {
    const ref = volume.spec?.flexVolume?.secretRef;
    if (!ref?.name) return;
    const namespace = ref.namespace ?? 'default';
    const others = (await kube.listVolumes()).items.filter(
      (other) => other.metadata?.name !== volume.metadata?.name && other.spec?.flexVolume?.secretRef?.name === ref.name && (other.spec?.flexVolume?.secretRef?.namespace ?? 'default') === namespace,
    );
    if (others.length === 0) await kube.deleteSecret(namespace, ref.name);
  }

  return {
    provisioner: 'azure/azurefile',
    driver: 'azurefile',
    check: (request) => void plan(request),

    async provision(request): Promise<Provisioned> {
      const share = plan(request);
      const account = await accountFor(share);
      const ref = { resourceGroup: share.resourceGroup, account, share: share.shareName };
      // A share the class names serves many claims and belongs to none.
      const metadata: Record<string, string> = share.p.shareName === undefined ? { [SHARE_CLAIM_KEY]: request.claim.metadata?.uid ?? '', createdby: CREATED_BY } : { createdby: CREATED_BY };
      const existing = await readFileShare(azure.storage, ref, azure.signal());
      const info =
        existing ??
        (await createFileShare(azure.storage, ref, { quotaGiB: share.quotaGiB, protocol: share.protocol, metadata }, azure.signal()));
      let secretRef: { name: string; namespace: string } | undefined;
      if (share.protocol === 'smb') {
        const key = await storageAccountKey(azure.storage, share.resourceGroup, account, azure.signal());
        secretRef = { name: secretName(account), namespace: share.secretNamespace };
        await kube.saveSecret({
          apiVersion: 'v1',
          kind: 'Secret',
          type: SECRET_TYPE,
          metadata: { name: secretRef.name, namespace: secretRef.namespace, labels: { [CREATED_BY_TAG]: CREATED_BY } },
          stringData: { azurestorageaccountname: account, azurestorageaccountkey: key },
        });
      }
      return {
        capacityGiB: Math.max(info.quotaGiB, share.quotaGiB),
        source: { driver: 'azure/azurefile', options: { ...share.options, storageAccount: account }, ...(secretRef && { secretRef }) },
        annotations: { [RESOURCE_GROUP_ANNOTATION]: share.resourceGroup },
      };
    },

    async delete(volume: V1PersistentVolume): Promise<DeleteOutcome> {
      const ref = shareRef(volume);
      const share = await readFileShare(azure.storage, ref, azure.signal());
      // Only a share made for this claim: one the class names for many claims, or one made by hand, stays.
      if (share !== undefined && share.metadata[SHARE_CLAIM_KEY] === volume.spec?.claimRef?.uid) {
        await deleteFileShare(azure.storage, ref, azure.signal());
      }
      await deleteSecretIfUnused(volume);
      return { status: 'deleted' };
    },

    async resize(volume: V1PersistentVolume, requestBytes: number): Promise<ResizeOutcome> {
      const ref = shareRef(volume);
      const share = await readFileShare(azure.storage, ref, azure.signal());
      if (share === undefined) return { status: 'waiting', reason: `file share ${ref.share} does not exist in storage account ${ref.account}` };
      const wanted = roundUpGiB(requestBytes);
      if (wanted <= share.quotaGiB) return { status: 'unchanged' };
      const grown = await resizeFileShare(azure.storage, ref, wanted, azure.signal());
      return { status: 'grown', fromGiB: share.quotaGiB, toGiB: grown.quotaGiB };
    },
  };
}
