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
export const ANN_PRE_RESIZE_CAPACITY = 'volume.alpha.kubernetes.io/pre-resize-capacity';
export const ANN_STORAGE_RESIZER = 'volume.kubernetes.io/storage-resizer';

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
    // Binding is the claim sync's work, as in the real controller: a provisioned PV stays Pending until then.
    if (str(obj(claim, 'spec').volumeName) === nameOf(volume)) this.setVolumePhase(volume, 'Bound');
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
    // findMatchingVolume: a PV pre-bound to the claim wins if it fits (its class is not checked), else
    // the search goes on as if it were not there.
    const preBound = volumes.find((volume) => refersTo(volume, claim) && fits(volume, claim));
    if (preBound) return this.bind(preBound, claim);
    const className = str(obj(claim, 'spec').storageClassName);
    const storageClass = className ? this.store.find('storage.k8s.io/storageclasses', '', className) : undefined;
    const delayed = storageClass?.volumeBindingMode === 'WaitForFirstConsumer';
    if (!delayed) {
      const match = bestAvailableMatch(volumes, claim);
      if (match) return this.bind(match, claim);
    }
    if (!className) {
      this.announce(claim, 'Normal', 'FailedBinding', 'no persistent volumes available for this claim and no storage class is set');
      return this.setClaimPending(claim);
    }
    if (!storageClass) return this.announce(claim, 'Warning', 'ProvisioningFailed', `storageclass.storage.k8s.io "${className}" not found`);
    if (delayed && !annotations(claim)[ANN_SELECTED_NODE]) {
      this.announce(claim, 'Normal', 'WaitForFirstConsumer', 'waiting for first consumer to be created before binding');
      return this.setClaimPending(claim);
    }
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
      // checkVolumeSatisfyClaim, for a claim whose volumeName a user set.
      if (fits(volume, claim) && str(obj(volume, 'spec').storageClassName) === str(obj(claim, 'spec').storageClassName)) this.bind(volume, claim);
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
    // The capacity is set only as the claim becomes Bound (a later difference is a resize in flight);
    // a PV with a resize pending on the node gives its pre-resize capacity.
    if (phaseOf(currentClaim) !== 'Bound') {
      const spec = obj(current, 'spec');
      const preResize = annotations(current)[ANN_PRE_RESIZE_CAPACITY];
      const capacity = preResize ? { ...obj(spec, 'capacity'), storage: preResize } : (spec.capacity ?? {});
      this.setClaimStatus(currentClaim, { ...obj(currentClaim, 'status'), phase: 'Bound', accessModes: spec.accessModes ?? [], capacity });
    }
  }

  /** The expand controller for a FlexVolume PV: no driver call, capacity raised at once (provisioner.md §7). */
  /**
   * The expand controller with the no-op plugin FlexVolume PVs get (provisioner.md §7), as
   * expandAndRecoverFunction runs it (RecoverVolumeExpansionFailure is on): the PV's capacity raised
   * at once, its pre-resize capacity kept in an annotation, the claim marked for node expansion.
   * No driver call and no event (FileSystemResizeRequired comes from the CSI external-resizer only).
   */
  private resizeFlexVolume(claim: JsonObject, volume: JsonObject): void {
    const volumeSpec = obj(volume, 'spec');
    if (!isObject(volumeSpec.flexVolume)) return;
    const requested = canonicalQuantity(str(obj(obj(obj(claim, 'spec'), 'resources'), 'requests').storage));
    const status = obj(claim, 'status');
    const oldCapacity = str(obj(status, 'capacity').storage);
    if (compareQuantityText(requested, oldCapacity) <= 0) return;
    const storageClass = this.store.find('storage.k8s.io/storageclasses', '', str(obj(claim, 'spec').storageClassName));
    if (storageClass?.allowVolumeExpansion !== true) return;
    if (compareQuantityText(requested, str(obj(volumeSpec, 'capacity').storage)) > 0) {
      const next = structuredClone(volume);
      (next.spec as JsonObject).capacity = { ...obj(volumeSpec, 'capacity'), storage: requested };
      metadataOf(next).annotations = { [ANN_PRE_RESIZE_CAPACITY]: oldCapacity, ...annotations(volume) };
      this.store.update(VOLUMES, '', nameOf(volume), next);
    }
    const conditions = Array.isArray(status.conditions) ? status.conditions.filter(isObject) : [];
    const pending = conditions.find((condition) => condition.type === 'FileSystemResizePending') ?? {
      type: 'FileSystemResizePending',
      status: 'True',
      lastProbeTime: null,
      lastTransitionTime: nowSeconds(),
      message: 'Waiting for user to (re-)start a pod to finish file system resize of volume on node.',
    };
    const nextStatus = {
      ...status,
      allocatedResources: { ...obj(status, 'allocatedResources'), storage: requested },
      allocatedResourceStatuses: { ...obj(status, 'allocatedResourceStatuses'), storage: 'NodeResizePending' },
      // MergeResizeConditionOnPVC without keeping old ones: the resize conditions are replaced.
      conditions: [...conditions.filter((condition) => condition.type !== 'Resizing' && condition.type !== 'FileSystemResizePending'), pending],
    };
    // The resizer named for a FlexVolume PV is its driver (KubeletExpandablePluginName); PatchPVCStatus
    // writes it with the status, which the claim's status strategy lets through.
    const resizer = str(obj(volumeSpec, 'flexVolume').driver);
    if (sameJson(nextStatus, status) && annotations(claim)[ANN_STORAGE_RESIZER] === resizer) return;
    const next = structuredClone(claim);
    next.status = nextStatus;
    metadataOf(next).annotations = { ...annotations(claim), [ANN_STORAGE_RESIZER]: resizer };
    this.store.update(CLAIMS, namespaceOf(claim), nameOf(claim), next, 'status');
  }

  /** updateClaimStatus(claim, Pending, nil): an unbound claim is Pending, without capacity or access modes. */
  private setClaimPending(claim: JsonObject): void {
    const { accessModes: _modes, capacity: _capacity, ...rest } = obj(claim, 'status');
    this.setClaimStatus(claim, { ...rest, phase: 'Pending' });
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

  /** One Event per claim and reason, as the recorder's aggregation shows it. */
  private announce(claim: JsonObject, type: 'Normal' | 'Warning', reason: string, message: string): void {
    const component = 'persistentvolume-controller';
    const key = `${uidOf(claim)}/${reason}`;
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

/** Size, access modes and volume mode: what findMatchingVolume checks of every candidate. */
function fits(volume: JsonObject, claim: JsonObject): boolean {
  const volumeSpec = obj(volume, 'spec');
  const claimSpec = obj(claim, 'spec');
  const requested = str(obj(obj(claimSpec, 'resources'), 'requests').storage);
  const modes = Array.isArray(volumeSpec.accessModes) ? volumeSpec.accessModes : [];
  const wanted = Array.isArray(claimSpec.accessModes) ? claimSpec.accessModes : [];
  return (
    compareQuantityText(str(obj(volumeSpec, 'capacity').storage), requested) >= 0 &&
    wanted.every((mode) => modes.includes(mode)) &&
    (str(volumeSpec.volumeMode) || 'Filesystem') === (str(claimSpec.volumeMode) || 'Filesystem')
  );
}

/** The smallest Available, unclaimed volume of the claim's class that fits and matches its selector. */
function bestAvailableMatch(volumes: JsonObject[], claim: JsonObject): JsonObject | undefined {
  const selector = obj(obj(claim, 'spec'), 'selector');
  const candidates = volumes.filter(
    (volume) =>
      !str(obj(obj(volume, 'spec'), 'claimRef').name) &&
      phaseOf(volume) === 'Available' &&
      fits(volume, claim) &&
      str(obj(volume, 'spec').storageClassName) === str(obj(claim, 'spec').storageClassName) &&
      matchesSelector(selector, obj(metadataOf(volume), 'labels')),
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
