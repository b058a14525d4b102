// ValidateEventCreate: core/v1 Events keep the legacy rules (the involved object's namespace matches
// the Event's); events.k8s.io/v1 Events are validated strictly (eventTime, reportingController,
// reportingInstance, action, reason, type required; the deprecated fields must be unset). Both are
// checked on the stored (core) form, with the field names of the version the client wrote.
import { type FieldError, invalid } from './errors.ts';
import { type JsonObject, isObject } from './patch.ts';

const QUALIFIED_NAME = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;

function text(value: unknown): string {
  return typeof value === 'string' ? value : '';
}

export function validateEventCreate(group: string, event: JsonObject): void {
  const errors = group === 'events.k8s.io' ? strictErrors(event) : legacyErrors(event);
  if (errors.length) throw invalid(group, 'Event', text(isObject(event.metadata) ? event.metadata.name : ''), errors);
}

function legacyErrors(event: JsonObject): FieldError[] {
  const namespace = text(isObject(event.metadata) ? event.metadata.namespace : '');
  const involved = text(isObject(event.involvedObject) ? event.involvedObject.namespace : '');
  // An event about a cluster-scoped object lives in "default" (or no namespace), as old clients put it.
  const matches = involved === '' ? namespace === '' || namespace === 'default' : involved === namespace;
  return matches ? [] : [{ type: 'Invalid', field: 'involvedObject.namespace', value: involved, detail: 'does not match event.namespace' }];
}

function strictErrors(event: JsonObject): FieldError[] {
  const errors: FieldError[] = [];
  const namespace = text(isObject(event.metadata) ? event.metadata.namespace : '');
  const regarding = text(isObject(event.involvedObject) ? event.involvedObject.namespace : '');
  if (regarding === '' && namespace !== 'default' && namespace !== 'kube-system') {
    errors.push({ type: 'Invalid', field: 'involvedObject.namespace', value: regarding, detail: 'does not match event.namespace' });
  }
  const controller = text(event.reportingComponent);
  if (!controller) errors.push({ type: 'Required', field: 'reportingController', detail: '' });
  else if (!QUALIFIED_NAME.test(controller)) errors.push({ type: 'Invalid', field: 'reportingController', value: controller, detail: 'must be a qualified name' });
  for (const required of ['reportingInstance', 'action', 'reason']) if (!text(event[required])) errors.push({ type: 'Required', field: required, detail: '' });
  if (!text(event.eventTime)) errors.push({ type: 'Required', field: 'eventTime', detail: '' });
  if (event.type !== 'Normal' && event.type !== 'Warning') errors.push({ type: 'Invalid', field: 'type', value: '', detail: `has invalid value: ${text(event.type)}` });
  const unset: Array<[string, boolean]> = [
    ['deprecatedFirstTimestamp', Boolean(event.firstTimestamp)],
    ['deprecatedLastTimestamp', Boolean(event.lastTimestamp)],
    ['deprecatedCount', typeof event.count === 'number' && event.count !== 0],
    ['deprecatedSource', isObject(event.source) && Boolean(event.source.component || event.source.host)],
  ];
  for (const [field, set] of unset) if (set) errors.push({ type: 'Invalid', field, value: '', detail: 'needs to be unset' });
  return errors;
}
