// A local stand-in for Azure Resource Manager (Microsoft.Compute disks, VMs, scale-set VMs),
// Microsoft Entra token endpoints and the instance metadata service, served over HTTPS so the
// real @azure/arm-compute and @azure/identity clients can talk to it. Test fixture and demo engine.
import * as fs from 'node:fs';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { ArmError, type ArmDisk, type ArmScaleSetVM, type ArmVirtualMachine } from './model.ts';
import { SimulatorState, type LocalInstance } from './state.ts';
import { FaultList, faultResponse, type Fault } from './faults.ts';
import { armErrorResponse, readRequest, send, type SimRequest, type SimResponse } from './http.ts';
import { handleArm } from './arm-routes.ts';
import { handleProvisioningArm } from './provisioning-routes.ts';
import { ProvisioningState } from './provisioning-state.ts';
import {
  TokenStore,
  aadToken,
  hasMetadataHeader,
  imdsError,
  managedIdentityToken,
  openIdConfiguration,
  type Principal,
} from './auth.ts';

export type { ArmDataDisk, ArmDisk, ArmScaleSetVM, ArmVirtualMachine } from './model.ts';
export type { Fault } from './faults.ts';
export type { LocalInstance } from './state.ts';

export const CA_CERT_PATH = fileURLToPath(new URL('./tls/cert.pem', import.meta.url));
const KEY_PATH = fileURLToPath(new URL('./tls/key.pem', import.meta.url));

export interface ArmSimulatorOptions {
  /** 0 (the default) picks a free port. */
  port?: number;
  subscriptionId?: string;
  resourceGroup?: string;
  tenantId?: string;
  clientId?: string;
  clientSecret?: string;
  location?: string;
  /** How long a VM write's long-running operation stays InProgress; default 0. */
  updateLatencyMs?: number;
  /** Answer a second write to a VM with an operation in flight with 409 Conflict; default true. */
  rejectConcurrentWrites?: boolean;
  /** Data disks a VM may hold (LUNs are always 0-63); default 64. */
  maxDataDisks?: number;
}

export type RequestKind = 'arm' | 'token' | 'metadata';

export interface LoggedRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  /** 0 while the answer is pending. */
  status: number;
  /** Arrival, ms since the epoch. */
  time: number;
  /** 'token': AAD, OpenID discovery and managed-identity token calls; 'metadata': IMDS instance. */
  kind: RequestKind;
}

export interface RequestFilter {
  method?: string;
  /** Case-insensitive substring of the path. */
  pathIncludes?: string;
  kind?: RequestKind;
}

/** An /etc/kubernetes/azure.json pointing at the simulator. */
export interface SimulatorCloudConfig {
  cloud: string;
  tenantId: string;
  subscriptionId: string;
  resourceGroup: string;
  location: string;
  vmType: string;
  aadClientId: string;
  aadClientSecret: string;
  resourceManagerEndpoint: string;
  activeDirectoryEndpoint: string;
  [field: string]: unknown;
}

export interface ArmSimulator {
  /** `https://127.0.0.1:<port>`, no trailing slash: ARM endpoint, authority host and IMDS host. */
  url: string;
  /** The self-signed certificate to trust (NODE_EXTRA_CA_CERTS or `tlsOptions: { ca }`). */
  caCertPath: string;
  subscriptionId: string;
  resourceGroup: string;
  tenantId: string;
  clientId: string;
  clientSecret: string;
  location: string;
  /** Every request, oldest first (live array; `resetLog` empties it in place). */
  requests: LoggedRequest[];
  count(filter?: RequestFilter): number;
  resetLog(): void;
  injectFault(fault: Fault): void;
  clearFaults(): void;
  setUpdateLatency(ms: number): void;
  /** Returns the disk's resource id. */
  addDisk(spec: { name: string; sizeGB: number; resourceGroup?: string; sku?: string }): string;
  /** Returns the VM's resource id. */
  addVM(spec: { name: string; computerName?: string; resourceGroup?: string }): string;
  /** Returns the instances' resource ids. Computer names are `<prefix><instance id in base 36, 6 chars>`. */
  addScaleSet(spec: { name: string; computerNamePrefix: string; instanceIds: Array<string | number>; resourceGroup?: string }): string[];
  getVM(name: string): ArmVirtualMachine | undefined;
  getScaleSetVM(vmss: string, instanceId: string | number): ArmScaleSetVM | undefined;
  getDisk(name: string): ArmDisk | undefined;
  /** Attaches at once, without ARM calls (e.g. to make a disk "owned by another VM"). */
  attachDirectly(vmNameOrId: string, diskName: string, lun: number): void;
  /** Detaches at once, without ARM calls (another writer's detach). Both change the VM's etag. */
  detachDirectly(vmNameOrId: string, diskName: string): void;
  setProvisioningState(vmNameOrId: string, state: 'Succeeded' | 'Failed'): void;
  /**
   * Another writer: `hook` runs once, when the next write (PUT, PATCH, attachDetachDataDisks) of
   * the VM or instance arrives, before ARM checks it; e.g. `() => sim.attachDirectly(vm, 'x', 5)`
   * lands a change between a client's read and its write.
   */
  beforeNextWrite(vmNameOrId: string, hook: () => void): void;
  /** The VM the instance metadata service describes. */
  setLocalInstance(instance: LocalInstance): void;
  cloudConfig(overrides?: Partial<SimulatorCloudConfig>): SimulatorCloudConfig;
  /** What the provisioner makes: disks with zones and tags, storage accounts, file shares; latency and quota. */
  provisioning: ProvisioningState;
  close(): Promise<void>;
}

export async function startArmSimulator(options: ArmSimulatorOptions = {}): Promise<ArmSimulator> {
  const principal: Principal = {
    tenantId: options.tenantId ?? '00000000-0000-0000-0000-0000000000aa',
    clientId: options.clientId ?? '00000000-0000-0000-0000-0000000000c1',
    clientSecret: options.clientSecret ?? 'simulator-client-secret',
  };
  const state = new SimulatorState({
    subscriptionId: options.subscriptionId ?? '00000000-0000-0000-0000-000000000001',
    resourceGroup: options.resourceGroup ?? 'demo-rg',
    location: options.location ?? 'westeurope',
    updateLatencyMs: options.updateLatencyMs ?? 0,
    rejectConcurrentWrites: options.rejectConcurrentWrites ?? true,
    maxDataDisks: options.maxDataDisks ?? 64,
  });
  const faults = new FaultList();
  const provisioning = new ProvisioningState(state);
  const tokens = new TokenStore();
  const requests: LoggedRequest[] = [];
  let url = '';

  const route = (request: SimRequest, kind: RequestKind): SimResponse => {
    if (kind === 'metadata') return instanceMetadata(state, request);
    if (kind === 'token') return tokenEndpoint(principal, tokens, request, url);
    tokens.requireBearer(request);
    return handleProvisioningArm({ state: provisioning, faults, baseUrl: url }, request) ?? handleArm({ state, faults, baseUrl: url }, request);
  };

  const handle = async (message: IncomingMessage, res: ServerResponse): Promise<void> => {
    const request = await readRequest(message);
    const kind = requestKind(request.path);
    const entry: LoggedRequest = {
      method: request.method,
      path: request.path,
      query: Object.fromEntries(request.query),
      status: 0,
      time: Date.now(),
      kind,
    };
    requests.push(entry);
    const response = await answer(request, kind);
    entry.status = response.status;
    send(res, response);
  };

  const answer = async (request: SimRequest, kind: RequestKind): Promise<SimResponse> => {
    const fault = faults.takeForRequest(request.method, request.path);
    if (fault?.delayMs !== undefined) await sleep(fault.delayMs);
    if (fault?.status !== undefined) return faultResponse({ ...fault, status: fault.status });
    try {
      return route(request, kind);
    } catch (error) {
      if (error instanceof ArmError) return armErrorResponse(error);
      return armErrorResponse(new ArmError(500, 'InternalServerError', `simulator bug: ${String(error)}`));
    }
  };

  const server = https.createServer({ cert: fs.readFileSync(CA_CERT_PATH), key: fs.readFileSync(KEY_PATH) }, (message, res) => {
    handle(message, res).catch(() => res.destroy());
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', resolve);
  });
  url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    url,
    caCertPath: CA_CERT_PATH,
    subscriptionId: state.config.subscriptionId,
    resourceGroup: state.config.resourceGroup,
    location: state.config.location,
    ...principal,
    requests,
    count: (filter = {}) => requests.filter((entry) => matchesFilter(entry, filter)).length,
    resetLog: () => {
      requests.length = 0;
    },
    injectFault: (fault) => faults.add(fault),
    clearFaults: () => faults.clear(),
    setUpdateLatency: (ms) => {
      state.config.updateLatencyMs = ms;
    },
    addDisk: (spec) => state.addDisk(spec),
    addVM: (spec) => state.addVM(spec),
    addScaleSet: (spec) => state.addScaleSet(spec),
    getVM: (name) => state.getVM(name),
    getScaleSetVM: (vmss, instanceId) => state.getScaleSetVM(vmss, instanceId),
    getDisk: (name) => state.getDisk(name),
    attachDirectly: (vm, disk, lun) => state.attachDirectly(vm, disk, lun),
    detachDirectly: (vm, disk) => state.detachDirectly(vm, disk),
    setProvisioningState: (vm, provisioningState) => state.setProvisioningState(vm, provisioningState),
    beforeNextWrite: (vm, hook) => state.beforeNextWrite(vm, hook),
    setLocalInstance: (instance) => state.setLocalInstance(instance),
    cloudConfig: (overrides = {}) => ({
      cloud: 'AzurePublicCloud',
      tenantId: principal.tenantId,
      subscriptionId: state.config.subscriptionId,
      resourceGroup: state.config.resourceGroup,
      location: state.config.location,
      vmType: 'standard',
      aadClientId: principal.clientId,
      aadClientSecret: principal.clientSecret,
      resourceManagerEndpoint: url,
      activeDirectoryEndpoint: url,
      ...overrides,
    }),
    provisioning,
    close: () => closeServer(server),
  };
}

const AAD_TOKEN_PATH = /^\/([^/]+)\/oauth2\/v2\.0\/token$/;
const OPENID_CONFIGURATION_PATH = /^\/([^/]+)\/v2\.0\/\.well-known\/openid-configuration$/;
const MANAGED_IDENTITY_TOKEN_PATH = /^\/metadata\/identity\/oauth2\/token\/?$/;
const INSTANCE_METADATA_PATH = /^\/metadata\/instance(\/compute)?\/?$/;

function requestKind(path: string): RequestKind {
  if (INSTANCE_METADATA_PATH.test(path)) return 'metadata';
  if (MANAGED_IDENTITY_TOKEN_PATH.test(path) || AAD_TOKEN_PATH.test(path) || OPENID_CONFIGURATION_PATH.test(path)) return 'token';
  return 'arm';
}

function tokenEndpoint(principal: Principal, tokens: TokenStore, request: SimRequest, baseUrl: string): SimResponse {
  if (MANAGED_IDENTITY_TOKEN_PATH.test(request.path)) return managedIdentityToken(request, tokens);
  const aadTenant = AAD_TOKEN_PATH.exec(request.path)?.[1];
  if (aadTenant !== undefined && request.method === 'POST') return aadToken(principal, decodeURIComponent(aadTenant), request, tokens);
  const discoveryTenant = OPENID_CONFIGURATION_PATH.exec(request.path)?.[1];
  if (discoveryTenant !== undefined && request.method === 'GET') {
    return openIdConfiguration(principal, decodeURIComponent(discoveryTenant), baseUrl);
  }
  return imdsError(405, 'invalid_request', `${request.method} is not allowed on ${request.path}`);
}

function instanceMetadata(state: SimulatorState, request: SimRequest): SimResponse {
  if (!hasMetadataHeader(request)) return imdsError(400, 'invalid_request', 'Required metadata header not specified');
  const compute = state.instanceMetadata();
  return { status: 200, body: INSTANCE_METADATA_PATH.exec(request.path)?.[1] ? compute : { compute } };
}

function matchesFilter(entry: LoggedRequest, filter: RequestFilter): boolean {
  return (
    (filter.method === undefined || entry.method === filter.method.toUpperCase()) &&
    (filter.kind === undefined || entry.kind === filter.kind) &&
    (filter.pathIncludes === undefined || entry.path.toLowerCase().includes(filter.pathIncludes.toLowerCase()))
  );
}

/** Clients keep connections alive; without closing them `server.close` would wait for their timeout. */
function closeServer(server: https.Server): Promise<void> {
  return new Promise((resolve, reject) => {
    server.close((error) => (error ? reject(error) : resolve()));
    server.closeAllConnections();
  });
}
