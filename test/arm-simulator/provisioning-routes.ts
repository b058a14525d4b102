// The ARM surface the provisioner touches: Microsoft.Compute disks created, grown and deleted as
// long-running operations, and Microsoft.Storage accounts (list, create, listKeys) and file shares
// (create, get, update, delete). Returns undefined for every other path, which arm-routes.ts serves.
import { ArmError } from './model.ts';
import type { FaultList } from './faults.ts';
import { jsonObjectBody, type SimRequest, type SimResponse } from './http.ts';
import type { LroRecord, ProvisioningState } from './provisioning-state.ts';

export interface ProvisioningContext {
  state: ProvisioningState;
  faults: FaultList;
  baseUrl: string;
}

const SUBSCRIPTION = '^/subscriptions/([^/]+)';
const GROUP = `${SUBSCRIPTION}/resourceGroups/([^/]+)/providers`;
const DISK = new RegExp(`${GROUP}/Microsoft\\.Compute/disks/([^/]+)$`, 'i');
const DISK_OPERATION = new RegExp(`${SUBSCRIPTION}/providers/Microsoft\\.Compute/locations/[^/]+/diskOperations/([^/]+)$`, 'i');
const ACCOUNTS = new RegExp(`${GROUP}/Microsoft\\.Storage/storageAccounts$`, 'i');
const ACCOUNT = new RegExp(`${GROUP}/Microsoft\\.Storage/storageAccounts/([^/]+)$`, 'i');
const ACCOUNT_KEYS = new RegExp(`${GROUP}/Microsoft\\.Storage/storageAccounts/([^/]+)/listKeys$`, 'i');
const SHARE = new RegExp(`${GROUP}/Microsoft\\.Storage/storageAccounts/([^/]+)/fileServices/default/shares/([^/]+)$`, 'i');
const STORAGE_OPERATION = new RegExp(`${SUBSCRIPTION}/providers/Microsoft\\.Storage/locations/[^/]+/asyncoperations/([^/]+)$`, 'i');

type Handler = (ctx: ProvisioningContext, request: SimRequest, match: string[]) => SimResponse;

const ROUTES: Array<[RegExp, Partial<Record<string, Handler>>]> = [
  [DISK, { GET: getDisk, PUT: putDisk, PATCH: patchDisk, DELETE: deleteDisk }],
  [DISK_OPERATION, { GET: diskOperation }],
  [ACCOUNTS, { GET: listAccounts }],
  [ACCOUNT, { GET: getAccount, PUT: putAccount }],
  [ACCOUNT_KEYS, { POST: listKeys }],
  [SHARE, { GET: getShare, PUT: putShare, PATCH: patchShare, DELETE: deleteShare }],
  [STORAGE_OPERATION, { GET: storageOperation }],
];

export function handleProvisioningArm(ctx: ProvisioningContext, request: SimRequest): SimResponse | undefined {
  for (const [pattern, handlers] of ROUTES) {
    const match = pattern.exec(request.path);
    if (!match) continue;
    ctx.state.base.settle();
    if (!request.query.get('api-version')) {
      throw new ArmError(400, 'MissingApiVersionParameter', 'The api-version query parameter (?api-version=) is required for all requests.');
    }
    if ((match[1] ?? '').toLowerCase() !== ctx.state.base.config.subscriptionId.toLowerCase()) {
      throw new ArmError(404, 'SubscriptionNotFound', `The subscription '${match[1] ?? ''}' could not be found.`);
    }
    const handler = handlers[request.method];
    if (!handler) throw new ArmError(405, 'MethodNotAllowed', `The requested resource does not support http method '${request.method}'.`);
    return handler(ctx, request, match.slice(1).map(decodeURIComponent));
  }
  return undefined;
}

// ---- disks ----

function diskOf(ctx: ProvisioningContext, resourceGroup: string, name: string) {
  const disk = ctx.state.base.findDisk(resourceGroup, name);
  if (!disk) {
    throw new ArmError(404, 'ResourceNotFound', `The Resource 'Microsoft.Compute/disks/${name}' under resource group '${resourceGroup}' was not found.`);
  }
  return disk;
}

function getDisk(ctx: ProvisioningContext, _request: SimRequest, [, resourceGroup = '', name = '']: string[]): SimResponse {
  return { status: 200, body: ctx.state.diskView(diskOf(ctx, resourceGroup, name)) };
}

function putDisk(ctx: ProvisioningContext, request: SimRequest, [, resourceGroup = '', name = '']: string[]): SimResponse {
  const body = jsonObjectBody(request);
  const failure = ctx.faults.takeOperationFailure(request.method, request.path);
  const existing = ctx.state.base.findDisk(resourceGroup, name);
  if (failure === undefined) {
    if (existing === undefined) ctx.state.createDisk(resourceGroup, name, body);
    else {
      const size = ((body['properties'] ?? {}) as { diskSizeGB?: number }).diskSizeGB;
      if (size !== undefined && size !== existing.sizeGB) ctx.state.resizeDisk(existing, size);
    }
  }
  return { status: 202, headers: diskOperationHeaders(ctx, request, ctx.state.beginOperation(() => undefined, failure)) };
}

function patchDisk(ctx: ProvisioningContext, request: SimRequest, [, resourceGroup = '', name = '']: string[]): SimResponse {
  const disk = diskOf(ctx, resourceGroup, name);
  const size = ((jsonObjectBody(request)['properties'] ?? {}) as { diskSizeGB?: unknown }).diskSizeGB;
  if (size !== undefined) ctx.state.resizeDisk(disk, Number(size));
  return { status: 202, headers: diskOperationHeaders(ctx, request, ctx.state.beginOperation(() => undefined)) };
}

function deleteDisk(ctx: ProvisioningContext, request: SimRequest, [, resourceGroup = '', name = '']: string[]): SimResponse {
  const disk = ctx.state.base.findDisk(resourceGroup, name);
  if (!disk) return { status: 204 };
  ctx.state.deleteDisk(disk);
  return { status: 202, headers: diskOperationHeaders(ctx, request, ctx.state.beginOperation(() => undefined)) };
}

function diskOperationHeaders(ctx: ProvisioningContext, request: SimRequest, operation: LroRecord): Record<string, string> {
  const { subscriptionId, location } = ctx.state.base.config;
  const query = new URLSearchParams({ 'api-version': request.query.get('api-version') ?? '' });
  return {
    'Azure-AsyncOperation': `${ctx.baseUrl}/subscriptions/${subscriptionId}/providers/Microsoft.Compute/locations/${location}/diskOperations/${operation.id}?${query}`,
    'Retry-After': '0',
  };
}

function diskOperation(ctx: ProvisioningContext, _request: SimRequest, [, id = '']: string[]): SimResponse {
  const operation = ctx.state.operation(id);
  const done = operation.completesAt <= Date.now();
  const status = !done ? 'InProgress' : operation.failure ? 'Failed' : 'Succeeded';
  return { status: 200, body: { name: id, status, ...(status === 'Failed' && { error: operation.failure }) } };
}

// ---- storage accounts ----

function listAccounts(ctx: ProvisioningContext, _request: SimRequest, [, resourceGroup = '']: string[]): SimResponse {
  return { status: 200, body: { value: ctx.state.accountsIn(resourceGroup).map((account) => ctx.state.accountView(account)) } };
}

function getAccount(ctx: ProvisioningContext, _request: SimRequest, [, resourceGroup = '', name = '']: string[]): SimResponse {
  return { status: 200, body: ctx.state.accountView(ctx.state.account(resourceGroup, name)) };
}

/** 202 and a Location to poll, as ARM answers a new account. */
function putAccount(ctx: ProvisioningContext, request: SimRequest, [, resourceGroup = '', name = '']: string[]): SimResponse {
  const account = ctx.state.createAccount(resourceGroup, name, jsonObjectBody(request));
  const operation = ctx.state.beginOperation(() => ctx.state.accountView(account));
  const { subscriptionId, location } = ctx.state.base.config;
  const query = new URLSearchParams({ 'api-version': request.query.get('api-version') ?? '', monitor: 'true' });
  return {
    status: 202,
    headers: { Location: `${ctx.baseUrl}/subscriptions/${subscriptionId}/providers/Microsoft.Storage/locations/${location}/asyncoperations/${operation.id}?${query}`, 'Retry-After': '0' },
  };
}

function storageOperation(ctx: ProvisioningContext, request: SimRequest, [, id = '']: string[]): SimResponse {
  const operation = ctx.state.operation(id);
  if (operation.completesAt > Date.now()) return { status: 202, headers: { Location: `${ctx.baseUrl}${request.path}?${request.query}`, 'Retry-After': '0' } };
  if (operation.failure) return { status: 400, body: { error: operation.failure } };
  return { status: 200, body: operation.result() };
}

function listKeys(ctx: ProvisioningContext, _request: SimRequest, [, resourceGroup = '', name = '']: string[]): SimResponse {
  const account = ctx.state.account(resourceGroup, name);
  return {
    status: 200,
    body: { keys: account.keys.map((value, index) => ({ keyName: `key${index + 1}`, value, permissions: 'FULL', creationTime: new Date(0).toISOString() })) },
  };
}

// ---- file shares (not long-running) ----

function getShare(ctx: ProvisioningContext, _request: SimRequest, [, resourceGroup = '', accountName = '', name = '']: string[]): SimResponse {
  const account = ctx.state.account(resourceGroup, accountName);
  return { status: 200, body: ctx.state.shareView(account, ctx.state.share(account, name)) };
}

function putShare(ctx: ProvisioningContext, request: SimRequest, [, resourceGroup = '', accountName = '', name = '']: string[]): SimResponse {
  const account = ctx.state.account(resourceGroup, accountName);
  return { status: 201, body: ctx.state.shareView(account, ctx.state.createShare(account, name, jsonObjectBody(request))) };
}

function patchShare(ctx: ProvisioningContext, request: SimRequest, [, resourceGroup = '', accountName = '', name = '']: string[]): SimResponse {
  const account = ctx.state.account(resourceGroup, accountName);
  return { status: 200, body: ctx.state.shareView(account, ctx.state.updateShare(account, name, jsonObjectBody(request))) };
}

function deleteShare(ctx: ProvisioningContext, _request: SimRequest, [, resourceGroup = '', accountName = '', name = '']: string[]): SimResponse {
  const account = ctx.state.account(resourceGroup, accountName);
  return { status: ctx.state.deleteShare(account, name) ? 200 : 204 };
}
