// ARM's Microsoft.Compute surface that a disk driver touches, plus the operation-status URLs its
// long-running writes hand out. Paths match without regard to case, as ARM's do.
import { ArmError } from './model.ts';
import { asRecord, type Machine, type Operation, type SimulatorState } from './state.ts';
import { jsonObjectBody, type SimRequest, type SimResponse } from './http.ts';
import type { FaultList } from './faults.ts';

const LIST_PAGE_SIZE = 50;

export interface ArmContext {
  state: SimulatorState;
  faults: FaultList;
  baseUrl: string;
}

type Params = Record<string, string>;
type Handler = (ctx: ArmContext, request: SimRequest, params: Params) => SimResponse;

interface Route {
  pattern: string[];
  handlers: Partial<Record<string, Handler>>;
}

const RESOURCE_PATH = /^\/subscriptions\/([^/]+)\/resourceGroups\/([^/]+)\/providers\/Microsoft\.Compute\/(.+)$/i;
const OPERATION_PATH = /^\/subscriptions\/([^/]+)\/providers\/Microsoft\.Compute\/locations\/[^/]+\/operations\/([^/]+)$/i;

const ROUTES: Route[] = [
  route('disks/:disk', { GET: getDisk }),
  route('virtualMachines', { GET: listVMs }),
  route('virtualMachines/:vm', { GET: getVM, PUT: updateVM, PATCH: updateVM }),
  route('virtualMachines/:vm/attachDetachDataDisks', { POST: attachDetachVM }),
  route('virtualMachineScaleSets/:vmss/virtualMachines', { GET: listScaleSetVMs }),
  route('virtualMachineScaleSets/:vmss/virtualMachines/:instanceId', { GET: getScaleSetVM, PUT: updateScaleSetVM }),
  route('virtualMachineScaleSets/:vmss/virtualMachines/:instanceId/attachDetachDataDisks', { POST: attachDetachScaleSetVM }),
];

export function handleArm(ctx: ArmContext, request: SimRequest): SimResponse {
  ctx.state.settle();
  if (!request.query.get('api-version')) {
    throw new ArmError(400, 'MissingApiVersionParameter', 'The api-version query parameter (?api-version=) is required for all requests.');
  }
  const operation = OPERATION_PATH.exec(request.path);
  if (operation) {
    checkSubscription(ctx, operation[1] ?? '');
    return operationStatus(ctx, request, operation[2] ?? '');
  }
  const resource = RESOURCE_PATH.exec(request.path);
  if (!resource) throw unknownPath(request);
  checkSubscription(ctx, resource[1] ?? '');
  const segments = (resource[3] ?? '').split('/').map(decodeURIComponent);
  for (const candidate of ROUTES) {
    const params = matchSegments(candidate.pattern, segments);
    if (!params) continue;
    const handler = candidate.handlers[request.method];
    if (!handler) {
      throw new ArmError(405, 'MethodNotAllowed', `The requested resource does not support http method '${request.method}'.`);
    }
    return handler(ctx, request, { ...params, resourceGroup: decodeURIComponent(resource[2] ?? '') });
  }
  throw unknownPath(request);
}

function getDisk(ctx: ArmContext, _request: SimRequest, p: Params): SimResponse {
  return ok(ctx.state.disk(param(p, 'resourceGroup'), param(p, 'disk')));
}

function getVM(ctx: ArmContext, _request: SimRequest, p: Params): SimResponse {
  return machineResponse(ctx, ctx.state.vm(param(p, 'resourceGroup'), param(p, 'vm')));
}

function updateVM(ctx: ArmContext, request: SimRequest, p: Params): SimResponse {
  return updateMachine(ctx, request, ctx.state.vm(param(p, 'resourceGroup'), param(p, 'vm')));
}

function attachDetachVM(ctx: ArmContext, request: SimRequest, p: Params): SimResponse {
  return attachDetach(ctx, request, ctx.state.vm(param(p, 'resourceGroup'), param(p, 'vm')));
}

function listVMs(ctx: ArmContext, request: SimRequest, p: Params): SimResponse {
  return page(ctx, request, ctx.state.resourceGroupVMs(param(p, 'resourceGroup')));
}

function listScaleSetVMs(ctx: ArmContext, request: SimRequest, p: Params): SimResponse {
  return page(ctx, request, ctx.state.scaleSetVMs(param(p, 'resourceGroup'), param(p, 'vmss')));
}

/** ARM's list pages: `value`, and `nextLink` while more follow. */
function page(ctx: ArmContext, request: SimRequest, all: unknown[]): SimResponse {
  const start = Number(request.query.get('$skiptoken') ?? 0);
  const end = start + LIST_PAGE_SIZE;
  const value = all.slice(start, end);
  if (end >= all.length) return ok({ value });
  const next = new URLSearchParams({ 'api-version': request.query.get('api-version') ?? '', $skiptoken: String(end) });
  return ok({ value, nextLink: `${ctx.baseUrl}${request.path}?${next}` });
}

function getScaleSetVM(ctx: ArmContext, _request: SimRequest, p: Params): SimResponse {
  return machineResponse(ctx, scaleSetMachine(ctx, p));
}

/** A VM or instance as GET shows it: the etag in the body and in the `ETag` header, as ARM does. */
function machineResponse(ctx: ArmContext, machine: Machine): SimResponse {
  return { status: 200, body: ctx.state.machineView(machine), headers: { ETag: machine.etag } };
}

/** What every write of a machine goes through first: another writer's change, then If-Match / If-None-Match. */
function admitWrite(ctx: ArmContext, request: SimRequest, machine: Machine): void {
  ctx.state.runWriteHooks(machine);
  ctx.state.checkPreconditions(machine, header(request, 'if-match'), header(request, 'if-none-match'));
}

function header(request: SimRequest, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value.join(', ') : value;
}

function updateScaleSetVM(ctx: ArmContext, request: SimRequest, p: Params): SimResponse {
  return updateMachine(ctx, request, scaleSetMachine(ctx, p));
}

function attachDetachScaleSetVM(ctx: ArmContext, request: SimRequest, p: Params): SimResponse {
  return attachDetach(ctx, request, scaleSetMachine(ctx, p));
}

function scaleSetMachine(ctx: ArmContext, p: Params): Machine {
  return ctx.state.scaleSetVM(param(p, 'resourceGroup'), param(p, 'vmss'), param(p, 'instanceId'));
}

/** PUT answers 200 with the model as asked; PATCH answers 202 with nothing but where to look. */
function updateMachine(ctx: ArmContext, request: SimRequest, machine: Machine): SimResponse {
  const body = jsonObjectBody(request);
  admitWrite(ctx, request, machine);
  if (request.method === 'PUT') checkLocation(ctx, machine, body);
  const operation = begin(ctx, request, machine, requestedDataDisks(body), 'machine');
  const headers = operationHeaders(ctx, request, operation);
  if (request.method === 'PATCH') return { status: 202, headers: { ...headers, Location: monitorUrl(headers) } };
  return { status: 200, body: ctx.state.machineView(machine, operation.plan?.desired), headers: { ...headers, ETag: machine.etag } };
}

function attachDetach(ctx: ArmContext, request: SimRequest, machine: Machine): SimResponse {
  admitWrite(ctx, request, machine);
  const dataDisks = ctx.state.attachDetachAsDataDisks(machine, jsonObjectBody(request));
  const headers = operationHeaders(ctx, request, begin(ctx, request, machine, dataDisks, 'storageProfile'));
  return { status: 202, headers: { ...headers, Location: monitorUrl(headers) } };
}

function begin(
  ctx: ArmContext,
  request: SimRequest,
  machine: Machine,
  dataDisks: unknown[] | undefined,
  result: Operation['result'],
): Operation {
  const operation = ctx.state.beginUpdate(machine, dataDisks, result);
  operation.failure = ctx.faults.takeOperationFailure(request.method, request.path);
  return operation;
}

/** A PUT replaces the resource, so like ARM it needs the location, and the one the VM is in. */
function checkLocation(ctx: ArmContext, machine: Machine, body: Record<string, unknown>): void {
  const location = body['location'];
  if (typeof location !== 'string') throw new ArmError(400, 'LocationRequired', 'The location property is required for this definition.');
  const actual = ctx.state.config.location;
  if (location.replaceAll(' ', '').toLowerCase() !== actual.replaceAll(' ', '').toLowerCase()) {
    throw new ArmError(
      409,
      'InvalidResourceLocation',
      `The resource '${machine.name}' already exists in location '${actual}' in resource group '${machine.resourceGroup}'. A resource with the same name cannot be created in location '${location}'. Please select a new resource name.`,
    );
  }
}

/** undefined when the body does not touch the data disks. */
function requestedDataDisks(body: Record<string, unknown>): unknown[] | undefined {
  const dataDisks = asRecord(asRecord(body['properties'])?.['storageProfile'])?.['dataDisks'];
  if (dataDisks === undefined || dataDisks === null) return undefined;
  if (!Array.isArray(dataDisks)) throw new ArmError(400, 'InvalidRequestContent', "'properties.storageProfile.dataDisks' must be an array.");
  return dataDisks;
}

function operationHeaders(ctx: ArmContext, request: SimRequest, operation: Operation): Record<string, string> {
  const { subscriptionId, location } = ctx.state.config;
  const query = new URLSearchParams({ 'api-version': request.query.get('api-version') ?? '' });
  return {
    'Azure-AsyncOperation': `${ctx.baseUrl}/subscriptions/${subscriptionId}/providers/Microsoft.Compute/locations/${location}/operations/${operation.id}?${query}`,
    ...pollHints(operation),
  };
}

function monitorUrl(headers: Record<string, string>): string {
  return `${headers['Azure-AsyncOperation']}&monitor=true`;
}

/**
 * `Retry-After: 0` leaves the poll interval to the client (core-lro ignores 0 and uses its
 * `updateIntervalInMs`); `retry-after-ms` says exactly when the operation will be done.
 */
function pollHints(operation: Operation): Record<string, string> {
  const remaining = Math.max(operation.completesAt - Date.now(), 0);
  return { 'Retry-After': '0', 'retry-after-ms': String(Math.min(Math.max(remaining, 10), 1000)) };
}

function operationStatus(ctx: ArmContext, request: SimRequest, id: string): SimResponse {
  const operation = ctx.state.operation(id);
  if (!operation) throw new ArmError(404, 'NotFound', `Operation '${id}' was not found.`);
  if (request.query.get('monitor') === 'true') return operationResult(ctx, request, operation);
  const body = {
    name: operation.id,
    status: operation.status,
    startTime: operation.startTime.toISOString(),
    ...(operation.endTime && { endTime: operation.endTime.toISOString() }),
    ...(operation.status === 'Failed' && { error: operation.failure }),
  };
  return { status: 200, body, headers: operation.status === 'InProgress' ? pollHints(operation) : {} };
}

/** The Location URL: 202 while running, then what the operation produced. */
function operationResult(ctx: ArmContext, request: SimRequest, operation: Operation): SimResponse {
  if (operation.status === 'InProgress') {
    return { status: 202, headers: { Location: `${ctx.baseUrl}${request.path}?${request.query}`, ...pollHints(operation) } };
  }
  if (operation.status === 'Failed') return { status: 400, body: { error: operation.failure } };
  const machine = operation.machine;
  return ok(operation.result === 'storageProfile' ? ctx.state.storageProfile(machine) : ctx.state.machineView(machine));
}

function checkSubscription(ctx: ArmContext, subscriptionId: string): void {
  if (subscriptionId.toLowerCase() !== ctx.state.config.subscriptionId.toLowerCase()) {
    throw new ArmError(404, 'SubscriptionNotFound', `The subscription '${subscriptionId}' could not be found.`);
  }
}

function unknownPath(request: SimRequest): ArmError {
  return new ArmError(400, 'InvalidResourceType', `The ARM simulator does not serve '${request.method} ${request.path}'.`);
}

function route(pattern: string, handlers: Route['handlers']): Route {
  return { pattern: pattern.split('/'), handlers };
}

function matchSegments(pattern: string[], segments: string[]): Params | undefined {
  if (pattern.length !== segments.length) return undefined;
  const params: Params = {};
  for (const [i, part] of pattern.entries()) {
    const segment = segments[i] ?? '';
    if (part.startsWith(':')) params[part.slice(1)] = segment;
    else if (part.toLowerCase() !== segment.toLowerCase()) return undefined;
  }
  return params;
}

function param(params: Params, name: string): string {
  return params[name] ?? '';
}

function ok(body: unknown): SimResponse {
  return { status: 200, body };
}
