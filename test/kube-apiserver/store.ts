// The object store, etcd-like: one global resourceVersion counter, objects per storage, a bounded
// history of changes for watches to resume from, and the generic registry's metadata rules
// (uid, creationTimestamp, optimistic concurrency, no-op updates, deletion with finalizers).
import { randomBytes, randomUUID } from 'node:crypto';
import { type FieldError, type GroupResource, ApiError, STALE_OBJECT, alreadyExists, badRequest, conflict, forbidden, invalid, notFound } from './errors.ts';
import { type JsonObject, isObject, sameJson } from './patch.ts';
import { validateEventCreate } from './event-validation.ts';
import { labelAndAnnotationErrors, nameErrors } from './object-meta.ts';
import { type ResourceDef, RESOURCES, apiVersionOf, storageResource } from './resources.ts';
import { type StoreView, type StrategyOptions, type Subresource, nowSeconds, prepareForCreate, prepareForUpdate } from './strategies.ts';

export type EventType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface StoreEvent {
  type: EventType;
  revision: number;
  storage: string;
  /** The object after the change (for DELETED: as it was, with the deletion's resourceVersion). */
  object: JsonObject;
  /** The object before the change, for watches whose selector it stops or starts matching. */
  previous?: JsonObject;
}

export interface DeleteOptions {
  preconditions?: { uid?: string; resourceVersion?: string };
}

export interface StoreOptions extends StrategyOptions {
  /** Changes kept per storage for watches to resume from (a watch cache per resource); older → 410 Gone. */
  historyLimit: number;
}

const GENERATE_ALPHABET = 'bcdfghjklmnpqrstvwxz2456789';

export function metadataOf(obj: JsonObject): JsonObject {
  if (!isObject(obj.metadata)) obj.metadata = {};
  return obj.metadata as JsonObject;
}

function text(value: unknown): string {
  return typeof value === 'string' ? value : '';
}

export function groupResource(def: ResourceDef): GroupResource {
  return { group: def.group, resource: def.plural };
}

export class ObjectStore implements StoreView {
  private revision = 1;
  private readonly objects = new Map<string, Map<string, JsonObject>>();
  private readonly history = new Map<string, StoreEvent[]>();
  /** Per storage, changes up to this revision are forgotten: a watch from a resourceVersion below it is too old. */
  private readonly oldestRevision = new Map<string, number>();
  private readonly listeners = new Set<(event: StoreEvent) => void>();

  private readonly options: StoreOptions;

  constructor(options: StoreOptions) {
    this.options = options;
    for (const def of RESOURCES) this.objects.set(def.storage, new Map());
    for (const name of ['default', 'kube-system', 'kube-public', 'kube-node-lease']) {
      this.create(storageResource('namespaces'), '', { apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
    }
  }

  get currentRevision(): number {
    return this.revision;
  }

  oldestWatchableRevision(storage: string): number {
    return this.oldestRevision.get(storage) ?? 1;
  }

  subscribe(listener: (event: StoreEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Changes after `revision` (exclusive) in one storage, oldest first. */
  changesSince(storage: string, revision: number): StoreEvent[] {
    return (this.history.get(storage) ?? []).filter((event) => event.revision > revision);
  }

  /** Forgets all history, as an etcd compaction does, and moves the counter on as an unrelated write would. */
  expireHistory(): void {
    this.revision += 1;
    this.history.clear();
    for (const def of RESOURCES) this.oldestRevision.set(def.storage, this.revision);
  }

  find(storage: string, namespace: string, name: string): JsonObject | undefined {
    const found = this.objects.get(storage)?.get(`${namespace}/${name}`);
    return found ? structuredClone(found) : undefined;
  }

  all(storage: string): JsonObject[] {
    return [...(this.objects.get(storage)?.values() ?? [])].map((obj) => structuredClone(obj));
  }

  get(def: ResourceDef, namespace: string, name: string): JsonObject {
    const found = this.find(def.storage, namespace, name);
    if (!found) throw notFound(groupResource(def), name);
    return found;
  }

  create(def: ResourceDef, namespace: string, body: JsonObject): JsonObject {
    const obj = structuredClone(body);
    const metadata = metadataOf(obj);
    this.checkNamespace(def, namespace, metadata);
    if (!metadata.name && typeof metadata.generateName === 'string') metadata.name = generateName(metadata.generateName);
    const name = text(metadata.name);
    if (!name) throw invalid(def.group, def.kind, '', [{ type: 'Required', field: 'metadata.name', detail: 'name or generateName is required' }]);
    const metaErrors = [...nameErrors(name), ...labelAndAnnotationErrors(metadata)];
    if (metaErrors.length) throw invalid(def.group, def.kind, name, metaErrors);
    if (metadata.resourceVersion) throw new ApiError(500, 'InternalError', 'resourceVersion should not be set on objects to be created');
    const home = def.namespaced ? this.find('namespaces', '', namespace) : undefined;
    if (def.namespaced && !home) throw notFound({ group: '', resource: 'namespaces' }, namespace);
    if (home && metadataOf(home).deletionTimestamp) {
      throw forbidden(groupResource(def), name, `unable to create new content in namespace ${namespace} because it is being terminated`);
    }
    if (this.find(def.storage, namespace, name)) throw alreadyExists(groupResource(def), name);
    for (const field of ['deletionTimestamp', 'deletionGracePeriodSeconds', 'generation', 'selfLink', 'managedFields']) delete metadata[field];
    metadata.uid = randomUUID();
    metadata.creationTimestamp = nowSeconds();
    if (def.namespaced) metadata.namespace = namespace;
    else delete metadata.namespace;
    obj.apiVersion = apiVersionOf(def);
    obj.kind = def.kind;
    if (def.storage === 'events') validateEventCreate(def.group, obj);
    prepareForCreate(def.storage, obj, this, this.options);
    return this.commit('ADDED', def.storage, obj);
  }

  update(def: ResourceDef, namespace: string, name: string, body: JsonObject, subresource?: Subresource): JsonObject {
    const next = structuredClone(body);
    const prev = this.get(def, namespace, name);
    const metadata = metadataOf(next);
    const prevMetadata = metadataOf(prev);
    if (metadata.name !== undefined && metadata.name !== name) throw badRequest(`the name of the object (${text(metadata.name)}) does not match the name on the URL (${name})`);
    this.checkNamespace(def, namespace, metadata);
    const requestedVersion = text(metadata.resourceVersion);
    if (requestedVersion && requestedVersion !== prevMetadata.resourceVersion) throw conflict(groupResource(def), name, STALE_OBJECT);
    if (metadata.uid !== undefined && metadata.uid !== '' && metadata.uid !== prevMetadata.uid) {
      throw conflict(groupResource(def), name, `Precondition failed: UID in precondition: ${text(metadata.uid)}, UID in object meta: ${text(prevMetadata.uid)}`);
    }
    for (const field of ['name', 'namespace', 'uid', 'creationTimestamp', 'deletionTimestamp', 'deletionGracePeriodSeconds', 'generation']) {
      if (prevMetadata[field] === undefined) delete metadata[field];
      else metadata[field] = prevMetadata[field] ?? null;
    }
    delete metadata.selfLink;
    const metaErrors = labelAndAnnotationErrors(metadata);
    if (metaErrors.length) throw invalid(def.group, def.kind, name, metaErrors);
    next.apiVersion = prev.apiVersion ?? null;
    next.kind = prev.kind ?? null;
    prepareForUpdate(def.storage, next, prev, subresource, this);
    this.refuseNewFinalizersWhileDeleting(def, next, prev);
    metadata.resourceVersion = prevMetadata.resourceVersion ?? null;
    if (sameJson(next, prev)) return prev;
    if (prevMetadata.deletionTimestamp && finalizersOf(next).length === 0) return this.remove(def.storage, next);
    return this.commit('MODIFIED', def.storage, next, prev);
  }

  delete(def: ResourceDef, namespace: string, name: string, options: DeleteOptions = {}): { object: JsonObject; deleted: boolean } {
    const current = this.get(def, namespace, name);
    const metadata = metadataOf(current);
    const { uid, resourceVersion } = options.preconditions ?? {};
    if (uid && uid !== metadata.uid) throw conflict(groupResource(def), name, `Precondition failed: UID in precondition: ${uid}, UID in object meta: ${text(metadata.uid)}`);
    if (resourceVersion && resourceVersion !== metadata.resourceVersion) {
      throw conflict(groupResource(def), name, `Precondition failed: ResourceVersion in precondition: ${resourceVersion}, ResourceVersion in object meta: ${text(metadata.resourceVersion)}`);
    }
    if (def.storage === 'namespaces') return { object: this.terminateNamespace(current), deleted: false };
    if (finalizersOf(current).length === 0) return { object: this.remove(def.storage, current), deleted: true };
    if (metadata.deletionTimestamp) return { object: current, deleted: false };
    const prev = structuredClone(current);
    metadata.deletionTimestamp = nowSeconds();
    metadata.deletionGracePeriodSeconds = 0;
    return { object: this.commit('MODIFIED', def.storage, current, prev), deleted: false };
  }

  /**
   * Namespace deletion as the namespace controller does it, at once: the namespace turns Terminating,
   * its contents are deleted (finalizers still hold them), and it goes when the last object has.
   */
  private terminateNamespace(namespace: JsonObject): JsonObject {
    const name = text(metadataOf(namespace).name);
    let current = namespace;
    if (!metadataOf(namespace).deletionTimestamp) {
      const next = structuredClone(namespace);
      metadataOf(next).deletionTimestamp = nowSeconds();
      metadataOf(next).deletionGracePeriodSeconds = 0;
      next.status = { phase: 'Terminating' };
      current = this.commit('MODIFIED', 'namespaces', next, namespace);
    }
    for (const def of NAMESPACED_STORAGE) {
      for (const obj of this.all(def.storage)) if (metadataOf(obj).namespace === name) this.delete(def, name, text(metadataOf(obj).name));
    }
    this.removeNamespaceIfEmpty(name);
    return current;
  }

  private removeNamespaceIfEmpty(name: string): void {
    const namespace = this.find('namespaces', '', name);
    if (!namespace || !metadataOf(namespace).deletionTimestamp) return;
    const occupied = NAMESPACED_STORAGE.some((def) => this.all(def.storage).some((obj) => metadataOf(obj).namespace === name));
    if (!occupied) this.remove('namespaces', namespace);
  }

  private checkNamespace(def: ResourceDef, namespace: string, metadata: JsonObject): void {
    if (!def.namespaced) return;
    if (metadata.namespace !== undefined && metadata.namespace !== '' && metadata.namespace !== namespace) {
      throw badRequest('the namespace of the provided object does not match the namespace sent on the request');
    }
  }

  private refuseNewFinalizersWhileDeleting(def: ResourceDef, next: JsonObject, prev: JsonObject): void {
    if (!metadataOf(prev).deletionTimestamp) return;
    const added = finalizersOf(next).filter((finalizer) => !finalizersOf(prev).includes(finalizer));
    if (added.length === 0) return;
    const error: FieldError = { type: 'Forbidden', field: 'metadata.finalizers', detail: `no new finalizers can be added if the object is being deleted, found new finalizers ${JSON.stringify(added)}` };
    throw invalid(def.group, def.kind, text(metadataOf(next).name), [error]);
  }

  private commit(type: EventType, storage: string, obj: JsonObject, previous?: JsonObject): JsonObject {
    this.revision += 1;
    metadataOf(obj).resourceVersion = String(this.revision);
    const metadata = metadataOf(obj);
    this.objects.get(storage)?.set(`${text(metadata.namespace)}/${text(metadata.name)}`, structuredClone(obj));
    this.record({ type, revision: this.revision, storage, object: structuredClone(obj), ...(previous ? { previous } : {}) });
    return obj;
  }

  private remove(storage: string, obj: JsonObject): JsonObject {
    const metadata = metadataOf(obj);
    this.objects.get(storage)?.delete(`${text(metadata.namespace)}/${text(metadata.name)}`);
    this.revision += 1;
    metadata.resourceVersion = String(this.revision);
    this.record({ type: 'DELETED', revision: this.revision, storage, object: structuredClone(obj) });
    if (metadata.namespace) this.removeNamespaceIfEmpty(text(metadata.namespace));
    return obj;
  }

  private record(event: StoreEvent): void {
    const kept = this.history.get(event.storage) ?? [];
    this.history.set(event.storage, kept);
    kept.push(event);
    if (kept.length > this.options.historyLimit) {
      const dropped = kept.splice(0, kept.length - this.options.historyLimit);
      this.oldestRevision.set(event.storage, dropped.at(-1)?.revision ?? this.oldestWatchableRevision(event.storage));
    }
    for (const listener of this.listeners) listener(event);
  }
}

/** The storages of namespaced objects (events.k8s.io Events are the core ones). */
const NAMESPACED_STORAGE = RESOURCES.filter((def) => def.namespaced && def.toServed === undefined);

export function finalizersOf(obj: JsonObject): string[] {
  const finalizers = metadataOf(obj).finalizers;
  return Array.isArray(finalizers) ? finalizers.filter((item): item is string => typeof item === 'string') : [];
}

function generateName(prefix: string): string {
  const bytes = randomBytes(5);
  return prefix + [...bytes].map((byte) => GENERATE_ALPHABET[byte % GENERATE_ALPHABET.length]).join('');
}
