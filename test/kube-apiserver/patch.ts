// The three patch types the API server accepts for these resources: JSON merge patch (RFC 7386),
// JSON patch (RFC 6902) and strategic merge patch, the latter with the merge keys and strategies the
// real types declare (finalizers merge as a set, conditions merge by `type`, other lists replace).
import { ApiError, badRequest } from './errors.ts';

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

export function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function mergePatch(target: Json | undefined, patch: Json): Json {
  if (!isObject(patch)) return structuredClone(patch);
  const result: JsonObject = isObject(target) ? structuredClone(target) : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete result[key];
    else result[key] = mergePatch(result[key], value);
  }
  return result;
}

/** How a list field merges in a strategic merge patch; lists not named here are replaced. */
export interface ListRule {
  /** The element field that identifies an element; absent for a set of primitives. */
  mergeKey?: string;
}

export type PatchSchema = Readonly<Record<string, ListRule>>;

/** Paths are dotted from the object's root; `[]` stands for "an element of the list". */
export const OBJECT_META_RULES: PatchSchema = {
  'metadata.finalizers': {},
  'metadata.ownerReferences': { mergeKey: 'uid' },
};

export function strategicMergePatch(target: Json | undefined, patch: Json, schema: PatchSchema): Json {
  const merged = mergeValue(target, patch, schema, '');
  if (merged === undefined) throw badRequest('the patch deletes the whole object');
  return merged;
}

function mergeValue(target: Json | undefined, patch: Json, schema: PatchSchema, path: string): Json | undefined {
  if (!isObject(patch)) return structuredClone(patch);
  const directive = patch.$patch;
  if (directive === 'delete') return undefined;
  if (directive === 'replace') return withoutDirectives(patch);
  const result: JsonObject = isObject(target) ? structuredClone(target) : {};
  for (const [key, value] of Object.entries(patch)) {
    if (key.startsWith('$deleteFromPrimitiveList/')) {
      const field = key.slice('$deleteFromPrimitiveList/'.length);
      const remove = Array.isArray(value) ? value : [];
      const current = result[field];
      if (Array.isArray(current)) result[field] = current.filter((item) => !remove.some((gone) => sameJson(gone, item)));
    }
  }
  for (const [key, value] of Object.entries(patch)) {
    if (key.startsWith('$')) continue;
    const childPath = path ? `${path}.${key}` : key;
    if (value === null) {
      delete result[key];
      continue;
    }
    const rule = schema[childPath];
    const merged = Array.isArray(value) && rule ? mergeList(result[key], value, rule, schema, childPath) : mergeValue(result[key], value, schema, childPath);
    if (merged === undefined) delete result[key];
    else result[key] = merged;
  }
  const retain = patch.$retainKeys;
  if (Array.isArray(retain)) {
    for (const key of Object.keys(result)) if (!retain.includes(key)) delete result[key];
  }
  return result;
}

function mergeList(target: Json | undefined, patch: Json[], rule: ListRule, schema: PatchSchema, path: string): Json[] {
  if (patch.some((item) => isObject(item) && item.$patch === 'replace')) {
    return patch.filter((item) => !(isObject(item) && item.$patch === 'replace')).map((item) => (isObject(item) ? withoutDirectives(item) : item));
  }
  const result: Json[] = Array.isArray(target) ? structuredClone(target) : [];
  const key = rule.mergeKey;
  if (key === undefined) {
    for (const item of patch) if (!result.some((existing) => sameJson(existing, item))) result.push(structuredClone(item));
    return result;
  }
  for (const item of patch) {
    if (!isObject(item)) throw badRequest(`the patch's list ${path} needs objects with the merge key "${key}"`);
    const index = result.findIndex((existing) => isObject(existing) && sameJson(existing[key] ?? null, item[key] ?? null));
    if (item.$patch === 'delete') {
      if (index >= 0) result.splice(index, 1);
      continue;
    }
    const merged = mergeValue(index >= 0 ? result[index] : undefined, item, schema, `${path}[]`);
    if (merged === undefined) continue;
    if (index >= 0) result[index] = merged;
    else result.push(merged);
  }
  return result;
}

function withoutDirectives(object: JsonObject): JsonObject {
  return Object.fromEntries(Object.entries(structuredClone(object)).filter(([key]) => !key.startsWith('$')));
}

export function sameJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(sortKeys(a)) === JSON.stringify(sortKeys(b));
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (isObject(value)) return Object.fromEntries(Object.keys(value).sort().map((key) => [key, sortKeys(value[key])]));
  return value;
}

interface JsonPatchOperation {
  op: string;
  path: string;
  from?: string;
  value?: Json;
}

/** RFC 6902; a failed `test` or a missing path is 422 Invalid, as the real server answers. */
export function jsonPatch(target: Json, operations: Json): Json {
  if (!Array.isArray(operations)) throw badRequest('json: cannot unmarshal object into Go value of type jsonpatch.Patch');
  let document: Json = structuredClone(target);
  for (const raw of operations) {
    if (!isObject(raw) || typeof raw.op !== 'string' || typeof raw.path !== 'string') throw badRequest('a JSON patch operation needs "op" and "path"');
    document = applyOperation(document, raw as unknown as JsonPatchOperation);
  }
  return document;
}

function patchFailure(message: string): ApiError {
  return new ApiError(422, 'Invalid', message);
}

function pointerTokens(pointer: string): string[] {
  if (pointer === '') return [];
  if (!pointer.startsWith('/')) throw patchFailure(`invalid JSON pointer "${pointer}"`);
  return pointer.slice(1).split('/').map((token) => token.replace(/~1/g, '/').replace(/~0/g, '~'));
}

function getAt(document: Json, pointer: string): Json | undefined {
  let current: Json | undefined = document;
  for (const token of pointerTokens(pointer)) {
    if (Array.isArray(current)) current = current[Number(token)];
    else if (isObject(current)) current = current[token];
    else return undefined;
  }
  return current;
}

function applyOperation(document: Json, operation: JsonPatchOperation): Json {
  switch (operation.op) {
    case 'add':
      return putAt(document, operation.path, operation.value ?? null, 'add');
    case 'replace':
      if (getAt(document, operation.path) === undefined) throw patchFailure(`replace operation does not apply: doc is missing key: ${operation.path}`);
      return putAt(document, operation.path, operation.value ?? null, 'replace');
    case 'remove':
      return removeAt(document, operation.path);
    case 'test':
      if (!sameJson(getAt(document, operation.path), operation.value)) throw patchFailure(`testing value ${operation.path} failed: test failed`);
      return document;
    case 'move':
    case 'copy': {
      const value = getAt(document, operation.from ?? '');
      if (value === undefined) throw patchFailure(`${operation.op} operation does not apply: doc is missing from path: ${operation.from ?? ''}`);
      const base = operation.op === 'move' ? removeAt(document, operation.from ?? '') : document;
      return putAt(base, operation.path, structuredClone(value), 'add');
    }
    default:
      throw badRequest(`Unexpected kind: ${operation.op}`);
  }
}

function parentOf(document: Json, pointer: string): { parent: Json | undefined; last: string } {
  const tokens = pointerTokens(pointer);
  const last = tokens.pop();
  if (last === undefined) throw patchFailure('a JSON patch cannot replace the whole document');
  return { parent: getAt(document, tokens.map((token) => `/${token.replace(/~/g, '~0').replace(/\//g, '~1')}`).join('')), last };
}

function putAt(document: Json, pointer: string, value: Json, mode: 'add' | 'replace'): Json {
  if (pointer === '') return value;
  const { parent, last } = parentOf(document, pointer);
  if (Array.isArray(parent)) {
    const index = last === '-' ? parent.length : Number(last);
    if (!Number.isInteger(index) || index < 0 || index > parent.length) throw patchFailure(`${mode} operation does not apply: index out of range at ${pointer}`);
    if (mode === 'add') parent.splice(index, 0, value);
    else parent[index] = value;
  } else if (isObject(parent)) parent[last] = value;
  else throw patchFailure(`${mode} operation does not apply: doc is missing path: ${pointer}`);
  return document;
}

function removeAt(document: Json, pointer: string): Json {
  const { parent, last } = parentOf(document, pointer);
  if (Array.isArray(parent) && Number(last) < parent.length) parent.splice(Number(last), 1);
  else if (isObject(parent) && last in parent) delete parent[last];
  else throw patchFailure(`remove operation does not apply: doc is missing path: ${pointer}`);
  return document;
}
