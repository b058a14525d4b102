// URL → resource, verb → store operation, body in and out: the REST layer of the stand-in.
import type { ServerResponse } from 'node:http';
import { parse as parseYaml } from 'yaml';
import { badRequest, methodNotAllowed, pathNotFound, unsupportedMediaType } from './errors.ts';
import { type Json, type JsonObject, isObject, jsonPatch, mergePatch, strategicMergePatch } from './patch.ts';
import { parseFieldSelector, parseLabelSelector } from './selectors.ts';
import { type ResourceDef, served, storedForm, apiGroupDocument, apiGroupList, apiResourceList, apiVersionOf, apiVersions, findResource } from './resources.ts';
import { type ObjectStore, type DeleteOptions, groupResource, metadataOf } from './store.ts';
import type { Subresource } from './strategies.ts';
import { type WatchHub, byKey } from './watch.ts';
import { type FieldValidation, decodeObject } from './decoding.ts';

export interface ApiRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  contentType: string;
  body: string;
}

export interface ApiReply {
  status: number;
  body: unknown;
  headers?: Record<string, string>;
  warnings?: string[];
}

export interface Route {
  def: ResourceDef;
  namespace: string;
  name?: string;
  subresource?: Subresource;
  /** The legacy `/watch/` path prefix. */
  legacyWatch: boolean;
}

const VERSION_INFO = { major: '1', minor: '34', gitVersion: 'v1.34.0-standin', platform: 'linux/amd64' };

/** Discovery documents and /version; undefined for other paths. */
export function documentFor(path: string, serverAddress: string): ApiReply | undefined {
  const trimmed = path.replace(/\/+$/, '') || '/';
  const found = (body: JsonObject | undefined): ApiReply => (body ? { status: 200, body } : { status: 404, body: pathNotFound().toStatus() });
  if (trimmed === '/api') return found(apiVersions(serverAddress));
  if (trimmed === '/apis') return found(apiGroupList());
  if (trimmed === '/version') return found(VERSION_INFO);
  if (trimmed === '/api/v1') return found(apiResourceList('', 'v1'));
  const group = /^\/apis\/([^/]+)$/.exec(trimmed);
  if (group) return found(apiGroupDocument(group[1] ?? ''));
  const groupVersion = /^\/apis\/([^/]+)\/([^/]+)$/.exec(trimmed);
  if (groupVersion) return found(apiResourceList(groupVersion[1] ?? '', groupVersion[2] ?? ''));
  return undefined;
}

export function parseRoute(path: string): Route | undefined {
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  let group = '';
  let version = '';
  let segments: string[];
  if (parts[0] === 'api') {
    version = parts[1] ?? '';
    segments = parts.slice(2);
  } else if (parts[0] === 'apis') {
    group = parts[1] ?? '';
    version = parts[2] ?? '';
    segments = parts.slice(3);
  } else return undefined;
  const legacyWatch = segments[0] === 'watch';
  if (legacyWatch) segments.shift();
  let namespace = '';
  if (segments[0] === 'namespaces' && segments.length >= 3 && findResource(group, version, segments[2] ?? '')?.namespaced) {
    namespace = segments[1] ?? '';
    segments.splice(0, 2);
  }
  const [plural = '', name, subresource, ...rest] = segments;
  const def = findResource(group, version, plural);
  if (!def || rest.length > 0) return undefined;
  if (subresource !== undefined && !(subresource === 'status' && def.hasStatus)) return undefined;
  if (!def.namespaced && namespace) return undefined;
  return { def, namespace, ...(name !== undefined ? { name } : {}), ...(subresource === 'status' ? { subresource } : {}), legacyWatch };
}

export interface RouteContext {
  store: ObjectStore;
  watches: WatchHub;
}

/** Serves a resource request; undefined when the reply went out as a watch stream. */
export function serveResource(context: RouteContext, route: Route, request: ApiRequest, res: ServerResponse): ApiReply | undefined {
  const warnings: string[] = [];
  const reply = answerResource(context, route, request, res, warnings);
  if (!reply || warnings.length === 0) return reply;
  return { ...reply, warnings, headers: { ...reply.headers, warning: warnings.map((text) => `299 - ${JSON.stringify(text)}`).join(', ') } };
}

function answerResource(context: RouteContext, route: Route, request: ApiRequest, res: ServerResponse, warnings: string[]): ApiReply | undefined {
  const { store } = context;
  const { def, namespace, name } = route;
  const isWatch = route.legacyWatch || ['true', '1'].includes(request.query.get('watch') ?? '');
  if (request.method === 'GET' && isWatch) {
    if (route.subresource) throw methodNotAllowed();
    context.watches.serve(res, {
      def,
      matches: matcher(route, request.query),
      resourceVersion: request.query.get('resourceVersion') ?? '',
      allowBookmarks: request.query.get('allowWatchBookmarks') === 'true',
      ...timeoutOf(request.query),
    });
    return undefined;
  }
  // Writing anyway on a dry run would be worse than refusing it.
  if (request.query.has('dryRun')) throw badRequest('the stand-in API server does not support dryRun');
  if (name === undefined) {
    if (request.method === 'GET') return { status: 200, body: list(store, route, request.query) };
    if (request.method === 'DELETE') return { status: 200, body: deleteCollection(store, route, request.query) };
    if (request.method === 'POST') return { status: 201, body: served(def, store.create(def, namespace, decoded(request, def, objectBody(request, def), warnings))) };
    throw methodNotAllowed();
  }
  switch (request.method) {
    case 'GET':
      return { status: 200, body: served(def, store.get(def, namespace, name)) };
    case 'PUT':
      return { status: 200, body: served(def, store.update(def, namespace, name, decoded(request, def, objectBody(request, def), warnings), route.subresource)) };
    case 'PATCH':
      return { status: 200, body: served(def, patch(store, route, name, request, warnings)) };
    case 'DELETE':
      return remove(store, route, name, request);
    default:
      throw methodNotAllowed();
  }
}

function timeoutOf(query: URLSearchParams): { timeoutSeconds?: number } {
  const raw = query.get('timeoutSeconds');
  if (raw === null) return {};
  const seconds = Number(raw);
  if (!Number.isFinite(seconds) || seconds < 0) throw badRequest(`invalid timeoutSeconds: ${raw}`);
  return { timeoutSeconds: seconds };
}

function matcher(route: Route, query: URLSearchParams): (obj: JsonObject) => boolean {
  const labels = parseLabelSelector(query.get('labelSelector'));
  const fieldSelector = route.name !== undefined ? `metadata.name=${route.name}${query.get('fieldSelector') ? `,${query.get('fieldSelector')}` : ''}` : query.get('fieldSelector');
  const fields = parseFieldSelector(fieldSelector, ['metadata.name', 'metadata.namespace', ...route.def.fieldLabels]);
  return (obj) => {
    const metadata = metadataOf(obj);
    if (route.namespace && metadata.namespace !== route.namespace) return false;
    const objLabels = isObject(metadata.labels) ? (metadata.labels as Record<string, string>) : {};
    return labels(objLabels) && fields((label) => fieldValue(obj, label));
  };
}

const FIELD_ALIASES: Record<string, string> = { source: 'source.component', name: 'metadata.name' };

/** A field selector's value: a dotted path into the stored object, or what an alias stands for. */
function fieldValue(obj: JsonObject, label: string): string {
  const path = FIELD_ALIASES[label] ?? label;
  let current: Json | undefined = obj;
  for (const part of path.split('.')) current = isObject(current) ? current[part] : undefined;
  if (current === undefined || current === null) return '';
  return typeof current === 'string' ? current : JSON.stringify(current);
}

function list(store: ObjectStore, route: Route, query: URLSearchParams): JsonObject {
  const matches = matcher(route, query);
  return listOf(store, route.def, store.all(route.def.storage).filter(matches));
}

/** A `<Kind>List`; its items carry no kind/apiVersion on the wire, as the real server encodes them. */
function listOf(store: ObjectStore, def: ResourceDef, objects: JsonObject[]): JsonObject {
  const items = objects.sort(byKey).map((obj) => {
    const { kind: _kind, apiVersion: _apiVersion, ...rest } = served(def, obj);
    return rest;
  });
  return { kind: `${def.kind}List`, apiVersion: apiVersionOf(def), metadata: { resourceVersion: String(store.currentRevision) }, items };
}

/** deletecollection: each selected object deleted as by its own DELETE; the answer lists them. */
function deleteCollection(store: ObjectStore, route: Route, query: URLSearchParams): JsonObject {
  const matches = matcher(route, query);
  const deleted = store
    .all(route.def.storage)
    .filter(matches)
    .map((obj) => store.delete(route.def, String(metadataOf(obj).namespace ?? ''), String(metadataOf(obj).name)).object);
  return listOf(store, route.def, deleted);
}

function parseBody(request: ApiRequest): Json {
  const type = request.contentType.split(';')[0]?.trim().toLowerCase() ?? '';
  try {
    if (type === 'application/yaml') return parseYaml(request.body) as Json;
    return JSON.parse(request.body) as Json;
  } catch (error) {
    throw badRequest(`the request body is not valid ${type === 'application/yaml' ? 'YAML' : 'JSON'}: ${(error as Error).message}`);
  }
}

function objectBody(request: ApiRequest, def: ResourceDef): JsonObject {
  const type = request.contentType.split(';')[0]?.trim().toLowerCase() ?? '';
  if (type !== '' && type !== 'application/json' && type !== 'application/yaml') throw unsupportedMediaType(request.contentType);
  const body = parseBody(request);
  if (!isObject(body)) throw badRequest(`the object provided is unrecognized (must be of type ${def.kind})`);
  if (body.kind !== undefined && body.kind !== def.kind) throw badRequest(`the kind in the data (${String(body.kind)}) does not match the expected kind (${def.kind})`);
  if (body.apiVersion !== undefined && body.apiVersion !== apiVersionOf(def)) {
    throw badRequest(`the API version in the data (${String(body.apiVersion)}) does not match the expected API version (${apiVersionOf(def)})`);
  }
  return body;
}

/** The body as the Go decoder leaves it (checked, unknown fields dropped), in the stored form. */
function decoded(request: ApiRequest, def: ResourceDef, body: JsonObject, warnings: string[]): JsonObject {
  const validation = request.query.get('fieldValidation') ?? 'Warn';
  if (!['Ignore', 'Warn', 'Strict'].includes(validation)) throw badRequest(`fieldValidation must be one of Ignore, Warn, Strict, not ${validation}`);
  const result = decodeObject(def, body, validation as FieldValidation);
  warnings.push(...result.warnings);
  return storedForm(def, result.object);
}

function patch(store: ObjectStore, route: Route, name: string, request: ApiRequest, warnings: string[]): JsonObject {
  const { def, namespace } = route;
  const current = served(def, store.get(def, namespace, name));
  const document = parseBody(request);
  const type = request.contentType.split(';')[0]?.trim().toLowerCase() ?? '';
  let patched: Json;
  if (type === 'application/merge-patch+json') patched = mergePatch(current, document);
  else if (type === 'application/strategic-merge-patch+json') patched = strategicMergePatch(current, document, def.patchSchema);
  else if (type === 'application/json-patch+json') patched = jsonPatch(current, document);
  else throw unsupportedMediaType(request.contentType);
  if (!isObject(patched)) throw badRequest('the patch did not produce an object');
  // The patch's resourceVersion (if it sets one) is a precondition; otherwise the current one is.
  metadataOf(patched).resourceVersion ??= metadataOf(current).resourceVersion ?? null;
  return store.update(def, namespace, name, decoded(request, def, patched, warnings), route.subresource);
}

function remove(store: ObjectStore, route: Route, name: string, request: ApiRequest): ApiReply {
  const options: DeleteOptions = request.body.trim() ? (parseBody(request) as DeleteOptions) : {};
  const uid = request.query.get('preconditions.uid') ?? undefined;
  if (uid) options.preconditions = { ...options.preconditions, uid };
  const { object, deleted } = store.delete(route.def, route.namespace, name, options);
  if (!deleted || route.def.returnsDeletedObject) return { status: 200, body: served(route.def, object) };
  const { group, resource: kind } = groupResource(route.def);
  const details = { name, ...(group ? { group } : {}), kind, uid: String(metadataOf(object).uid ?? '') };
  return { status: 200, body: { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', details } };
}
