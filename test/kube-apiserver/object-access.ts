// Test access to the objects without HTTP: the same store rules (validation, resourceVersion,
// watch events), no auth, not in the request log.
import type { JsonObject } from './patch.ts';
import { type ResourceDef, RESOURCES, findResourceByKind, served, storedForm } from './resources.ts';
import { type DeleteOptions, type ObjectStore, metadataOf } from './store.ts';
import { decodeObject } from './decoding.ts';

/** A resource named as kubectl would: plural, short name or kind (`pvc`, `storageclasses`, `Lease`). */
export type ResourceName = string;

export type KubeObject = JsonObject;

export interface ObjectAccess {
  get(resource: ResourceName, name: string, namespace?: string): KubeObject | undefined;
  list(resource: ResourceName, namespace?: string): KubeObject[];
  /** The object's apiVersion and kind say what it is. */
  create(object: KubeObject): KubeObject;
  /** Same rules as a PUT (resourceVersion, if set, must be current); `status` writes the status subresource. */
  update(object: KubeObject, options?: { subresource?: 'status' }): KubeObject;
  delete(resource: ResourceName, name: string, namespace?: string, options?: DeleteOptions): void;
}

function resolveResource(resource: ResourceName): ResourceDef {
  const wanted = resource.toLowerCase();
  const candidates = RESOURCES.filter(
    (def) => def.plural === wanted || def.kind.toLowerCase() === wanted || def.shortNames.includes(wanted) || `${def.plural}.${def.group}` === wanted,
  );
  const def = candidates.find((candidate) => candidate.toServed === undefined) ?? candidates[0];
  if (!def) throw new Error(`unknown resource ${resource}`);
  return def;
}

export function objectAccess(store: ObjectStore): ObjectAccess {
  const defOf = (object: KubeObject): ResourceDef => {
    const def = findResourceByKind(String(object.apiVersion), String(object.kind));
    if (!def) throw new Error(`unknown apiVersion/kind ${String(object.apiVersion)}/${String(object.kind)}`);
    return def;
  };
  const namespaceOf = (def: ResourceDef, object: KubeObject): string => (def.namespaced ? String(metadataOf(object).namespace ?? 'default') : '');
  const toStored = (def: ResourceDef, object: KubeObject): KubeObject => storedForm(def, decodeObject(def, object).object);
  return {
    get: (resource, name, namespace = '') => {
      const def = resolveResource(resource);
      const found = store.find(def.storage, def.namespaced ? namespace || 'default' : '', name);
      return found ? served(def, found) : undefined;
    },
    list: (resource, namespace) => {
      const def = resolveResource(resource);
      return store
        .all(def.storage)
        .filter((obj) => namespace === undefined || metadataOf(obj).namespace === namespace)
        .map((obj) => served(def, obj));
    },
    create: (object) => {
      const def = defOf(object);
      return served(def, store.create(def, namespaceOf(def, object), toStored(def, object)));
    },
    update: (object, updateOptions = {}) => {
      const def = defOf(object);
      return served(def, store.update(def, namespaceOf(def, object), String(metadataOf(object).name), toStored(def, object), updateOptions.subresource));
    },
    delete: (resource, name, namespace = '', deleteOptions = {}) => {
      const def = resolveResource(resource);
      store.delete(def, def.namespaced ? namespace || 'default' : '', name, deleteOptions);
    },
  };
}
