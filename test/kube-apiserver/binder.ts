// Plays kube-controller-manager's part for claims and volumes, as a controller does: it reacts to
// store changes a few milliseconds later (never inside the request), and rereads everything on each
// pass so the outcome does not depend on the order of changes. It covers the PV controller (claim
// hand-over to an external provisioner, binding, Released), the expand controller's FlexVolume
// path (PV capacity raised at once, FileSystemResizePending) and the pvc/pv-protection controllers.
import { type JsonObject, isObject, sameJson } from './patch.ts';
import { canonicalQuantity, compareQuantityText } from './quantity.ts';
import { storageResource } from './resources.ts';
import { type ObjectStore, finalizersOf, metadataOf } from './store.ts';
import { PVC_PROTECTION_FINALIZER, PV_PROTECTION_FINALIZER, nowSeconds } from './strategies.ts';

export const ANN_STORAGE_PROVISIONER = 'volume.kubernetes.io/storage-provisioner';
export const ANN_BETA_STORAGE_PROVISIONER = 'volume.beta.kubernetes.io/storage-provisioner';
export const ANN_SELECTED_NODE = 'volume.kubernetes.io/selected-node';
export const ANN_BIND_COMPLETED = 'pv.kubernetes.io/bind-completed';
export const ANN_BOUND_BY_CONTROLLER = 'pv.kubernetes.io/bound-by-controller';

const CLAIMS = storageResource('persistentvolumeclaims');
const VOLUMES = storageResource('persistentvolumes');
const EVENTS = storageResource('events');
const WATCHED = new Set(['persistentvolumeclaims', 'persistentvolumes', 'storage.k8s.io/storageclasses']);

function obj(parent: JsonObject, key: string): JsonObject {
  const value = parent[key];
  return isObject(value) ? value : {};
}

function str(value: unknown): string {
  return typeof value === 'string' ? value : '';
}

function annotations(target: JsonObject): Record<string, string> {
  return obj(metadataOf(target), 'annotations') as Record<string, string>;
}

function nameOf(target: JsonObject): string {
  return str(metadataOf(target).name);
}

function namespaceOf(target: JsonObject): string {
  return str(metadataOf(target).namespace);
}

function uidOf(target: JsonObject): string {
  return str(metadataOf(target).uid);
}

function phaseOf(target: JsonObject): string {
  return str(obj(target, 'status').phase);
}

export class Binder {
  private timer: NodeJS.Timeout | undefined;
  private readonly announced = new Set<string>();
  private readonly unsubscribe: () => void;
  private eventCounter = 0;
  /** Failures of the binder's own writes (a bug in it or in a test's objects), newest last. */
  readonly errors: string[] = [];

  private readonly store: ObjectStore;
  private readonly delayMs: number;

  constructor(store: ObjectStore, delayMs: number) {
    this.store = store;
    this.delayMs = delayMs;
    this.unsubscribe = store.subscribe((event) => {
      if (WATCHED.has(event.storage)) this.schedule();
    });
    this.schedule();
  }

  stop(): void {
    this.unsubscribe();
    clearTimeout(this.timer);
  }

  private schedule(): void {
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      this.sync();
    }, this.delayMs);
  }

  private sync(): void {
    for (const volume of this.store.all(VOLUMES.storage)) this.guard(volume, () => this.syncVolume(volume));
    for (const claim of this.store.all(CLAIMS.storage)) this.guard(claim, () => this.syncClaim(claim));
  }

  private guard(target: JsonObject, work: () => void): void {
    try {
      work();
    } catch (error) {
      this.errors.push(`${String(target.kind)} ${namespaceOf(target)}/${nameOf(target)}: ${(error as Error).message}`);
    }
  }

  private syncVolume(volume: JsonObject): void {
    // pv-protection lets a deleted PV go once it is not Bound; until then its phase is kept up to date.
    if (metadataOf(volume).deletionTimestamp && finalizersOf(volume).includes(PV_PROTECTION_FINALIZER) && phaseOf(volume) !== 'Bound') {
      return this.removeFinalizer(VOLUMES, volume, PV_PROTECTION_FINALIZER);
    }
    const ref = obj(obj(volume, 'spec'), 'claimRef');
    if (!str(ref.name)) return this.setVolumePhase(volume, 'Available');
    if (!str(ref.uid)) {
      if (phaseOf(volume) !== 'Bound') this.setVolumePhase(volume, 'Available');
      return;
    }
    const claim = this.store.find(CLAIMS.storage, str(ref.namespace), str(ref.name));
    if (!claim || uidOf(claim) !== str(ref.uid)) {
      if (!['Released', 'Failed'].includes(phaseOf(volume))) this.setVolumePhase(volume, 'Released');
      return;
    }
    // Binding itself is the claim sync's work, as in the real controller; a provisioned PV waits for it.
    if (str(obj(claim, 'spec').volumeName) === '' && !['Available', 'Bound'].includes(phaseOf(volume))) this.setVolumePhase(volume, 'Available');
  }

  private syncClaim(claim: JsonObject): void {
    if (metadataOf(claim).deletionTimestamp) {
      // pvc-protection: no Pods exist here, so nothing uses the claim.
      if (finalizersOf(claim).includes(PVC_PROTECTION_FINALIZER)) this.removeFinalizer(CLAIMS, claim, PVC_PROTECTION_FINALIZER);
      return;
    }
    if (str(obj(claim, 'spec').volumeName)) this.syncBoundClaim(claim);
    else this.syncUnboundClaim(claim);
  }

  private syncUnboundClaim(claim: JsonObject): void {
    const volumes = this.store.all(VOLUMES.storage).filter((volume) => !metadataOf(volume).deletionTimestamp);
    const preBound = volumes.find((volume) => refersTo(volume, claim));
    if (preBound) {
      if (satisfies(preBound, claim)) this.bind(preBound, claim);
      else this.announce(claim, 'Warning', 'VolumeMismatch', `Cannot bind to requested volume "${nameOf(preBound)}": it does not satisfy the claim's size, access modes, volume mode or class`);
      return;
    }
    const className = str(obj(claim, 'spec').storageClassName);
    const storageClass = className ? this.store.find('storage.k8s.io/storageclasses', '', className) : undefined;
    const delayed = storageClass?.volumeBindingMode === 'WaitForFirstConsumer';
    if (!delayed) {
      const match = bestAvailableMatch(volumes, claim);
      if (match) return this.bind(match, claim);
    }
    if (!className) return this.announce(claim, 'Normal', 'FailedBinding', 'no persistent volumes available for this claim and no storage class is set');
    if (!storageClass) return this.announce(claim, 'Warning', 'ProvisioningFailed', `storageclass.storage.k8s.io "${className}" not found`);
    if (delayed && !annotations(claim)[ANN_SELECTED_NODE]) return this.announce(claim, 'Normal', 'WaitForFirstConsumer', 'waiting for first consumer to be created before binding');
    const provisioner = str(storageClass.provisioner);
    // In-tree plugins (kubernetes.io/...) would be run by the controller itself; none exist here.
    if (provisioner.startsWith('kubernetes.io/')) return;
    this.handOver(claim, provisioner);
  }

  private handOver(claim: JsonObject, provisioner: string): void {
    const current = annotations(claim);
    if (current[ANN_STORAGE_PROVISIONER] !== provisioner || current[ANN_BETA_STORAGE_PROVISIONER] !== provisioner) {
      const next = structuredClone(claim);
      metadataOf(next).annotations = { ...current, [ANN_STORAGE_PROVISIONER]: provisioner, [ANN_BETA_STORAGE_PROVISIONER]: provisioner };
      this.store.update(CLAIMS, namespaceOf(claim), nameOf(claim), next);
    }
    this.announce(
      claim,
      'Normal',
      'ExternalProvisioning',
      `Waiting for a volume to be created either by the external provisioner '${provisioner}' or manually by the system administrator. If volume creation is delayed, please verify that the provisioner is running and correctly registered.`,
    );
  }

  private syncBoundClaim(claim: JsonObject): void {
    const volume = this.store.find(VOLUMES.storage, '', str(obj(claim, 'spec').volumeName));
    if (!volume) {
      if (phaseOf(claim) === 'Bound') this.setClaimStatus(claim, { ...obj(claim, 'status'), phase: 'Lost' });
      this.announce(claim, 'Warning', 'ClaimLost', 'Bound claim has lost reference to PersistentVolume. Data on the volume is lost!');
      return;
    }
    const ref = obj(obj(volume, 'spec'), 'claimRef');
    const complete = str(ref.uid) === uidOf(claim) && phaseOf(claim) === 'Bound' && phaseOf(volume) === 'Bound' && annotations(claim)[ANN_BIND_COMPLETED] === 'yes';
    if (complete) return this.resizeFlexVolume(claim, volume);
    if (!str(ref.name) || refersTo(volume, claim)) {
      if (satisfies(volume, claim)) this.bind(volume, claim);
      return;
    }
    if (phaseOf(claim) === 'Bound') this.setClaimStatus(claim, { ...obj(claim, 'status'), phase: 'Lost' });
    this.announce(claim, 'Warning', 'ClaimMisbound', 'Two claims are bound to the same volume, this one is bound incorrectly');
  }

  /** Writes only what differs, in the real controller's order: PV claimRef, PV phase, claim, claim status. */
  private bind(volume: JsonObject, claim: JsonObject): void {
    let current = volume;
    const ref = obj(obj(volume, 'spec'), 'claimRef');
    if (str(ref.uid) !== uidOf(claim) || str(ref.name) !== nameOf(claim) || str(ref.namespace) !== namespaceOf(claim)) {
      const next = structuredClone(volume);
      (next.spec as JsonObject).claimRef = { kind: 'PersistentVolumeClaim', namespace: namespaceOf(claim), name: nameOf(claim), uid: uidOf(claim), apiVersion: 'v1', resourceVersion: str(metadataOf(claim).resourceVersion) };
      metadataOf(next).annotations = { ...annotations(volume), [ANN_BOUND_BY_CONTROLLER]: 'yes' };
      current = this.store.update(VOLUMES, '', nameOf(volume), next);
    }
    this.setVolumePhase(current, 'Bound');
    const claimAnnotations = annotations(claim);
    let currentClaim = claim;
    if (str(obj(claim, 'spec').volumeName) !== nameOf(volume) || claimAnnotations[ANN_BIND_COMPLETED] !== 'yes') {
      const next = structuredClone(claim);
      const settingVolume = str(obj(claim, 'spec').volumeName) !== nameOf(volume);
      (next.spec as JsonObject).volumeName = nameOf(volume);
      metadataOf(next).annotations = { ...claimAnnotations, [ANN_BIND_COMPLETED]: 'yes', ...(settingVolume ? { [ANN_BOUND_BY_CONTROLLER]: 'yes' } : {}) };
      currentClaim = this.store.update(CLAIMS, namespaceOf(claim), nameOf(claim), next);
    }
    if (phaseOf(currentClaim) !== 'Bound') {
      const spec = obj(current, 'spec');
      this.setClaimStatus(currentClaim, { ...obj(currentClaim, 'status'), phase: 'Bound', accessModes: spec.accessModes ?? [], capacity: spec.capacity ?? {} });
    }
  }

  /** The expand controller for a FlexVolume PV: no driver call, capacity raised at once (provisioner.md §7). */
  private resizeFlexVolume(claim: JsonObject, volume: JsonObject): void {
    const volumeSpec = obj(volume, 'spec');
    if (!isObject(volumeSpec.flexVolume) || phaseOf(claim) !== 'Bound') return;
    const requested = str(obj(obj(obj(claim, 'spec'), 'resources'), 'requests').storage);
    if (compareQuantityText(requested, str(obj(obj(claim, 'status'), 'capacity').storage)) <= 0) return;
    const storageClass = this.store.find('storage.k8s.io/storageclasses', '', str(obj(claim, 'spec').storageClassName));
    if (storageClass?.allowVolumeExpansion !== true) return;
    if (compareQuantityText(requested, str(obj(volumeSpec, 'capacity').storage)) > 0) {
      const next = structuredClone(volume);
      (next.spec as JsonObject).capacity = { ...obj(volumeSpec, 'capacity'), storage: canonicalQuantity(requested) };
      this.store.update(VOLUMES, '', nameOf(volume), next);
    }
    const status = obj(claim, 'status');
    const conditions = Array.isArray(status.conditions) ? status.conditions.filter(isObject) : [];
    if (!conditions.some((condition) => condition.type === 'FileSystemResizePending')) {
      const pending = { type: 'FileSystemResizePending', status: 'True', lastProbeTime: null, lastTransitionTime: nowSeconds(), message: 'Waiting for user to (re-)start a pod to finish file system resize of volume on node.' };
      this.setClaimStatus(claim, { ...status, conditions: [...conditions.filter((condition) => condition.type !== 'Resizing'), pending] });
    }
    this.announce(claim, 'Normal', 'FileSystemResizeRequired', 'Require file system resize of volume on node', 'volume_expand', requested);
  }

  private setVolumePhase(volume: JsonObject, phase: string): void {
    if (phaseOf(volume) === phase) return;
    const next = structuredClone(volume);
    next.status = { ...obj(volume, 'status'), phase };
    this.store.update(VOLUMES, '', nameOf(volume), next, 'status');
  }

  private setClaimStatus(claim: JsonObject, status: JsonObject): void {
    if (sameJson(status, obj(claim, 'status'))) return;
    const next = structuredClone(claim);
    next.status = status;
    this.store.update(CLAIMS, namespaceOf(claim), nameOf(claim), next, 'status');
  }

  private removeFinalizer(def: typeof CLAIMS, target: JsonObject, finalizer: string): void {
    const next = structuredClone(target);
    metadataOf(next).finalizers = finalizersOf(target).filter((item) => item !== finalizer);
    this.store.update(def, namespaceOf(target), nameOf(target), next);
  }

  /** One Event per claim and reason (and `variant`), as the recorder's aggregation shows it. */
  private announce(claim: JsonObject, type: 'Normal' | 'Warning', reason: string, message: string, component = 'persistentvolume-controller', variant = ''): void {
    const key = `${uidOf(claim)}/${reason}/${variant}`;
    if (this.announced.has(key)) return;
    this.announced.add(key);
    const now = nowSeconds();
    this.eventCounter += 1;
    const stamp = (BigInt(Date.now()) * 1_000_000n + BigInt(this.eventCounter)).toString(16);
    this.store.create(EVENTS, namespaceOf(claim), {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { name: `${nameOf(claim)}.${stamp}`, namespace: namespaceOf(claim) },
      involvedObject: { kind: 'PersistentVolumeClaim', namespace: namespaceOf(claim), name: nameOf(claim), uid: uidOf(claim), apiVersion: 'v1', resourceVersion: str(metadataOf(claim).resourceVersion) },
      reason,
      message,
      source: { component },
      firstTimestamp: now,
      lastTimestamp: now,
      count: 1,
      type,
      eventTime: null,
      reportingComponent: component,
      reportingInstance: '',
    });
  }
}

function refersTo(volume: JsonObject, claim: JsonObject): boolean {
  const ref = obj(obj(volume, 'spec'), 'claimRef');
  return str(ref.name) === nameOf(claim) && str(ref.namespace) === namespaceOf(claim) && (str(ref.uid) === '' || str(ref.uid) === uidOf(claim));
}

/** Size, access modes, volume mode and class: what findMatchingVolume checks. */
function satisfies(volume: JsonObject, claim: JsonObject): boolean {
  const volumeSpec = obj(volume, 'spec');
  const claimSpec = obj(claim, 'spec');
  const requested = str(obj(obj(claimSpec, 'resources'), 'requests').storage);
  const modes = Array.isArray(volumeSpec.accessModes) ? volumeSpec.accessModes : [];
  const wanted = Array.isArray(claimSpec.accessModes) ? claimSpec.accessModes : [];
  return (
    compareQuantityText(str(obj(volumeSpec, 'capacity').storage), requested) >= 0 &&
    wanted.every((mode) => modes.includes(mode)) &&
    (str(volumeSpec.volumeMode) || 'Filesystem') === (str(claimSpec.volumeMode) || 'Filesystem') &&
    str(volumeSpec.storageClassName) === str(claimSpec.storageClassName)
  );
}

/** The smallest Available, unclaimed volume that fits and matches the claim's selector. */
function bestAvailableMatch(volumes: JsonObject[], claim: JsonObject): JsonObject | undefined {
  const selector = obj(obj(claim, 'spec'), 'selector');
  const candidates = volumes.filter(
    (volume) => !str(obj(obj(volume, 'spec'), 'claimRef').name) && phaseOf(volume) === 'Available' && satisfies(volume, claim) && matchesSelector(selector, obj(metadataOf(volume), 'labels')),
  );
  candidates.sort((a, b) => compareQuantityText(str(obj(obj(a, 'spec'), 'capacity').storage), str(obj(obj(b, 'spec'), 'capacity').storage)));
  return candidates[0];
}

function matchesSelector(selector: JsonObject, labels: JsonObject): boolean {
  const matchLabels = obj(selector, 'matchLabels');
  if (!Object.entries(matchLabels).every(([key, value]) => labels[key] === value)) return false;
  const expressions = Array.isArray(selector.matchExpressions) ? selector.matchExpressions.filter(isObject) : [];
  return expressions.every((expression) => {
    const value = labels[str(expression.key)];
    const values = Array.isArray(expression.values) ? expression.values : [];
    switch (expression.operator) {
      case 'In':
        return typeof value === 'string' && values.includes(value);
      case 'NotIn':
        return typeof value !== 'string' || !values.includes(value);
      case 'Exists':
        return value !== undefined;
      case 'DoesNotExist':
        return value === undefined;
      default:
        return false;
    }
  });
}
