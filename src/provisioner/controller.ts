// The claim loop: caches of claims, volumes and classes (list + watch), a work queue with
// per-key backoff, and the three things the provisioner does: provision a claim handed to one of
// our drivers, delete the storage of a Released volume of ours, and grow storage whose claim asks
// for more than Azure (or the server) has.
import { setTimeout as sleep } from 'node:timers/promises';
import { InvalidInput, describeError } from '../flexvolume/errors.ts';
import { describeKubeError, type Kube, type V1PersistentVolume, type V1PersistentVolumeClaim, type V1StorageClass } from '../kube/client.ts';
import { watchCache, type WatchedCache } from '../kube/informers.ts';
import {
  SELECTED_NODE_KEY,
  buildVolume,
  claimKey,
  isOurVolume,
  quantityBytes,
  requestedBytes,
  selectClaim,
  volumeNameFor,
} from './claims.ts';
import type { EventRecorder, EventTarget } from './events.ts';
import type { Metrics, Operation, Result } from './metrics.ts';
import type { ProvisionRequest, VolumeDriver } from './volume-driver.ts';
import { WorkQueue } from './work-queue.ts';

export interface ControllerOptions {
  kube: Kube;
  drivers: readonly VolumeDriver[];
  events: EventRecorder;
  metrics: Metrics;
  workers: number;
  retryBaseMs: number;
  retryMaxMs: number;
  resyncMs: number;
  /** Saving a PV: tries and the pause between them (the library: 5 × 10 s). */
  saveTries: number;
  saveIntervalMs: number;
  log: (message: string) => void;
}

const ZONE_LABELS = ['topology.kubernetes.io/zone', 'failure-domain.beta.kubernetes.io/zone'];

/** A failure (or a wait) already reported by an event; the queue only retries it later. */
class Reported extends Error {
  readonly result: Result;

  constructor(message: string, result: Result = 'failure') {
    super(message);
    this.result = result;
  }
}

function claimTarget(claim: V1PersistentVolumeClaim): EventTarget {
  return {
    kind: 'PersistentVolumeClaim',
    name: claim.metadata?.name ?? '',
    namespace: claim.metadata?.namespace ?? '',
    uid: claim.metadata?.uid ?? '',
    resourceVersion: claim.metadata?.resourceVersion ?? '',
  };
}

function volumeTarget(volume: V1PersistentVolume): EventTarget {
  return { kind: 'PersistentVolume', name: volume.metadata?.name ?? '', uid: volume.metadata?.uid ?? '' };
}

export class Controller {
  private readonly options: ControllerOptions;
  private readonly names: string[];
  private readonly queue: WorkQueue;
  private claims: WatchedCache<V1PersistentVolumeClaim> | undefined;
  private volumes: WatchedCache<V1PersistentVolume> | undefined;
  private classes: WatchedCache<V1StorageClass> | undefined;
  private resync: NodeJS.Timeout | undefined;
  synced = false;

  constructor(options: ControllerOptions) {
    this.options = options;
    this.names = options.drivers.map((driver) => driver.provisioner);
    this.queue = new WorkQueue({
      workers: options.workers,
      baseDelayMs: options.retryBaseMs,
      maxDelayMs: options.retryMaxMs,
      handle: (key) => this.sync(key),
      onError: (key, error, retryInMs) => {
        if (!(error instanceof Reported)) options.log(`${key}: ${describeKubeError(error)}`);
        options.log(`${key}: tried ${this.queue.failureCount(key)} time(s); next try in ${Math.round(retryInMs / 1000)} s`);
      },
    });
  }

  async start(): Promise<void> {
    const { kube, log } = this.options;
    this.classes = watchCache({ config: kube.config, path: '/apis/storage.k8s.io/v1/storageclasses', list: () => kube.listStorageClasses(), onChange: () => this.enqueueAllClaims(), log });
    this.volumes = watchCache({
      config: kube.config,
      path: '/api/v1/persistentvolumes',
      list: () => kube.listVolumes(),
      onChange: (volume) => this.onVolume(volume),
      log,
    });
    this.claims = watchCache({
      config: kube.config,
      path: '/api/v1/persistentvolumeclaims',
      list: () => kube.listClaims(),
      onChange: (claim) => this.queue.add(`claim:${claimKey(claim)}`),
      log,
    });
    await Promise.all([this.classes.synced, this.volumes.synced, this.claims.synced]);
    this.synced = true;
    log(`caches synced: ${this.claims.list().length} claims, ${this.volumes.list().length} volumes, ${this.classes.list().length} classes`);
    this.enqueueAllClaims();
    for (const volume of this.volumes.list()) this.onVolume(volume);
    // The library's informers resync; so does this loop, to retry what no event will bring back.
    this.resync = setInterval(() => {
      this.enqueueAllClaims();
      for (const volume of this.volumes?.list() ?? []) this.onVolume(volume);
    }, this.options.resyncMs);
  }

  /** Stops at once taking new work and waits for what is running. */
  async stop(): Promise<void> {
    clearInterval(this.resync);
    await Promise.all([this.claims?.stop(), this.volumes?.stop(), this.classes?.stop()]);
    await this.queue.stop();
  }

  private enqueueAllClaims(): void {
    for (const claim of this.claims?.list() ?? []) this.queue.add(`claim:${claimKey(claim)}`);
  }

  private onVolume(volume: V1PersistentVolume): void {
    if (isOurVolume(volume, this.names)) this.queue.add(`volume:${volume.metadata?.name ?? ''}`);
    // A bound claim's PV changing (its capacity raised by the controller-manager) may mean a resize.
    const ref = volume.spec?.claimRef;
    if (ref?.namespace && ref.name && volume.status?.phase === 'Bound') this.queue.add(`claim:${ref.namespace}/${ref.name}`);
  }

  private async sync(key: string): Promise<void> {
    const [kind, rest = ''] = key.split(/:(.*)/s);
    if (kind === 'volume') return this.syncVolume(rest);
    const [namespace = '', name = ''] = rest.split('/');
    const claim = this.claims?.get(name, namespace);
    if (claim === undefined) return;
    const selection = selectClaim(claim, this.names, (className) => this.classes?.get(className));
    if (selection.kind === 'provision') return this.provision(claim, selection.storageClass, selection.selectedNode);
    if ((claim.spec?.volumeName ?? '') !== '') return this.resizeIfNeeded(claim);
  }

  private driverFor(provisioner: string | undefined): VolumeDriver | undefined {
    return this.options.drivers.find((driver) => driver.provisioner === provisioner);
  }

  /** Runs one operation and counts it; `undefined` (nothing to do) is not counted. */
  private async timed(operation: Operation, driver: VolumeDriver, work: () => Promise<Result | undefined>): Promise<void> {
    const started = performance.now();
    const seconds = () => (performance.now() - started) / 1000;
    try {
      const result = await work();
      if (result !== undefined) this.options.metrics.record(operation, driver.driver, result, seconds());
    } catch (error) {
      this.options.metrics.record(operation, driver.driver, error instanceof Reported ? error.result : 'failure', seconds());
      throw error;
    }
  }

  // ---- provisioning ----

  private async provision(claim: V1PersistentVolumeClaim, storageClass: V1StorageClass, selectedNode: string | undefined): Promise<void> {
    const { kube, events } = this.options;
    const driver = this.driverFor(storageClass.provisioner) as VolumeDriver;
    const volumeName = volumeNameFor(claim);
    // The PV's name is the claim's: once it exists, an earlier try (or another replica) finished.
    if (this.volumes?.get(volumeName) !== undefined || (await kube.readVolume(volumeName)) !== undefined) return;
    const target = claimTarget(claim);
    await events.record(target, 'Normal', 'Provisioning', `External provisioner is provisioning volume for claim "${claimKey(claim)}"`);
    await this.timed('provision', driver, async () => {
      try {
        const request = await this.provisionRequest(claim, storageClass, selectedNode, volumeName);
        driver.check(request);
        const provisioned = await driver.provision(request);
        const volume = buildVolume({ name: volumeName, provisioner: driver.provisioner, claim, storageClass, ...provisioned });
        await this.saveVolume(volume, driver, target);
        await events.record(target, 'Normal', 'ProvisioningSucceeded', `Successfully provisioned volume ${volumeName}`);
        return 'success';
      } catch (error) {
        if (error instanceof Reported) throw error;
        await events.record(target, 'Warning', 'ProvisioningFailed', `failed to provision volume with StorageClass "${storageClass.metadata?.name ?? ''}": ${describeKubeError(error)}`);
        throw new Reported(describeError(error));
      }
    });
  }

  private async provisionRequest(
    claim: V1PersistentVolumeClaim,
    storageClass: V1StorageClass,
    selectedNode: string | undefined,
    volumeName: string,
  ): Promise<ProvisionRequest> {
    if (claim.spec?.volumeMode === 'Block') throw new InvalidInput('volumeMode Block is not supported: FlexVolume volumes are filesystems; use volumeMode Filesystem');
    if (claim.spec?.selector !== undefined && claim.spec.selector !== null) {
      throw new InvalidInput('claims with spec.selector cannot be provisioned dynamically; remove the selector or bind a PV by hand');
    }
    const requestBytes = requestedBytes(claim);
    if (requestBytes === undefined || requestBytes <= 0) throw new InvalidInput("the claim must request a storage size (spec.resources.requests.storage), such as '10Gi'");
    let nodeZone: string | undefined;
    if (selectedNode !== undefined) {
      const node = await this.options.kube.readNode(selectedNode);
      if (node === undefined) throw new InvalidInput(`the selected node ${selectedNode} (annotation ${SELECTED_NODE_KEY}) does not exist`);
      nodeZone = ZONE_LABELS.map((label) => node.metadata?.labels?.[label]).find((zone) => zone !== undefined);
    }
    return { volumeName, claim, storageClass, requestBytes, nodeZone };
  }

  /** Saves the PV, retrying; if it cannot be saved, the storage just made is removed again. */
  private async saveVolume(volume: V1PersistentVolume, driver: VolumeDriver, target: EventTarget): Promise<void> {
    const { kube, saveTries, saveIntervalMs, events } = this.options;
    let lastError: unknown;
    for (let attempt = 1; attempt <= saveTries; attempt++) {
      try {
        await kube.createVolume(volume);
        return;
      } catch (error) {
        lastError = error;
        this.options.log(`saving PV ${volume.metadata?.name ?? ''} failed (try ${attempt} of ${saveTries}): ${describeKubeError(error)}`);
        if (attempt < saveTries) await sleep(saveIntervalMs);
      }
    }
    try {
      const outcome = await driver.delete(volume);
      if (outcome.status === 'waiting') throw new Error(outcome.reason);
    } catch (error) {
      await events.record(target, 'Warning', 'ProvisioningCleanupFailed', `the PV could not be saved and its storage could not be removed: ${describeError(error)}`);
    }
    throw lastError;
  }

  // ---- deleting ----

  private async syncVolume(name: string): Promise<void> {
    const volume = this.volumes?.get(name);
    if (volume === undefined || !isOurVolume(volume, this.names)) return;
    if (volume.status?.phase !== 'Released' || volume.spec?.persistentVolumeReclaimPolicy !== 'Delete' || volume.metadata?.deletionTimestamp !== undefined) return;
    const driver = this.driverFor(volume.metadata?.annotations?.['pv.kubernetes.io/provisioned-by']);
    if (driver === undefined) return;
    await this.timed('delete', driver, async () => {
      let outcome;
      try {
        outcome = await driver.delete(volume);
      } catch (error) {
        await this.options.events.record(volumeTarget(volume), 'Warning', 'VolumeFailedDelete', describeError(error));
        throw new Reported(describeError(error));
      }
      if (outcome.status === 'waiting') {
        await this.options.events.record(volumeTarget(volume), 'Warning', 'VolumeFailedDelete', outcome.reason);
        // Retried after the backoff: the storage is never forced away.
        throw new Reported(outcome.reason, 'waiting');
      }
      await this.options.kube.deleteVolume(name);
      this.options.log(`deleted the storage of ${name} and the PV`);
      return 'success';
    });
  }

  // ---- resizing (docs/provisioner.md §7) ----

  private async resizeIfNeeded(claim: V1PersistentVolumeClaim): Promise<void> {
    const requested = requestedBytes(claim);
    const reported = quantityBytes(claim.status?.capacity?.['storage']);
    // The kubelet raises status.capacity once expandfs succeeded: until then a resize may be due.
    if (requested === undefined || reported === undefined || requested <= reported) return;
    const storageClass = this.classes?.get(claim.spec?.storageClassName ?? '');
    if (storageClass?.allowVolumeExpansion !== true || !this.names.includes(storageClass.provisioner)) return;
    const volume = this.volumes?.get(claim.spec?.volumeName ?? '');
    // Ours or made by hand: any PV of one of our drivers in a class of ours.
    const driver = this.options.drivers.find((candidate) => candidate.provisioner === volume?.spec?.flexVolume?.driver);
    if (volume === undefined || driver === undefined) return;
    const target = claimTarget(claim);
    await this.timed('resize', driver, async () => {
      let outcome;
      try {
        outcome = await driver.resize(volume, requested);
      } catch (error) {
        await this.options.events.record(target, 'Warning', 'VolumeResizeFailed', `resize of ${volume.metadata?.name ?? ''} failed: ${describeError(error)}`);
        throw new Reported(describeError(error));
      }
      if (outcome.status === 'waiting') {
        await this.options.events.record(target, 'Warning', 'VolumeResizePending', outcome.reason);
        throw new Reported(outcome.reason, 'waiting');
      }
      if (outcome.status === 'grown') {
        await this.options.events.record(
          target,
          'Normal',
          'VolumeResizeSuccessful',
          `storage of ${volume.metadata?.name ?? ''} grown from ${outcome.fromGiB} GiB to ${outcome.toGiB} GiB; the node grows the filesystem next`,
        );
        return 'success';
      }
      return undefined;
    });
  }
}
