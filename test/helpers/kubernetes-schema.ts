// Strict validation of Kubernetes objects against the published OpenAPI schema, through
// kubernetes-models' validators. Those ignore fields the schema does not have (a misspelled
// `volumeMount` passes), so every field is also probed: replaced by a value no schema type accepts
// (a symbol is not JSON), it must then raise an error at its own path; a field whose probe passes
// is one the schema does not know.
import { DaemonSet, Deployment } from 'kubernetes-models/apps/v1';
import { ConfigMap, Namespace, PersistentVolume, PersistentVolumeClaim, Pod, Secret, ServiceAccount } from 'kubernetes-models/v1';
import { ClusterRole, ClusterRoleBinding, Role, RoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1';
import { StorageClass } from 'kubernetes-models/storage.k8s.io/v1';

type Model = new (data: never) => { validate(): void };

const MODELS: Readonly<Record<string, Model>> = {
  ClusterRole,
  ClusterRoleBinding,
  ConfigMap,
  DaemonSet,
  Deployment,
  Namespace,
  PersistentVolume,
  PersistentVolumeClaim,
  Pod,
  Role,
  RoleBinding,
  Secret,
  ServiceAccount,
  StorageClass,
};

const PROBE = Symbol('not a JSON value');

/** JSON pointers of the schema errors of `object` (empty when valid). */
function errorPointers(model: Model, object: unknown): string[] {
  try {
    new model(object as never).validate();
    return [];
  } catch (error) {
    const errors = (error as { errors?: Array<{ instancePath: string; message?: string }> }).errors;
    if (errors === undefined) throw error;
    return errors.map((entry) => entry.instancePath);
  }
}

const pointerOf = (parent: string, key: string): string => `${parent}/${key.replace(/~/g, '~0').replace(/\//g, '~1')}`;

/** Fields of `object` the schema of its kind does not have, as JSON pointers. */
function unknownFields(model: Model, object: Record<string, unknown>): string[] {
  const unknown: string[] = [];
  const visit = (node: unknown, pointer: string): void => {
    if (node === null || typeof node !== 'object') return;
    const container = node as Record<string, unknown>;
    for (const key of Object.keys(container)) {
      const child = pointerOf(pointer, key);
      const value = container[key];
      container[key] = PROBE;
      const known = errorPointers(model, object).includes(child);
      container[key] = value;
      if (known) visit(value, child);
      else unknown.push(child);
    }
  };
  visit(object, '');
  return unknown;
}

/** Throws unless `object` is of a known kind, valid, and has no field its schema lacks. */
export function validateStrictly(object: Record<string, unknown>, where: string): void {
  const model = MODELS[String(object.kind)];
  if (model === undefined) throw new Error(`${where}: no schema for kind ${String(object.kind)}`);
  const errors = errorPointers(model, object);
  if (errors.length > 0) throw new Error(`${where}: invalid ${String(object.kind)} at ${errors.join(', ')}`);
  const unknown = unknownFields(model, structuredClone(object));
  if (unknown.length > 0) throw new Error(`${where}: fields ${String(object.kind)} does not have: ${unknown.join(', ')}`);
}
