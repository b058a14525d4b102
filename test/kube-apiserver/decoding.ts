// What decoding a request body into the Go types does before any validation, driven by the OpenAPI
// types client-node carries: a value of the wrong JSON type (a number in `flexVolume.options`, a
// string for a bool) or a malformed quantity is 400 BadRequest; an unknown field is dropped with a
// `Warning` header, or refused with `fieldValidation=Strict`, as the real server does. Accepting
// either silently here would hide a client's bug that a real server shows.
import * as models from '@kubernetes/client-node';
import { badRequest } from './errors.ts';
import { type Json, type JsonObject, isObject } from './patch.ts';
import { parseQuantity } from './quantity.ts';
import type { ResourceDef } from './resources.ts';

export type FieldValidation = 'Ignore' | 'Warn' | 'Strict';

interface Attribute {
  baseName: string;
  type: string;
  format: string;
}

type Model = { getAttributeTypeMap(): Attribute[] };

/** Quantity maps: client-node types them as strings, the Go decoder takes strings or numbers in the quantity syntax. */
const QUANTITY_MAPS = new Set([
  'spec.capacity',
  'spec.resources.requests',
  'spec.resources.limits',
  'status.capacity',
  'status.allocatable',
  'status.allocatedResources',
]);

const QUANTITY_PATTERN = "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";

function modelOf(type: string): Model | undefined {
  const candidate = (models as unknown as Record<string, unknown>)[type];
  return typeof candidate === 'function' && 'getAttributeTypeMap' in candidate ? (candidate as unknown as Model) : undefined;
}

/** The Go struct a model stands for, as decoding errors name it (V1FlexPersistentVolumeSource → FlexPersistentVolumeSource). */
function goStruct(type: string): string {
  return type.replace(/^(Core|Events|Storage|Coordination)?V\d+((alpha|beta)\d+)?/, '');
}

function goType(type: string, format: string): string {
  if (type.startsWith('Array<')) return `[]${goType(type.slice(6, -1), '')}`;
  if (type.startsWith('{ [key: string]: ')) return `map[string]${goType(type.slice(17, -3), '')}`;
  if (type === 'number') return format || 'int32';
  if (type === 'boolean') return 'bool';
  if (type === 'Date') return 'v1.Time';
  return modelOf(type) ? `v1.${goStruct(type)}` : type;
}

function jsonType(value: Json): string {
  if (Array.isArray(value)) return 'array';
  if (value === null) return 'null';
  if (typeof value === 'boolean') return 'bool';
  return typeof value;
}

interface Walk {
  refuse: (detail: string) => never;
  unknown: string[];
}

export interface Decoded {
  object: JsonObject;
  warnings: string[];
}

/** Checks and prunes a served-form object (what the client sent) against the resource's type. */
export function decodeObject(def: ResourceDef, body: JsonObject, validation: FieldValidation = 'Warn'): Decoded {
  const refuse = (detail: string): never => {
    throw badRequest(`${def.kind} in version "${def.version}" cannot be handled as a ${def.kind}: ${detail}`);
  };
  const walk: Walk = { refuse, unknown: [] };
  const object = decodeModel(body, def.model, '', walk) as JsonObject;
  const warnings = walk.unknown.map((path) => `unknown field "${path}"`);
  if (validation === 'Strict' && warnings.length) refuse(`strict decoding error: ${warnings.join(', ')}`);
  return { object, warnings: validation === 'Warn' ? warnings : [] };
}

function decodeModel(value: JsonObject, type: string, path: string, walk: Walk): JsonObject {
  const attributes = modelOf(type)?.getAttributeTypeMap() ?? [];
  const result: JsonObject = {};
  for (const [key, child] of Object.entries(value)) {
    const childPath = path ? `${path}.${key}` : key;
    const attribute = attributes.find((candidate) => candidate.baseName === key);
    if (!attribute) {
      walk.unknown.push(childPath);
      continue;
    }
    result[key] = QUANTITY_MAPS.has(childPath) ? decodeQuantities(child, walk) : decodeValue(child, attribute, goStruct(type), childPath, walk);
  }
  return result;
}

function decodeValue(value: Json, attribute: Pick<Attribute, 'type' | 'format'>, struct: string, path: string, walk: Walk): Json {
  if (value === null) return null;
  const { type, format } = attribute;
  const mismatch = (): never => walk.refuse(`json: cannot unmarshal ${jsonType(value)} into Go struct field ${struct}.${path} of type ${goType(type, format)}`);
  if (type.startsWith('Array<')) {
    if (!Array.isArray(value)) return mismatch();
    return value.map((item) => decodeValue(item, { type: type.slice(6, -1), format: '' }, struct, path, walk));
  }
  if (type.startsWith('{ [key: string]: ')) {
    if (!isObject(value)) return mismatch();
    const inner = { type: type.slice(17, -3), format: '' };
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, decodeValue(item, inner, struct, path, walk)]));
  }
  switch (type) {
    case 'string':
      return typeof value === 'string' ? value : mismatch();
    case 'Date':
    case 'V1MicroTime':
      return typeof value === 'string' ? serializedTime(value, type === 'V1MicroTime', walk) : mismatch();
    case 'number':
      return typeof value === 'number' && (format === 'double' || Number.isInteger(value)) ? value : mismatch();
    case 'boolean':
      return typeof value === 'boolean' ? value : mismatch();
  }
  if (!modelOf(type)) return value;
  return isObject(value) ? decodeModel(value, type, path, walk) : mismatch();
}

const RFC3339 = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)$/;

/**
 * A time as the server writes it back: metav1.Time at whole seconds, MicroTime with six fraction
 * digits, both in UTC. What Go's time parser refuses is a 400 in its words.
 */
function serializedTime(value: string, micro: boolean, walk: Walk): string {
  const layout = micro ? '2006-01-02T15:04:05.000000Z07:00' : '2006-01-02T15:04:05Z07:00';
  const match = RFC3339.exec(value);
  const millis = Date.parse(value);
  if (!match || Number.isNaN(millis)) return walk.refuse(`parsing time ${JSON.stringify(value)} as ${JSON.stringify(layout)}: cannot parse ${JSON.stringify(value)} as "2006"`);
  const seconds = new Date(millis).toISOString().slice(0, 19);
  if (!micro) return `${seconds}Z`;
  // A UTC input keeps its own sub-millisecond digits; an offset one is converted through Date.
  const fraction = match[3] === 'Z' ? (match[2] ?? '.').slice(1) : String(millis % 1000).padStart(3, '0');
  return `${seconds}.${fraction.padEnd(6, '0').slice(0, 6)}Z`;
}

function decodeQuantities(value: Json, walk: Walk): Json {
  if (value === null) return null;
  if (!isObject(value)) return walk.refuse(QUANTITY_PATTERN);
  for (const entry of Object.values(value)) {
    if (!(typeof entry === 'number' || (typeof entry === 'string' && parseQuantity(entry)))) walk.refuse(QUANTITY_PATTERN);
  }
  return value;
}
