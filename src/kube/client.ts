// The provisioner's narrow room for the Kubernetes API (as src/azure/ is for ARM): one client,
// typed calls for the few objects it reads and writes, with "already exists" and "not found"
// turned into answers instead of errors.
import {
  ApiException,
  CoordinationV1Api,
  CoreV1Api,
  KubeConfig,
  StorageV1Api,
  V1MicroTime,
  type CoreV1Event,
  type V1Lease,
  type V1Node,
  type V1PersistentVolume,
  type V1Secret,
} from '@kubernetes/client-node';

export { V1MicroTime };
export type {
  CoreV1Event,
  V1Lease,
  V1Node,
  V1PersistentVolume,
  V1PersistentVolumeClaim,
  V1Secret,
  V1StorageClass,
  V1VolumeNodeAffinity,
} from '@kubernetes/client-node';

/** In-cluster config (the pod's service account) unless a kubeconfig file is named. */
export function loadKubeConfig(kubeconfig: string | undefined): KubeConfig {
  const config = new KubeConfig();
  if (kubeconfig === undefined) config.loadFromCluster();
  else config.loadFromFile(kubeconfig);
  return config;
}

export function statusOf(error: unknown): number | undefined {
  return error instanceof ApiException ? error.code : undefined;
}

/** What the API server said, for an event or a log line: its Status message, not the raw body. */
export function describeKubeError(error: unknown): string {
  if (!(error instanceof ApiException)) return error instanceof Error ? error.message : String(error);
  const body = error.body as unknown;
  let message: string | undefined;
  try {
    message = (typeof body === 'string' ? (JSON.parse(body) as { message?: string }) : (body as { message?: string } | undefined))?.message;
  } catch {
    message = undefined;
  }
  return `the API server answered ${error.code}${message ? `: ${message}` : ''}`;
}

async function orUndefinedOn404<T>(read: Promise<T>): Promise<T | undefined> {
  try {
    return await read;
  } catch (error) {
    if (statusOf(error) === 404) return undefined;
    throw error;
  }
}

export class Kube {
  readonly config: KubeConfig;
  private readonly core: CoreV1Api;
  private readonly coordination: CoordinationV1Api;
  readonly storage: StorageV1Api;

  constructor(config: KubeConfig) {
    this.config = config;
    this.core = config.makeApiClient(CoreV1Api);
    this.coordination = config.makeApiClient(CoordinationV1Api);
    this.storage = config.makeApiClient(StorageV1Api);
  }

  listClaims() {
    return this.core.listPersistentVolumeClaimForAllNamespaces();
  }

  listVolumes() {
    return this.core.listPersistentVolume();
  }

  listStorageClasses() {
    return this.storage.listStorageClass();
  }

  readVolume(name: string): Promise<V1PersistentVolume | undefined> {
    return orUndefinedOn404(this.core.readPersistentVolume({ name }));
  }

  /** 'exists' when a PV of that name is already there: the name is the claim's, so it is ours from an earlier try. */
  async createVolume(volume: V1PersistentVolume): Promise<'created' | 'exists'> {
    try {
      await this.core.createPersistentVolume({ body: volume });
      return 'created';
    } catch (error) {
      if (statusOf(error) === 409) return 'exists';
      throw error;
    }
  }

  /** Deleting a PV that is already gone succeeds. */
  async deleteVolume(name: string): Promise<void> {
    await orUndefinedOn404(this.core.deletePersistentVolume({ name }));
  }

  readNode(name: string): Promise<V1Node | undefined> {
    return orUndefinedOn404(this.core.readNode({ name }));
  }

  async createEvent(event: CoreV1Event): Promise<void> {
    await this.core.createNamespacedEvent({ namespace: event.metadata?.namespace ?? 'default', body: event });
  }

  readSecret(namespace: string, name: string): Promise<V1Secret | undefined> {
    return orUndefinedOn404(this.core.readNamespacedSecret({ namespace, name }));
  }

  /** Creates the Secret, or replaces its data when one of that name exists (a rotated key). */
  async saveSecret(secret: V1Secret & { metadata: { name: string; namespace: string } }): Promise<void> {
    const { name, namespace } = secret.metadata;
    try {
      await this.core.createNamespacedSecret({ namespace, body: secret });
    } catch (error) {
      if (statusOf(error) !== 409) throw error;
      const current = await this.core.readNamespacedSecret({ namespace, name });
      if (current.type !== secret.type) {
        throw new Error(`a Secret ${namespace}/${name} of type '${current.type ?? ''}' is in the way; the kubelet needs type '${secret.type ?? ''}'`);
      }
      await this.core.replaceNamespacedSecret({ namespace, name, body: { ...secret, metadata: { ...secret.metadata, resourceVersion: current.metadata?.resourceVersion } } });
    }
  }

  async deleteSecret(namespace: string, name: string): Promise<void> {
    await orUndefinedOn404(this.core.deleteNamespacedSecret({ namespace, name }));
  }

  readLease(namespace: string, name: string): Promise<V1Lease | undefined> {
    return orUndefinedOn404(this.coordination.readNamespacedLease({ namespace, name }));
  }

  /** undefined when someone else created or changed it first (409): optimistic concurrency. */
  async createLease(namespace: string, lease: V1Lease): Promise<V1Lease | undefined> {
    try {
      return await this.coordination.createNamespacedLease({ namespace, body: lease });
    } catch (error) {
      if (statusOf(error) === 409) return undefined;
      throw error;
    }
  }

  /** undefined when the lease changed since `lease.metadata.resourceVersion` (409). */
  async replaceLease(namespace: string, lease: V1Lease & { metadata: { name: string } }): Promise<V1Lease | undefined> {
    try {
      return await this.coordination.replaceNamespacedLease({ namespace, name: lease.metadata.name, body: lease });
    } catch (error) {
      if (statusOf(error) === 409) return undefined;
      throw error;
    }
  }
}
