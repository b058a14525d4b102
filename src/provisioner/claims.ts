// Which claims are ours and what the PV for one looks like, as the Kubernetes PV controller and
// the sig-storage provisioner library define them (docs/provisioner.md §2, §3). No I/O here.
import type { V1PersistentVolume, V1PersistentVolumeClaim, V1StorageClass, V1VolumeNodeAffinity } from '../kube/client.ts';

export const PROVISIONER_KEY = 'volume.kubernetes.io/storage-provisioner';
export const BETA_PROVISIONER_KEY = 'volume.beta.kubernetes.io/storage-provisioner';
export const SELECTED_NODE_KEY = 'volume.kubernetes.io/selected-node';
export const PROVISIONED_BY_KEY = 'pv.kubernetes.io/provisioned-by';
/** Tags the provisioner puts on what it creates in Azure, so a retry finds it again. */
export const CREATED_BY_TAG = 'k8s-azure-created-by';
export const CREATED_BY = 'azure-flexvolume-provisioner';
export const CLAIM_UID_TAG = 'kubernetes.io-created-for-pvc-uid';

export const GiB = 1024 ** 3;

/** The claim's key in the work queue and in events. */
export function claimKey(claim: V1PersistentVolumeClaim): string {
  return `${claim.metadata?.namespace ?? ''}/${claim.metadata?.name ?? ''}`;
}

export function volumeNameFor(claim: V1PersistentVolumeClaim): string {
  return `pvc-${claim.metadata?.uid ?? ''}`;
}

export function provisionerOf(claim: V1PersistentVolumeClaim): string | undefined {
  const annotations = claim.metadata?.annotations ?? {};
  return annotations[PROVISIONER_KEY] ?? annotations[BETA_PROVISIONER_KEY];
}

export type Selection =
  | { kind: 'provision'; storageClass: V1StorageClass; selectedNode: string | undefined }
  | { kind: 'skip'; reason: string };

/** Whether the claim is to be provisioned now, by one of `names`; `classOf` reads the class cache. */
export function selectClaim(
  claim: V1PersistentVolumeClaim,
  names: readonly string[],
  classOf: (name: string) => V1StorageClass | undefined,
): Selection {
  const provisioner = provisionerOf(claim);
  if (provisioner === undefined || !names.includes(provisioner)) return { kind: 'skip', reason: 'not handed to us' };
  if (claim.metadata?.deletionTimestamp !== undefined) return { kind: 'skip', reason: 'being deleted' };
  if ((claim.spec?.volumeName ?? '') !== '') return { kind: 'skip', reason: 'already has a volume' };
  const className = claim.spec?.storageClassName ?? '';
  const storageClass = classOf(className);
  if (storageClass === undefined || storageClass.provisioner !== provisioner) return { kind: 'skip', reason: `class '${className}' is not ours` };
  const selectedNode = claim.metadata?.annotations?.[SELECTED_NODE_KEY];
  if (storageClass.volumeBindingMode === 'WaitForFirstConsumer' && selectedNode === undefined) {
    return { kind: 'skip', reason: 'waiting for the scheduler to pick a node' };
  }
  return { kind: 'provision', storageClass, selectedNode };
}

const QUANTITY = /^([+]?[0-9.]+(?:[eE][+-]?[0-9]+)?)(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E)?$/;
const SUFFIX: Record<string, number> = {
  Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3, Ti: 1024 ** 4, Pi: 1024 ** 5, Ei: 1024 ** 6,
  n: 1e-9, u: 1e-6, m: 1e-3, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18,
};

/** A Kubernetes quantity in bytes; undefined when it is not one. */
export function quantityBytes(text: string | undefined): number | undefined {
  const match = QUANTITY.exec((text ?? '').trim());
  if (!match) return undefined;
  const value = Number(match[1]) * (match[2] ? (SUFFIX[match[2]] ?? 1) : 1);
  return Number.isFinite(value) ? Math.ceil(value) : undefined;
}

export function requestedBytes(claim: V1PersistentVolumeClaim): number | undefined {
  return quantityBytes(claim.spec?.resources?.requests?.['storage']);
}

/** Whole GiB, rounded up, at least `minimumGiB`. */
export function roundUpGiB(bytes: number, minimumGiB = 1): number {
  return Math.max(Math.ceil(bytes / GiB), minimumGiB);
}

export interface VolumeSource {
  driver: string;
  fsType?: string;
  options: Record<string, string>;
  secretRef?: { name: string; namespace: string };
}

export interface VolumeSpec {
  name: string;
  provisioner: string;
  claim: V1PersistentVolumeClaim;
  storageClass: V1StorageClass;
  capacityGiB: number;
  source: VolumeSource;
  nodeAffinity?: V1VolumeNodeAffinity;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

export function buildVolume(spec: VolumeSpec): V1PersistentVolume {
  const { claim, storageClass } = spec;
  return {
    apiVersion: 'v1',
    kind: 'PersistentVolume',
    metadata: {
      name: spec.name,
      annotations: { ...spec.annotations, [PROVISIONED_BY_KEY]: spec.provisioner },
      ...(spec.labels && { labels: spec.labels }),
    },
    spec: {
      capacity: { storage: `${spec.capacityGiB}Gi` },
      accessModes: claim.spec?.accessModes ?? ['ReadWriteOnce'],
      persistentVolumeReclaimPolicy: storageClass.reclaimPolicy ?? 'Delete',
      storageClassName: storageClass.metadata?.name ?? '',
      volumeMode: 'Filesystem',
      claimRef: {
        apiVersion: 'v1',
        kind: 'PersistentVolumeClaim',
        namespace: claim.metadata?.namespace ?? '',
        name: claim.metadata?.name ?? '',
        uid: claim.metadata?.uid ?? '',
        ...(claim.metadata?.resourceVersion && { resourceVersion: claim.metadata.resourceVersion }),
      },
      flexVolume: {
        driver: spec.source.driver,
        ...(spec.source.fsType && { fsType: spec.source.fsType }),
        options: spec.source.options,
        ...(spec.source.secretRef && { secretRef: spec.source.secretRef }),
      },
      ...(spec.nodeAffinity && { nodeAffinity: spec.nodeAffinity }),
    },
  };
}

/** A PV this provisioner made (its annotation names one of ours). */
export function isOurVolume(volume: V1PersistentVolume, names: readonly string[]): boolean {
  const by = volume.metadata?.annotations?.[PROVISIONED_BY_KEY];
  return by !== undefined && names.includes(by);
}
