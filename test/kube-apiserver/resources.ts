// The resources served, their URL names and scope, and the discovery documents built from them
// (/api, /api/v1, /apis, /apis/<group>/<version>). events.k8s.io/v1 Events share the core Events'
// storage, converted field by field, as on the real server.
import { OBJECT_META_RULES, type JsonObject, type PatchSchema } from './patch.ts';

export interface ResourceDef {
  group: string;
  version: string;
  plural: string;
  singular: string;
  kind: string;
  /** The client-node model of the served form: its OpenAPI types drive decoding. */
  model: string;
  namespaced: boolean;
  shortNames: string[];
  hasStatus: boolean;
  /** The storage these objects live in; more than one resource may share one (Events). */
  storage: string;
  /** Field selector labels besides metadata.name and metadata.namespace. */
  fieldLabels: string[];
  /** DELETE answers the deleted object (else a Success Status), as the real registry does per resource. */
  returnsDeletedObject: boolean;
  patchSchema: PatchSchema;
  /** Conversion from the stored (core) form to what this resource serves, and back. */
  toServed?: (stored: JsonObject) => JsonObject;
  toStored?: (served: JsonObject) => JsonObject;
}

export function apiVersionOf(def: ResourceDef): string {
  return def.group ? `${def.group}/${def.version}` : def.version;
}

const VERBS = ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'];

function resource(partial: Partial<ResourceDef> & Pick<ResourceDef, 'plural' | 'singular' | 'kind' | 'namespaced'>): ResourceDef {
  const version = partial.version ?? 'v1';
  return {
    group: '',
    version,
    model: `V1${partial.kind}`,
    shortNames: [],
    hasStatus: false,
    storage: partial.group ? `${partial.group}/${partial.plural}` : partial.plural,
    fieldLabels: [],
    returnsDeletedObject: false,
    patchSchema: OBJECT_META_RULES,
    ...partial,
  };
}

const CORE_EVENT_FIELDS = [
  'involvedObject.kind',
  'involvedObject.namespace',
  'involvedObject.name',
  'involvedObject.uid',
  'involvedObject.apiVersion',
  'involvedObject.resourceVersion',
  'involvedObject.fieldPath',
  'reason',
  'reportingComponent',
  'source',
  'type',
];

/** events.k8s.io/v1 field name ↔ core/v1 field name. */
const EVENT_FIELD_MAP: Array<[string, string]> = [
  ['regarding', 'involvedObject'],
  ['note', 'message'],
  ['reportingController', 'reportingComponent'],
  ['deprecatedSource', 'source'],
  ['deprecatedFirstTimestamp', 'firstTimestamp'],
  ['deprecatedLastTimestamp', 'lastTimestamp'],
  ['deprecatedCount', 'count'],
];
const SHARED_EVENT_FIELDS = ['metadata', 'related', 'reason', 'type', 'reportingInstance', 'action', 'eventTime', 'series'];

function renameFields(object: JsonObject, pairs: Array<[string, string]>, apiVersion: string): JsonObject {
  const result: JsonObject = { kind: 'Event', apiVersion };
  for (const field of SHARED_EVENT_FIELDS) if (object[field] !== undefined) result[field] = structuredClone(object[field]) ?? null;
  for (const [from, to] of pairs) if (object[from] !== undefined) result[to] = structuredClone(object[from]) ?? null;
  return result;
}

export const RESOURCES: ResourceDef[] = [
  resource({ plural: 'namespaces', singular: 'namespace', kind: 'Namespace', namespaced: false, shortNames: ['ns'], hasStatus: true, fieldLabels: ['status.phase'] }),
  resource({ plural: 'nodes', singular: 'node', kind: 'Node', namespaced: false, shortNames: ['no'], hasStatus: true, fieldLabels: ['spec.unschedulable'], patchSchema: { ...OBJECT_META_RULES, 'status.conditions': { mergeKey: 'type' }, 'status.addresses': { mergeKey: 'type' }, 'spec.podCIDRs': {} } }),
  // `name` as a field label is a bug the real server keeps for backward compatibility.
  resource({ plural: 'persistentvolumes', singular: 'persistentvolume', kind: 'PersistentVolume', namespaced: false, shortNames: ['pv'], hasStatus: true, returnsDeletedObject: true, fieldLabels: ['name'] }),
  resource({ plural: 'persistentvolumeclaims', singular: 'persistentvolumeclaim', kind: 'PersistentVolumeClaim', namespaced: true, shortNames: ['pvc'], hasStatus: true, returnsDeletedObject: true, fieldLabels: ['name'], patchSchema: { ...OBJECT_META_RULES, 'status.conditions': { mergeKey: 'type' } } }),
  resource({ plural: 'secrets', singular: 'secret', kind: 'Secret', namespaced: true, fieldLabels: ['type'] }),
  resource({ plural: 'events', singular: 'event', kind: 'Event', model: 'CoreV1Event', namespaced: true, shortNames: ['ev'], fieldLabels: CORE_EVENT_FIELDS }),
  resource({
    group: 'events.k8s.io',
    plural: 'events',
    singular: 'event',
    kind: 'Event',
    model: 'EventsV1Event',
    namespaced: true,
    shortNames: ['ev'],
    storage: 'events',
    fieldLabels: CORE_EVENT_FIELDS,
    toServed: (stored) => renameFields(stored, EVENT_FIELD_MAP.map(([eventsName, coreName]) => [coreName, eventsName]), 'events.k8s.io/v1'),
    toStored: (served) => renameFields(served, EVENT_FIELD_MAP, 'v1'),
  }),
  resource({ group: 'storage.k8s.io', plural: 'storageclasses', singular: 'storageclass', kind: 'StorageClass', namespaced: false, shortNames: ['sc'], returnsDeletedObject: true }),
  resource({ group: 'coordination.k8s.io', plural: 'leases', singular: 'lease', kind: 'Lease', namespaced: true }),
];

/** An object as this resource serves it (events.k8s.io/v1 converts from the core storage form). */
export function served(def: ResourceDef, stored: JsonObject): JsonObject {
  return def.toServed ? def.toServed(stored) : stored;
}

export function storedForm(def: ResourceDef, servedObject: JsonObject): JsonObject {
  return def.toStored ? def.toStored(servedObject) : servedObject;
}

export function findResource(group: string, version: string, plural: string): ResourceDef | undefined {
  return RESOURCES.find((def) => def.group === group && def.version === version && def.plural === plural);
}

/** The resource whose storage form an object is in (the core one for shared storage). */
export function storageResource(storage: string): ResourceDef {
  const def = RESOURCES.find((candidate) => candidate.storage === storage && candidate.toServed === undefined);
  if (!def) throw new Error(`no resource stores ${storage}`);
  return def;
}

export function findResourceByKind(apiVersion: string, kind: string): ResourceDef | undefined {
  return RESOURCES.find((def) => apiVersionOf(def) === apiVersion && def.kind === kind);
}

function groups(): Map<string, string[]> {
  const byGroup = new Map<string, string[]>();
  for (const def of RESOURCES) if (def.group) byGroup.set(def.group, [...new Set([...(byGroup.get(def.group) ?? []), def.version])]);
  return byGroup;
}

export function apiVersions(serverAddress: string): JsonObject {
  return { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress }] };
}

function apiGroup(name: string, versions: string[]): JsonObject {
  const list = versions.map((version) => ({ groupVersion: `${name}/${version}`, version }));
  return { name, versions: list, preferredVersion: list[0] ?? null };
}

export function apiGroupList(): JsonObject {
  return { kind: 'APIGroupList', apiVersion: 'v1', groups: [...groups()].map(([name, versions]) => apiGroup(name, versions)) };
}

export function apiGroupDocument(group: string): JsonObject | undefined {
  const versions = groups().get(group);
  return versions ? { kind: 'APIGroup', apiVersion: 'v1', ...apiGroup(group, versions) } : undefined;
}

export function apiResourceList(group: string, version: string): JsonObject | undefined {
  const defs = RESOURCES.filter((def) => def.group === group && def.version === version);
  if (defs.length === 0) return undefined;
  const resources: JsonObject[] = [];
  for (const def of defs) {
    resources.push({ name: def.plural, singularName: def.singular, namespaced: def.namespaced, kind: def.kind, verbs: VERBS, shortNames: def.shortNames });
    if (def.hasStatus) resources.push({ name: `${def.plural}/status`, singularName: '', namespaced: def.namespaced, kind: def.kind, verbs: ['get', 'patch', 'update'] });
  }
  return { kind: 'APIResourceList', apiVersion: 'v1', groupVersion: group ? `${group}/${version}` : version, resources };
}
