// ValidateObjectMeta's checks that a client can trip over: the name (an RFC 1123 subdomain), label
// keys and values, annotation keys. Field errors as the real validation words them.
import type { FieldError } from './errors.ts';
import { type JsonObject, isObject } from './patch.ts';

const SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const NAME_PART = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

const SUBDOMAIN_DETAIL =
  "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const NAME_PART_DETAIL =
  "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
const LABEL_VALUE_DETAIL =
  "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";

export function nameErrors(name: string): FieldError[] {
  if (SUBDOMAIN.test(name) && name.length <= 253) return [];
  return [{ type: 'Invalid', field: 'metadata.name', value: name, detail: SUBDOMAIN_DETAIL }];
}

/** A qualified name: `[prefix/]name`, prefix a DNS subdomain, name at most 63 characters. */
function qualifiedNameErrors(key: string, field: string): FieldError[] {
  const parts = key.split('/');
  const [prefix, name] = parts.length === 2 ? parts : ['', parts[0] ?? ''];
  if (parts.length > 2 || (parts.length === 2 && (!prefix || !SUBDOMAIN.test(prefix) || prefix.length > 253))) {
    return [{ type: 'Invalid', field, value: key, detail: 'prefix part must be a lowercase RFC 1123 subdomain' }];
  }
  if (!name || !NAME_PART.test(name) || name.length > 63) return [{ type: 'Invalid', field, value: key, detail: NAME_PART_DETAIL }];
  return [];
}

export function labelAndAnnotationErrors(metadata: JsonObject): FieldError[] {
  const errors: FieldError[] = [];
  const labels = isObject(metadata.labels) ? metadata.labels : {};
  for (const [key, value] of Object.entries(labels)) {
    errors.push(...qualifiedNameErrors(key, 'metadata.labels'));
    if (typeof value === 'string' && (!LABEL_VALUE.test(value) || value.length > 63)) {
      errors.push({ type: 'Invalid', field: 'metadata.labels', value, detail: LABEL_VALUE_DETAIL });
    }
  }
  const annotations = isObject(metadata.annotations) ? metadata.annotations : {};
  for (const key of Object.keys(annotations)) errors.push(...qualifiedNameErrors(key, 'metadata.annotations'));
  return errors;
}
