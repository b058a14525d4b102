import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CLOUD_NAMES, cloudEndpoints, readCloudName } from '../../src/azure/clouds.ts';
import { DriverError } from '../../src/flexvolume/errors.ts';

describe('cloudEndpoints', () => {
  test.each([
    ['AzurePublicCloud', 'AzurePublicCloud', 'core.windows.net', 'https://management.azure.com/', 'https://login.microsoftonline.com/'],
    ['AZURECLOUD', 'AzurePublicCloud', 'core.windows.net', 'https://management.azure.com/', 'https://login.microsoftonline.com/'],
    ['azurepubliccloud', 'AzurePublicCloud', 'core.windows.net', 'https://management.azure.com/', 'https://login.microsoftonline.com/'],
    ['AzureChinaCloud', 'AzureChinaCloud', 'core.chinacloudapi.cn', 'https://management.chinacloudapi.cn/', 'https://login.chinacloudapi.cn/'],
    ['AZURECHINACLOUD', 'AzureChinaCloud', 'core.chinacloudapi.cn', 'https://management.chinacloudapi.cn/', 'https://login.chinacloudapi.cn/'],
    ['AzureUSGovernmentCloud', 'AzureUSGovernmentCloud', 'core.usgovcloudapi.net', 'https://management.usgovcloudapi.net/', 'https://login.microsoftonline.us/'],
    ['AZUREUSGOVERNMENT', 'AzureUSGovernmentCloud', 'core.usgovcloudapi.net', 'https://management.usgovcloudapi.net/', 'https://login.microsoftonline.us/'],
    ['AzureUSGovernment', 'AzureUSGovernmentCloud', 'core.usgovcloudapi.net', 'https://management.usgovcloudapi.net/', 'https://login.microsoftonline.us/'],
    [' AZUREUSGOVERNMENTCLOUD ', 'AzureUSGovernmentCloud', 'core.usgovcloudapi.net', 'https://management.usgovcloudapi.net/', 'https://login.microsoftonline.us/'],
  ])('%s', (given, name, storageEndpointSuffix, resourceManagerEndpoint, activeDirectoryEndpoint) => {
    expect(cloudEndpoints(given)).toEqual({ name, storageEndpointSuffix, resourceManagerEndpoint, activeDirectoryEndpoint });
  });

  test('no cloud name is the public cloud, as cloud-provider-azure treats it', () => {
    expect(cloudEndpoints(undefined).name).toBe('AzurePublicCloud');
    expect(cloudEndpoints('').name).toBe('AzurePublicCloud');
  });

  test.each(['AzureGermanCloud', 'AzureStackCloud', 'public', 'Azure Public Cloud'])('%s is refused with the known names', (name) => {
    expect(() => cloudEndpoints(name)).toThrow(DriverError);
    expect(() => cloudEndpoints(name)).toThrow(new RegExp(`unknown Azure cloud '${name}'.*AzurePublicCloud, AzureChinaCloud, AzureUSGovernmentCloud`));
  });

  test('callers cannot change the table through a returned object', () => {
    cloudEndpoints('AzureChinaCloud').storageEndpointSuffix = 'evil.example';
    expect(cloudEndpoints('AzureChinaCloud').storageEndpointSuffix).toBe('core.chinacloudapi.cn');
    expect(CLOUD_NAMES).toEqual(['AzurePublicCloud', 'AzureChinaCloud', 'AzureUSGovernmentCloud']);
  });
});

describe('readCloudName', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'clouds-test-'));
    process.env.FLEXVOLUME_LOG_FILE = path.join(dir, 'log');
  });
  afterEach(() => {
    fs.rmSync(dir, { recursive: true, force: true });
    delete process.env.FLEXVOLUME_LOG_FILE;
  });
  const write = (text: string): string => {
    const file = path.join(dir, 'azure.json');
    fs.writeFileSync(file, text);
    return file;
  };

  test('reads only the cloud field, whatever else the file holds', () => {
    expect(readCloudName(write(JSON.stringify({ cloud: 'AzureChinaCloud', tenantId: 't', aadClientSecret: 's' })))).toBe('AzureChinaCloud');
  });

  test('trims the name and accepts a byte-order mark', () => {
    expect(readCloudName(write('\uFEFF{"cloud":" AZUREUSGOVERNMENT "}'))).toBe('AZUREUSGOVERNMENT');
  });

  test.each([
    ['a missing file', null],
    ['a file that is not JSON', '{"cloud": AzureChinaCloud}'],
    ['a JSON array', '["AzureChinaCloud"]'],
    ['JSON null', 'null'],
    ['no cloud field', '{"tenantId":"t"}'],
    ['an empty cloud', '{"cloud":"  "}'],
    ['a cloud that is not a string', '{"cloud":1}'],
  ])('%s gives undefined', (_name, text) => {
    const file = text === null ? path.join(dir, 'absent.json') : write(text);
    expect(readCloudName(file)).toBeUndefined();
  });

  test('a directory instead of a file gives undefined', () => {
    expect(readCloudName(dir)).toBeUndefined();
  });
});
