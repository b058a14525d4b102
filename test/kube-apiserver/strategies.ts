// What the real registry strategies, validation and default admission plugins do to each resource
// on create and update: defaults, status/spec separation, immutable fields, Secret encoding,
// DefaultStorageClass, PersistentVolumeClaimResize, StorageObjectInUseProtection.
import { type FieldError, badRequest, forbidden, invalid } from './errors.ts';
import { type JsonObject, isObject, sameJson } from './patch.ts';
import { canonicalQuantity, compareQuantityText } from './quantity.ts';
import { VOLUME_SOURCES, claimSpecErrors, classErrors, volumeSpecErrors } from './spec-validation.ts';

export const PVC_PROTECTION_FINALIZER = 'kubernetes.io/pvc-protection';
export const PV_PROTECTION_FINALIZER = 'kubernetes.io/pv-protection';
const DEFAULT_CLASS_ANNOTATION = 'storageclass.kubernetes.io/is-default-class';

/** The store as the strategies see it: read-only lookups. */
export interface StoreView {
  find(storage: string, namespace: string, name: string): JsonObject | undefined;
  all(storage: string): JsonObject[];
}

export interface StrategyOptions {
  /** Add the pvc/pv-protection finalizers on create (StorageObjectInUseProtection admission). */
  protectionFinalizers: boolean;
}

export type Subresource = 'status' | undefined;

/** The nested object to write into, created when missing. */
function ensure(parent: JsonObject, key: string): JsonObject {
  const value = parent[key];
  if (isObject(value)) return value;
  const created: JsonObject = {};
  parent[key] = created;
  return created;
}

/** The nested object to read (a detached empty one when missing: reading never adds fields). */
function field(parent: JsonObject, key: string): JsonObject {
  const value = parent[key];
  return isObject(value) ? value : {};
}

function str(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

export function nowSeconds(): string {
  return new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** Rewrites every quantity of a `{name: quantity}` map in its canonical form. */
function canonicalizeQuantities(map: unknown): void {
  if (!isObject(map)) return;
  for (const [key, value] of Object.entries(map)) if (typeof value === 'string' || typeof value === 'number') map[key] = canonicalQuantity(String(value));
}

function addFinalizer(obj: JsonObject, finalizer: string): void {
  const metadata = ensure(obj, 'metadata');
  const finalizers = Array.isArray(metadata.finalizers) ? metadata.finalizers : [];
  if (!finalizers.includes(finalizer)) metadata.finalizers = [...finalizers, finalizer];
}

function nameOf(obj: JsonObject): string {
  return str(field(obj, 'metadata').name) ?? '';
}

export function prepareForCreate(storage: string, obj: JsonObject, store: StoreView, options: StrategyOptions): void {
  switch (storage) {
    case 'persistentvolumeclaims':
      return createClaim(obj, store, options);
    case 'persistentvolumes':
      return createVolume(obj, options);
    case 'storage.k8s.io/storageclasses':
      return createClass(obj);
    case 'secrets':
      return writeSecret(obj);
    case 'namespaces':
      obj.spec = { finalizers: ['kubernetes'] };
      obj.status = { phase: 'Active' };
      return labelNamespace(obj);
    case 'nodes':
      return;
  }
}

export function prepareForUpdate(storage: string, next: JsonObject, prev: JsonObject, subresource: Subresource, store: StoreView): void {
  if (subresource === 'status') {
    keepSpec(next, prev);
    if (storage === 'namespaces') labelNamespace(next);
    if (storage === 'persistentvolumeclaims') canonicalizeQuantities(field(next, 'status').capacity);
    if (storage === 'persistentvolumes') stampPhaseTransition(next, prev);
    return;
  }
  if (['persistentvolumeclaims', 'persistentvolumes', 'nodes', 'namespaces'].includes(storage)) {
    if (prev.status === undefined) delete next.status;
    else next.status = structuredClone(prev.status);
  }
  switch (storage) {
    case 'namespaces':
      return labelNamespace(next);
    case 'persistentvolumeclaims':
      return updateClaim(next, prev, store);
    case 'persistentvolumes':
      return updateVolume(next, prev);
    case 'storage.k8s.io/storageclasses':
      return updateClass(next, prev);
    case 'secrets':
      return updateSecret(next, prev);
  }
}

/** The label every namespace carries (since 1.21), so selectors can pick namespaces by name. */
function labelNamespace(obj: JsonObject): void {
  const metadata = ensure(obj, 'metadata');
  metadata.labels = { ...field(metadata, 'labels'), 'kubernetes.io/metadata.name': nameOf(obj) };
}

/**
 * The status strategies of these types put the stored spec back: a status write changes status and
 * metadata only (they do not call ResetObjectMetaForStatus, so label and annotation changes apply).
 */
function keepSpec(next: JsonObject, prev: JsonObject): void {
  for (const key of Object.keys(next)) if (!['apiVersion', 'kind', 'metadata', 'status'].includes(key)) delete next[key];
  for (const key of Object.keys(prev)) if (!['apiVersion', 'kind', 'metadata', 'status'].includes(key)) next[key] = structuredClone(prev[key]) ?? null;
}

function createClaim(obj: JsonObject, store: StoreView, options: StrategyOptions): void {
  const spec = ensure(obj, 'spec');
  obj.status = { phase: 'Pending' };
  spec.volumeMode ??= 'Filesystem';
  const resources = field(spec, 'resources');
  canonicalizeQuantities(resources.requests);
  canonicalizeQuantities(resources.limits);
  const errors = claimSpecErrors(spec);
  if (errors.length) throw invalid('', 'PersistentVolumeClaim', nameOf(obj), errors);
  if (spec.storageClassName === undefined) {
    const defaultClass = store.all('storage.k8s.io/storageclasses').find((sc) => str(field(field(sc, 'metadata'), 'annotations')[DEFAULT_CLASS_ANNOTATION]) === 'true');
    if (defaultClass) spec.storageClassName = nameOf(defaultClass);
  }
  if (options.protectionFinalizers) addFinalizer(obj, PVC_PROTECTION_FINALIZER);
}

const CLAIM_SPEC_IMMUTABLE = 'spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims';

/** ValidatePersistentVolumeClaimUpdate plus the PersistentVolumeClaimResize admission plugin. */
function updateClaim(next: JsonObject, prev: JsonObject, store: StoreView): void {
  const spec = field(next, 'spec');
  const prevSpec = field(prev, 'spec');
  canonicalizeQuantities(field(spec, 'resources').requests);
  canonicalizeQuantities(field(spec, 'resources').limits);
  const bound = str(field(prev, 'status').phase) === 'Bound';
  const comparable = structuredClone(spec);
  const prevComparable = structuredClone(prevSpec);
  // A claim not yet bound may get its volumeName once; a missing class may be set once (annotation upgrade).
  if (!prevSpec.volumeName) prevComparable.volumeName = comparable.volumeName ?? null;
  if (prevSpec.storageClassName === undefined) prevComparable.storageClassName = comparable.storageClassName ?? null;
  if (bound) {
    ensure(ensure(comparable, 'resources'), 'requests').storage = field(field(prevComparable, 'resources'), 'requests').storage ?? null;
    delete comparable.volumeAttributesClassName;
    delete prevComparable.volumeAttributesClassName;
  }
  for (const candidate of [comparable, prevComparable]) for (const key of Object.keys(candidate)) if (candidate[key] === null) delete candidate[key];
  const errors = claimSpecErrors(spec);
  if (!sameJson(comparable, prevComparable)) errors.push({ type: 'Forbidden', field: 'spec', detail: CLAIM_SPEC_IMMUTABLE });
  const newSize = str(field(field(spec, 'resources'), 'requests').storage);
  const oldSize = str(field(field(prevSpec, 'resources'), 'requests').storage);
  const statusSize = str(field(field(prev, 'status'), 'capacity').storage);
  // With RecoverVolumeExpansionFailure (on by default) a request may drop, but never to status.capacity or below.
  if (compareQuantityText(newSize, oldSize) < 0 && compareQuantityText(newSize, statusSize) <= 0) {
    errors.push({ type: 'Forbidden', field: 'spec.resources.requests.storage', detail: 'field can not be less than status.capacity' });
  }
  if (errors.length) throw invalid('', 'PersistentVolumeClaim', nameOf(next), errors);
  if (bound && compareQuantityText(newSize, oldSize) > 0) admitResize(next, store);
}

function admitResize(claim: JsonObject, store: StoreView): void {
  const className = str(field(claim, 'spec').storageClassName) ?? '';
  const storageClass = store.find('storage.k8s.io/storageclasses', '', className);
  if (!storageClass || storageClass.allowVolumeExpansion !== true) {
    throw forbidden({ group: '', resource: 'persistentvolumeclaims' }, nameOf(claim), 'only dynamically provisioned pvc can be resized and the storageclass that provisions the pvc must support resize');
  }
}

function createVolume(obj: JsonObject, options: StrategyOptions): void {
  const spec = ensure(obj, 'spec');
  obj.status = { phase: 'Pending', lastPhaseTransitionTime: nowSeconds() };
  spec.persistentVolumeReclaimPolicy ??= 'Retain';
  spec.volumeMode ??= 'Filesystem';
  canonicalizeQuantities(spec.capacity);
  const errors = volumeSpecErrors(spec);
  if (errors.length) throw invalid('', 'PersistentVolume', nameOf(obj), errors);
  if (options.protectionFinalizers) addFinalizer(obj, PV_PROTECTION_FINALIZER);
}

function updateVolume(next: JsonObject, prev: JsonObject): void {
  const spec = field(next, 'spec');
  const prevSpec = field(prev, 'spec');
  canonicalizeQuantities(spec.capacity);
  const errors = volumeSpecErrors(spec);
  if (!VOLUME_SOURCES.every((source) => sameJson(spec[source], prevSpec[source]))) {
    errors.push({ type: 'Forbidden', field: 'spec.persistentvolumesource', detail: 'spec.persistentvolumesource is immutable after creation' });
  }
  if (spec.volumeMode !== prevSpec.volumeMode) errors.push({ type: 'Invalid', field: 'spec.volumeMode', value: spec.volumeMode, detail: 'field is immutable' });
  if (errors.length) throw invalid('', 'PersistentVolume', nameOf(next), errors);
}

function stampPhaseTransition(next: JsonObject, prev: JsonObject): void {
  const status = ensure(next, 'status');
  if (status.phase !== field(prev, 'status').phase) status.lastPhaseTransitionTime = nowSeconds();
}

function createClass(obj: JsonObject): void {
  obj.reclaimPolicy ??= 'Delete';
  obj.volumeBindingMode ??= 'Immediate';
  const errors = classErrors(obj);
  if (errors.length) throw invalid('storage.k8s.io', 'StorageClass', nameOf(obj), errors);
}

function updateClass(next: JsonObject, prev: JsonObject): void {
  const errors = classErrors(next);
  for (const field of ['parameters', 'provisioner', 'reclaimPolicy']) {
    if (!sameJson(next[field], prev[field])) errors.push({ type: 'Forbidden', field, detail: `updates to ${field} are forbidden.` });
  }
  if (next.volumeBindingMode !== prev.volumeBindingMode) errors.push({ type: 'Invalid', field: 'volumeBindingMode', value: next.volumeBindingMode, detail: 'field is immutable' });
  if (errors.length) throw invalid('storage.k8s.io', 'StorageClass', nameOf(next), errors);
}

const CONFIG_KEY = /^[-._a-zA-Z0-9]+$/;

/** `stringData` is folded into `data` (base64) and never stored, as the real server does. */
function writeSecret(obj: JsonObject): void {
  obj.type ??= 'Opaque';
  const data: JsonObject = isObject(obj.data) ? obj.data : {};
  for (const [key, value] of Object.entries(data)) {
    if (typeof value !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(value) || value.length % 4 !== 0) throw badRequest(`Secret in version "v1" cannot be handled as a Secret: illegal base64 data at input byte 0 (data.${key})`);
  }
  if (isObject(obj.stringData)) {
    for (const [key, value] of Object.entries(obj.stringData)) data[key] = Buffer.from(String(value), 'utf8').toString('base64');
  }
  delete obj.stringData;
  const badKey = Object.keys(data).find((key) => !CONFIG_KEY.test(key));
  if (badKey !== undefined) {
    throw invalid('', 'Secret', nameOf(obj), [{ type: 'Invalid', field: `data[${badKey}]`, value: badKey, detail: "a valid config key must consist of alphanumeric characters, '-', '_' or '.'" }]);
  }
  if (Object.keys(data).length > 0 || obj.data !== undefined) obj.data = data;
}

function updateSecret(next: JsonObject, prev: JsonObject): void {
  writeSecret(next);
  const errors: FieldError[] = [];
  if (next.type !== prev.type) errors.push({ type: 'Invalid', field: 'type', value: next.type, detail: 'field is immutable' });
  if (prev.immutable === true && (!sameJson(next.data, prev.data) || next.immutable !== true)) {
    errors.push({ type: 'Forbidden', field: 'data', detail: 'field is immutable when `immutable` is set' });
  }
  if (errors.length) throw invalid('', 'Secret', nameOf(next), errors);
}
