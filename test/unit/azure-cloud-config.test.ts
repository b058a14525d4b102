import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { armEndpoints, parseCloudConfig, readCloudConfig } from '../../src/azure/cloud-config.ts';
import { planCredential } from '../../src/azure/credentials.ts';
import { DriverError } from '../../src/flexvolume/errors.ts';

const FILE = '/etc/kubernetes/azure.json';
const MINIMAL = { subscriptionId: 'sub-1', resourceGroup: 'rg-1' };
const parse = (document: Record<string, unknown>) => parseCloudConfig(JSON.stringify(document), FILE);

describe('parseCloudConfig', () => {
  test('defaults: an old file without vmType means standard, flags are false', () => {
    const config = parse({ ...MINIMAL, cloud: 'AzurePublicCloud', location: 'westeurope', subnetName: 'ignored' });
    expect(config).toMatchObject({
      file: FILE,
      cloud: 'AzurePublicCloud',
      subscriptionId: 'sub-1',
      resourceGroup: 'rg-1',
      vmType: 'standard',
      useManagedIdentityExtension: false,
      useFederatedWorkloadIdentityExtension: false,
    });
    expect(config).not.toHaveProperty('subnetName');
  });

  test('empty strings are unset, vmType is case-insensitive, booleans may be strings', () => {
    const config = parse({ ...MINIMAL, vmType: 'VMSS', aadClientSecret: '', userAssignedIdentityID: ' ', useManagedIdentityExtension: 'true' });
    expect(config.vmType).toBe('vmss');
    expect(config.aadClientSecret).toBeUndefined();
    expect(config.userAssignedIdentityID).toBeUndefined();
    expect(config.useManagedIdentityExtension).toBe(true);
    expect(parse({ ...MINIMAL, vmType: '' }).vmType).toBe('standard');
  });

  test.each([
    [{ resourceGroup: 'rg' }, /azure\.json: field 'subscriptionId' is required/],
    [{ subscriptionId: 'sub', resourceGroup: '' }, /field 'resourceGroup' is required/],
    [{ ...MINIMAL, vmType: 'availabilityset' }, /field 'vmType' must be one of standard, vmss, vmssflex/],
    [{ ...MINIMAL, useManagedIdentityExtension: 'maybe' }, /field 'useManagedIdentityExtension' must be true or false/],
    [{ ...MINIMAL, resourceManagerEndpoint: 'http://insecure.example' }, /field 'resourceManagerEndpoint' must be an https:\/\/ URL/],
    [{ ...MINIMAL, tenantId: 42 }, /field 'tenantId' must be a string/],
  ])('%j is refused with the field and the file', (document, message) => {
    expect(() => parse(document)).toThrow(DriverError);
    expect(() => parse(document)).toThrow(message);
    expect(() => parse(document)).toThrow(FILE);
  });

  test('not JSON, not an object, missing file', () => {
    expect(() => parseCloudConfig('{ // comment\n}', FILE)).toThrow(/azure\.json is not valid JSON/);
    expect(() => parseCloudConfig('[]', FILE)).toThrow(/must hold a JSON object/);
    expect(() => readCloudConfig(path.join(os.tmpdir(), 'no-such-azure.json'))).toThrow(/does not exist.*AZURE_CREDENTIAL_FILE/);
  });

  test('reads a file with a byte-order mark', () => {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'cloud-config-')), 'azure.json');
    fs.writeFileSync(file, `\uFEFF${JSON.stringify(MINIMAL)}`);
    expect(readCloudConfig(file).subscriptionId).toBe('sub-1');
    fs.rmSync(path.dirname(file), { recursive: true });
  });
});

describe('armEndpoints', () => {
  test('known clouds, with the token scope taken from the ARM endpoint', () => {
    expect(armEndpoints(parse(MINIMAL))).toEqual({
      cloudName: 'AzurePublicCloud',
      resourceManager: 'https://management.azure.com',
      activeDirectory: 'https://login.microsoftonline.com',
      scope: 'https://management.azure.com/.default',
      isAzureStack: false,
    });
    const china = armEndpoints(parse({ ...MINIMAL, cloud: 'AZURECHINACLOUD' }));
    expect(china.resourceManager).toBe('https://management.chinacloudapi.cn');
    expect(china.activeDirectory).toBe('https://login.chinacloudapi.cn');
    expect(armEndpoints(parse({ ...MINIMAL, cloud: 'AzureUSGovernmentCloud' })).scope).toBe('https://management.usgovcloudapi.net/.default');
  });

  test('either endpoint can be overridden; custom clouds and Azure Stack give both', () => {
    const overridden = armEndpoints(parse({ ...MINIMAL, resourceManagerEndpoint: 'https://127.0.0.1:8443/' }));
    expect(overridden).toMatchObject({ resourceManager: 'https://127.0.0.1:8443', scope: 'https://127.0.0.1:8443/.default', activeDirectory: 'https://login.microsoftonline.com' });
    const stack = armEndpoints(
      parse({ ...MINIMAL, cloud: 'AzureStackCloud', resourceManagerEndpoint: 'https://management.local.azurestack.external/', activeDirectoryEndpoint: 'https://adfs.local.azurestack.external/adfs/' }),
    );
    expect(stack).toMatchObject({ isAzureStack: true, activeDirectory: 'https://adfs.local.azurestack.external/adfs' });
    expect(() => armEndpoints(parse({ ...MINIMAL, cloud: 'AzureStackCloud' }))).toThrow(/field 'resourceManagerEndpoint' and field 'activeDirectoryEndpoint' are required for AzureStackCloud/);
    expect(() => armEndpoints(parse({ ...MINIMAL, cloud: 'MyCloud' }))).toThrow(/azure\.json: field 'cloud': unknown Azure cloud 'MyCloud'/);
  });
});

describe('planCredential: the cloud provider order', () => {
  const secret = { aadClientId: 'app', aadClientSecret: 's3cret', tenantId: 'tenant' };

  test('workload identity first, from the file or from the webhook environment', () => {
    expect(planCredential(parse({ ...MINIMAL, ...secret, useManagedIdentityExtension: true, aadFederatedTokenFile: '/var/run/token' }), {})).toEqual({
      kind: 'workload identity',
      tenantId: 'tenant',
      clientId: 'app',
      tokenFile: '/var/run/token',
    });
    const env = { AZURE_FEDERATED_TOKEN_FILE: '/env/token', AZURE_CLIENT_ID: 'env-app', AZURE_TENANT_ID: 'env-tenant' };
    expect(planCredential(parse({ ...MINIMAL, useFederatedWorkloadIdentityExtension: true }), env)).toMatchObject({
      kind: 'workload identity',
      tenantId: 'env-tenant',
      clientId: 'env-app',
      tokenFile: '/env/token',
    });
    // Without the flag the webhook's variables do not switch the credential.
    expect(planCredential(parse({ ...MINIMAL, ...secret }), env).kind).toBe('client secret');
  });

  test('managed identity next: system, or user-assigned by client id or by resource id', () => {
    expect(planCredential(parse({ ...MINIMAL, ...secret, useManagedIdentityExtension: true }), {})).toEqual({ kind: 'system-assigned managed identity' });
    expect(planCredential(parse({ ...MINIMAL, useManagedIdentityExtension: true, userAssignedIdentityID: 'client-id' }), {})).toEqual({
      kind: 'user-assigned managed identity',
      clientId: 'client-id',
    });
    const resourceId = '/Subscriptions/s/resourceGroups/r/providers/Microsoft.ManagedIdentity/userAssignedIdentities/kcm';
    expect(planCredential(parse({ ...MINIMAL, useManagedIdentityExtension: true, userAssignedIdentityID: resourceId }), {})).toEqual({
      kind: 'user-assigned managed identity',
      resourceId,
    });
  });

  test('then a client secret, then a certificate', () => {
    expect(planCredential(parse({ ...MINIMAL, ...secret, aadClientCertPath: '/etc/cert.pfx' }), {})).toMatchObject({ kind: 'client secret', secret: 's3cret' });
    expect(planCredential(parse({ ...MINIMAL, aadClientId: 'app', tenantId: 't', aadClientCertPath: '/etc/cert.pfx', aadClientCertPassword: 'pw' }), {})).toEqual({
      kind: 'client certificate',
      tenantId: 't',
      clientId: 'app',
      certPath: '/etc/cert.pfx',
      password: 'pw',
    });
  });

  test('missing pieces name the field and the file', () => {
    expect(() => planCredential(parse({ ...MINIMAL, aadClientSecret: 'x', tenantId: 't' }), {})).toThrow(/azure\.json: field 'aadClientId' is required to authenticate with a client secret/);
    expect(() => planCredential(parse({ ...MINIMAL, aadClientId: 'a', aadClientSecret: 'x' }), {})).toThrow(/field 'tenantId' is required/);
    expect(() => planCredential(parse(MINIMAL), {})).toThrow(/azure\.json names no credentials/);
  });
});
