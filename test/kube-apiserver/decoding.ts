// What decoding a request body into the Go types refuses before any validation: a number or bool
// where a string map wants strings, a string where a bool or integer belongs, a malformed quantity.
// The real server answers those with 400 BadRequest; accepting them would hide a client's bug.
import { badRequest } from './errors.ts';
import { type Json, type JsonObject, isObject } from './patch.ts';
import { parseQuantity } from './quantity.ts';

type Expect = 'stringMap' | 'quantityMap' | 'bool' | 'integer';

interface FieldRule {
  path: string;
  expect: Expect;
  /** The Go struct the field belongs to, as decoding errors name it. */
  goStruct: string;
}

const META: FieldRule[] = [
  { path: 'metadata.labels', expect: 'stringMap', goStruct: 'ObjectMeta' },
  { path: 'metadata.annotations', expect: 'stringMap', goStruct: 'ObjectMeta' },
];

const RULES: Record<string, FieldRule[]> = {
  persistentvolumes: [
    { path: 'spec.capacity', expect: 'quantityMap', goStruct: 'PersistentVolumeSpec' },
    { path: 'spec.flexVolume.options', expect: 'stringMap', goStruct: 'FlexPersistentVolumeSource' },
    { path: 'spec.flexVolume.readOnly', expect: 'bool', goStruct: 'FlexPersistentVolumeSource' },
    { path: 'spec.csi.volumeAttributes', expect: 'stringMap', goStruct: 'CSIPersistentVolumeSource' },
  ],
  persistentvolumeclaims: [
    { path: 'spec.resources.requests', expect: 'quantityMap', goStruct: 'VolumeResourceRequirements' },
    { path: 'spec.resources.limits', expect: 'quantityMap', goStruct: 'VolumeResourceRequirements' },
    { path: 'status.capacity', expect: 'quantityMap', goStruct: 'PersistentVolumeClaimStatus' },
  ],
  'storage.k8s.io/storageclasses': [
    { path: 'parameters', expect: 'stringMap', goStruct: 'StorageClass' },
    { path: 'allowVolumeExpansion', expect: 'bool', goStruct: 'StorageClass' },
  ],
  secrets: [
    { path: 'stringData', expect: 'stringMap', goStruct: 'Secret' },
    { path: 'immutable', expect: 'bool', goStruct: 'Secret' },
  ],
  nodes: [
    { path: 'status.capacity', expect: 'quantityMap', goStruct: 'NodeStatus' },
    { path: 'status.allocatable', expect: 'quantityMap', goStruct: 'NodeStatus' },
  ],
  'coordination.k8s.io/leases': [
    { path: 'spec.leaseDurationSeconds', expect: 'integer', goStruct: 'LeaseSpec' },
    { path: 'spec.leaseTransitions', expect: 'integer', goStruct: 'LeaseSpec' },
  ],
};

const QUANTITY_PATTERN = "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";

function at(obj: JsonObject, path: string): Json | undefined {
  let current: Json | undefined = obj;
  for (const part of path.split('.')) current = isObject(current) ? current[part] : undefined;
  return current;
}

function jsonType(value: Json): string {
  if (Array.isArray(value)) return 'array';
  if (value === null) return 'null';
  if (typeof value === 'boolean') return 'bool';
  return typeof value;
}

/** Throws the real server's 400 for a body that would not decode into the resource's Go type. */
export function checkDecodable(storage: string, kind: string, version: string, obj: JsonObject): void {
  const refuse = (detail: string): never => {
    throw badRequest(`${kind} in version "${version}" cannot be handled as a ${kind}: ${detail}`);
  };
  const unmarshal = (value: Json, rule: FieldRule, path: string, goType: string): never =>
    refuse(`json: cannot unmarshal ${jsonType(value)} into Go struct field ${rule.goStruct}.${path} of type ${goType}`);
  for (const rule of [...META, ...(RULES[storage] ?? [])]) {
    const value = at(obj, rule.path);
    if (value === undefined || value === null) continue;
    switch (rule.expect) {
      case 'bool':
        if (typeof value !== 'boolean') unmarshal(value, rule, rule.path, 'bool');
        break;
      case 'integer':
        if (typeof value !== 'number' || !Number.isInteger(value)) unmarshal(value, rule, rule.path, 'int32');
        break;
      case 'stringMap':
      case 'quantityMap': {
        if (!isObject(value)) unmarshal(value, rule, rule.path, 'map[string]string');
        for (const [key, entry] of Object.entries(value as JsonObject)) {
          if (rule.expect === 'stringMap' && typeof entry !== 'string') unmarshal(entry, rule, `${rule.path}.${key}`, 'string');
          if (rule.expect === 'quantityMap' && !(typeof entry === 'number' || (typeof entry === 'string' && parseQuantity(entry)))) refuse(QUANTITY_PATTERN);
        }
      }
    }
  }
}
