// The Azure clouds this driver knows: where ARM and Azure AD live and which DNS suffix the storage
// accounts use. The names and aliases are those of azure.json's `cloud` field as cloud-provider-azure
// reads it (pkg/azclient/cloud.go), matched case-insensitively.
import * as fs from 'node:fs';
import { DriverError } from '../flexvolume/errors.ts';
import { log } from '../system/log.ts';

export interface CloudEndpoints {
  /** The canonical name, e.g. `AzureChinaCloud`. */
  name: string;
  resourceManagerEndpoint: string;
  /** The Azure AD authority host. */
  activeDirectoryEndpoint: string;
  /** What follows `<account>.file.` (or `.blob.`) in a storage account's host names. */
  storageEndpointSuffix: string;
}

const CLOUDS: readonly CloudEndpoints[] = [
  {
    name: 'AzurePublicCloud',
    resourceManagerEndpoint: 'https://management.azure.com/',
    activeDirectoryEndpoint: 'https://login.microsoftonline.com/',
    storageEndpointSuffix: 'core.windows.net',
  },
  {
    name: 'AzureChinaCloud',
    resourceManagerEndpoint: 'https://management.chinacloudapi.cn/',
    activeDirectoryEndpoint: 'https://login.chinacloudapi.cn/',
    storageEndpointSuffix: 'core.chinacloudapi.cn',
  },
  {
    name: 'AzureUSGovernmentCloud',
    resourceManagerEndpoint: 'https://management.usgovcloudapi.net/',
    activeDirectoryEndpoint: 'https://login.microsoftonline.us/',
    storageEndpointSuffix: 'core.usgovcloudapi.net',
  },
];

/** Upper-cased spellings, canonical names included, that name each cloud. */
const ALIASES: Readonly<Record<string, string>> = {
  AZUREPUBLICCLOUD: 'AzurePublicCloud',
  AZURECLOUD: 'AzurePublicCloud',
  AZURECHINACLOUD: 'AzureChinaCloud',
  AZUREUSGOVERNMENTCLOUD: 'AzureUSGovernmentCloud',
  AZUREUSGOVERNMENT: 'AzureUSGovernmentCloud',
};

export const CLOUD_NAMES: readonly string[] = CLOUDS.map((cloud) => cloud.name);

/**
 * The endpoints of a cloud named as azure.json may name it. No name (or an empty one) is the
 * public cloud, as cloud-provider-azure treats it; a name it does not know is an error rather than
 * a guess, because the wrong cloud means mounting or attaching against the wrong endpoints.
 */
export function cloudEndpoints(cloudName: string | undefined): CloudEndpoints {
  const wanted = (cloudName ?? '').trim();
  const canonical = wanted === '' ? 'AzurePublicCloud' : ALIASES[wanted.toUpperCase()];
  const cloud = CLOUDS.find((candidate) => candidate.name === canonical);
  if (cloud === undefined) {
    throw new DriverError(
      `unknown Azure cloud '${wanted}'; known clouds are ${CLOUD_NAMES.join(', ')} ` +
        `(also spelled ${Object.keys(ALIASES).join(', ')}, in any case)`,
    );
  }
  return { ...cloud };
}

/**
 * The `cloud` field of an azure.json; undefined (the public cloud) when the file or the field is
 * missing. Only this field is read, so a node without full cloud credentials (an azurefile-only
 * node) still finds its cloud. A file that is there but cannot be read, or is truncated or not a
 * JSON object, is an error: guessing the public cloud would mount against the wrong endpoints.
 */
export function readCloudName(configFile: string): string | undefined {
  let text: string;
  try {
    text = fs.readFileSync(configFile, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      log(`${configFile} does not exist; assuming the public cloud (AzurePublicCloud)`);
      return undefined;
    }
    throw new DriverError(`cannot read the cloud config ${configFile} (${(error as Error).message}); make it a readable file`);
  }
  let config: unknown;
  try {
    // A UTF-8 byte-order mark, which some editors leave, is not JSON.
    config = JSON.parse(text.replace(/^\uFEFF/, ''));
  } catch (error) {
    throw new DriverError(
      `the cloud config ${configFile} is not valid JSON (${(error as Error).message}); it may be truncated. ` +
        'Restore it (the cloud provider writes it at node set-up)',
    );
  }
  if (config === null || typeof config !== 'object' || Array.isArray(config)) {
    throw new DriverError(`the cloud config ${configFile} must hold a JSON object (the cloud provider's azure.json)`);
  }
  const cloud = (config as { cloud?: unknown }).cloud;
  if (cloud !== undefined && typeof cloud !== 'string') {
    throw new DriverError(`the cloud config ${configFile}: field 'cloud' must be a string such as AzurePublicCloud`);
  }
  if (cloud === undefined || cloud.trim() === '') {
    log(`${configFile} names no cloud; assuming the public cloud (AzurePublicCloud)`);
    return undefined;
  }
  return cloud.trim();
}
