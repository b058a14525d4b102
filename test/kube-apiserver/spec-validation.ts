// ValidatePersistentVolumeClaim, ValidatePersistentVolume and ValidateStorageClass, as far as a
// provisioner can trip over them: required fields, enumerations, one volume source, node affinity.
// They run on create and on every update, as the real strategies run them.
import type { FieldError } from './errors.ts';
import { type Json, type JsonObject, isObject } from './patch.ts';

const ACCESS_MODES = ['ReadOnlyMany', 'ReadWriteMany', 'ReadWriteOnce', 'ReadWriteOncePod'];
const VOLUME_MODES = ['Block', 'Filesystem'];
const PV_RECLAIM_POLICIES = ['Delete', 'Recycle', 'Retain'];
const CLASS_RECLAIM_POLICIES = ['Delete', 'Retain'];
const BINDING_MODES = ['Immediate', 'WaitForFirstConsumer'];
const SELECTOR_OPERATORS = ['DoesNotExist', 'Exists', 'Gt', 'In', 'Lt', 'NotIn'];
const SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const QUALIFIED_NAME = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;

export const VOLUME_SOURCES = [
  'awsElasticBlockStore', 'azureDisk', 'azureFile', 'cephfs', 'cinder', 'csi', 'fc', 'flexVolume', 'flocker', 'gcePersistentDisk',
  'glusterfs', 'hostPath', 'iscsi', 'local', 'nfs', 'photonPersistentDisk', 'portworxVolume', 'quobyte', 'rbd', 'scaleIO', 'storageos', 'vsphereVolume',
];

function field(parent: JsonObject, key: string): JsonObject {
  const value = parent[key];
  return isObject(value) ? value : {};
}

function supported(values: string[]): string {
  return `supported values: ${values.map((value) => JSON.stringify(value)).join(', ')}`;
}

function enumErrors(value: Json | undefined, allowed: string[], path: string): FieldError[] {
  if (value === undefined || value === null || (typeof value === 'string' && allowed.includes(value))) return [];
  return [{ type: 'NotSupported', field: path, value, detail: supported(allowed) }];
}

function accessModeErrors(modes: Json | undefined, path: string, required: string): FieldError[] {
  if (!Array.isArray(modes) || modes.length === 0) return [{ type: 'Required', field: path, detail: required }];
  const errors = modes.flatMap((mode) => enumErrors(mode, ACCESS_MODES, path));
  if (modes.includes('ReadWriteOncePod') && modes.length > 1) {
    errors.push({ type: 'Forbidden', field: path, detail: 'may not use ReadWriteOncePod with other access modes' });
  }
  return errors;
}

export function claimSpecErrors(spec: JsonObject): FieldError[] {
  const errors = accessModeErrors(spec.accessModes, 'spec.accessModes', 'at least 1 access mode is required');
  const requests = field(field(spec, 'resources'), 'requests');
  if (requests.storage === undefined) errors.push({ type: 'Required', field: 'spec.resources[storage]', detail: '' });
  errors.push(...enumErrors(spec.volumeMode, VOLUME_MODES, 'spec.volumeMode'));
  const className = spec.storageClassName;
  if (typeof className === 'string' && className !== '' && !SUBDOMAIN.test(className)) {
    errors.push({ type: 'Invalid', field: 'spec.storageClassName', value: className, detail: 'a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, \'-\' or \'.\', and must start and end with an alphanumeric character' });
  }
  return errors;
}

export function volumeSpecErrors(spec: JsonObject): FieldError[] {
  const errors = accessModeErrors(spec.accessModes, 'spec.accessModes', '');
  if (field(spec, 'capacity').storage === undefined) errors.push({ type: 'Required', field: 'spec.capacity', detail: '' });
  errors.push(...enumErrors(spec.persistentVolumeReclaimPolicy, PV_RECLAIM_POLICIES, 'spec.persistentVolumeReclaimPolicy'));
  errors.push(...enumErrors(spec.volumeMode, VOLUME_MODES, 'spec.volumeMode'));
  const sources = VOLUME_SOURCES.filter((source) => spec[source] !== undefined);
  if (sources.length === 0) errors.push({ type: 'Required', field: 'spec', detail: 'must specify a volume type' });
  if (sources.length > 1) errors.push({ type: 'Forbidden', field: `spec.${sources[1]}`, detail: 'may not specify more than 1 volume type' });
  if (spec.flexVolume !== undefined && !field(spec, 'flexVolume').driver) errors.push({ type: 'Required', field: 'spec.flexVolume.driver', detail: '' });
  if (spec.nodeAffinity !== undefined) errors.push(...nodeAffinityErrors(field(spec, 'nodeAffinity')));
  return errors;
}

function nodeAffinityErrors(affinity: JsonObject): FieldError[] {
  const path = 'spec.nodeAffinity.required.nodeSelectorTerms';
  const terms = field(affinity, 'required').nodeSelectorTerms;
  if (affinity.required === undefined) return [{ type: 'Required', field: 'spec.nodeAffinity.required', detail: 'must specify required node constraints' }];
  if (!Array.isArray(terms) || terms.length === 0) return [{ type: 'Required', field: path, detail: 'must have at least one node selector term' }];
  return terms.flatMap((term, index) => {
    const expressions = isObject(term) && Array.isArray(term.matchExpressions) ? term.matchExpressions : [];
    return expressions.flatMap((expression, at) => requirementErrors(isObject(expression) ? expression : {}, `${path}[${index}].matchExpressions[${at}]`));
  });
}

function requirementErrors(requirement: JsonObject, path: string): FieldError[] {
  const errors: FieldError[] = [];
  const key = requirement.key;
  if (typeof key !== 'string' || !QUALIFIED_NAME.test(key)) errors.push({ type: 'Invalid', field: `${path}.key`, value: key ?? '', detail: 'must be a qualified name' });
  const operator = requirement.operator;
  const values = Array.isArray(requirement.values) ? requirement.values : [];
  if (operator === 'In' || operator === 'NotIn') {
    if (values.length === 0) errors.push({ type: 'Required', field: `${path}.values`, detail: "must be specified when `operator` is 'In' or 'NotIn'" });
  } else if (operator === 'Exists' || operator === 'DoesNotExist') {
    if (values.length > 0) errors.push({ type: 'Forbidden', field: `${path}.values`, detail: "may not be specified when `operator` is 'Exists' or 'DoesNotExist'" });
  } else if (operator !== 'Gt' && operator !== 'Lt') {
    errors.push({ type: 'NotSupported', field: `${path}.operator`, value: operator ?? '', detail: supported(SELECTOR_OPERATORS) });
  }
  return errors;
}

export function classErrors(storageClass: JsonObject): FieldError[] {
  const errors: FieldError[] = [];
  const provisioner = storageClass.provisioner;
  if (typeof provisioner !== 'string' || provisioner === '') errors.push({ type: 'Required', field: 'provisioner', detail: '' });
  else if (!QUALIFIED_NAME.test(provisioner)) errors.push({ type: 'Invalid', field: 'provisioner', value: provisioner, detail: 'must be a qualified name' });
  errors.push(...enumErrors(storageClass.reclaimPolicy, CLASS_RECLAIM_POLICIES, 'reclaimPolicy'));
  errors.push(...enumErrors(storageClass.volumeBindingMode, BINDING_MODES, 'volumeBindingMode'));
  return errors;
}
