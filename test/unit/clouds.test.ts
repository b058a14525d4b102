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

  const logged = (): string => (fs.existsSync(path.join(dir, 'log')) ? fs.readFileSync(path.join(dir, 'log'), 'utf8') : '');

  test.each([
    ['no cloud field', '{"tenantId":"t"}'],
    ['an empty cloud', '{"cloud":"  "}'],
  ])('%s means the public cloud, and the log says so', (_name, text) => {
    const file = write(text);
    expect(readCloudName(file)).toBeUndefined();
    expect(logged()).toContain(`${file} names no cloud; assuming the public cloud (AzurePublicCloud)`);
  });

  test('a missing file means the public cloud, and the log says so', () => {
    const file = path.join(dir, 'absent.json');
    expect(readCloudName(file)).toBeUndefined();
    expect(logged()).toContain(`${file} does not exist; assuming the public cloud (AzurePublicCloud)`);
  });

  test.each([
    ['truncated', '{"cloud":"AzureChinaCloud","tenantId":"t', /is not valid JSON .*may be truncated/],
    ['empty (truncated to nothing)', '', /is not valid JSON .*may be truncated/],
    ['not JSON', '{"cloud": AzureChinaCloud}', /is not valid JSON/],
    ['a JSON array', '["AzureChinaCloud"]', /must hold a JSON object/],
    ['JSON null', 'null', /must hold a JSON object/],
    ['a cloud that is not a string', '{"cloud":1}', /field 'cloud' must be a string/],
  ])('a file that is %s is an error naming the file, never the public cloud', (_name, text, message) => {
    const file = write(text);
    expect(() => readCloudName(file)).toThrow(DriverError);
    expect(() => readCloudName(file)).toThrow(message);
    expect(() => readCloudName(file)).toThrow(file);
  });

  test('a directory instead of a file is an error naming it', () => {
    expect(() => readCloudName(dir)).toThrow(new RegExp(`cannot read the cloud config ${dir} .*EISDIR`));
  });
});
