// What each of the three drivers does for the provisioner. The claim loop owns Kubernetes (which
// claims, the PV object, events, retries); a driver owns its storage and its parameters.
import type { DriverName } from '../flexvolume/driver.ts';
import { InvalidInput } from '../flexvolume/errors.ts';
import type { V1PersistentVolume, V1PersistentVolumeClaim, V1StorageClass, V1VolumeNodeAffinity } from '../kube/client.ts';
import type { VolumeSource } from './claims.ts';

export interface ProvisionRequest {
  /** The PV's name, `pvc-<claim uid>`; the storage is named after it so a retry finds it. */
  volumeName: string;
  claim: V1PersistentVolumeClaim;
  storageClass: V1StorageClass;
  requestBytes: number;
  /** The selected node's `topology.kubernetes.io/zone` label (WaitForFirstConsumer classes). */
  nodeZone: string | undefined;
}

export interface Provisioned {
  capacityGiB: number;
  source: VolumeSource;
  nodeAffinity?: V1VolumeNodeAffinity;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

export type DeleteOutcome = { status: 'deleted' } | { status: 'waiting'; reason: string };

export type ResizeOutcome =
  | { status: 'unchanged' }
  | { status: 'grown'; fromGiB: number; toGiB: number }
  | { status: 'waiting'; reason: string };

export interface VolumeDriver {
  /** The StorageClass `provisioner:` value and the PV's `flexVolume.driver`. */
  readonly provisioner: string;
  readonly driver: DriverName;
  /** Refuses bad parameters and claim shapes (InvalidInput) before anything is created. */
  check(request: ProvisionRequest): void;
  provision(request: ProvisionRequest): Promise<Provisioned>;
  /** Removes the storage behind the PV; storage already gone counts as deleted. */
  delete(volume: V1PersistentVolume): Promise<DeleteOutcome>;
  /** Grows the storage to at least `requestBytes` if it is smaller in Azure (or on the server); never shrinks. */
  resize(volume: V1PersistentVolume, requestBytes: number): Promise<ResizeOutcome>;
}

/** The PV's flexVolume options, which this provisioner wrote or a person did. */
export function volumeOptions(volume: V1PersistentVolume): Record<string, string> {
  return volume.spec?.flexVolume?.options ?? {};
}

/** A class's `mountOptions`, as the one `mountOptions` option FlexVolume drivers read. */
export function classMountOptions(storageClass: V1StorageClass): Record<string, string> {
  const options = storageClass.mountOptions ?? [];
  return options.length === 0 ? {} : { mountOptions: options.join(',') };
}

export function classParameters(storageClass: V1StorageClass): Record<string, string> {
  return storageClass.parameters ?? {};
}

/** Access modes outside `allowed` are refused by name. */
export function checkAccessModes(claim: V1PersistentVolumeClaim, allowed: readonly string[], driver: string): void {
  const refused = (claim.spec?.accessModes ?? []).filter((mode) => !allowed.includes(mode));
  if (refused.length > 0) {
    throw new InvalidInput(`${driver} volumes support access modes ${allowed.join(', ')}; the claim asks for ${refused.join(', ')}`);
  }
}

/** `key1=value1,key2=value2`, as the CSI drivers spell a class's `tags`. */
export function parseTags(text: string | undefined): Record<string, string> {
  if (text === undefined || text.trim() === '') return {};
  const tags: Record<string, string> = {};
  for (const entry of text.split(',')) {
    const equals = entry.indexOf('=');
    const key = (equals < 0 ? entry : entry.slice(0, equals)).trim();
    if (key === '') throw new InvalidInput(`parameter 'tags': '${entry}' is not key=value; write tags as key1=value1,key2=value2`);
    tags[key] = equals < 0 ? '' : entry.slice(equals + 1).trim();
  }
  return tags;
}
