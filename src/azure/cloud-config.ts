// /etc/kubernetes/azure.json, the file cloud-provider-azure reads: where the cluster's VMs live
// and how to authenticate to Azure Resource Manager. Parsed once with zod; an error names the field
// and the file so the operator knows what to fix. Unknown fields are ignored: the file is shared
// with the cloud provider, which reads many more.
import * as fs from 'node:fs';
import * as z from 'zod';
import { DriverError } from '../flexvolume/errors.ts';
import { cloudEndpoints } from './clouds.ts';

/** azure.json leaves unused fields as "" (and some tools write booleans as strings). */
const text = z
  .string({ error: 'must be a string' })
  .transform((value) => value.trim())
  .transform((value) => (value === '' ? undefined : value))
  .optional();

const flag = z.union([z.boolean(), z.stringbool()], { error: 'must be true or false' }).default(false);

const endpoint = z
  .string({ error: 'must be a string' })
  .trim()
  .transform((value) => (value === '' ? undefined : value))
  .refine((value) => value === undefined || /^https:\/\/[^\s/]+/i.test(value), { message: 'must be an https:// URL' })
  .optional();

export const VM_TYPES = ['standard', 'vmss', 'vmssflex'] as const;
export type VmType = (typeof VM_TYPES)[number];

const vmType = z
  .string()
  .transform((value) => value.trim().toLowerCase())
  // An old azure.json without vmType meant availability-set VMs (the in-tree provider's default).
  .transform((value) => (value === '' ? 'standard' : value))
  .pipe(z.enum(VM_TYPES, { error: `must be one of ${VM_TYPES.join(', ')}` }))
  .default('standard');

const required = (field: string) =>
  z
    .string({ error: `is required (a string)` })
    .trim()
    .min(1, `is required; set "${field}" to the cluster's value`);

const schema = z.object({
  cloud: text,
  tenantId: text,
  subscriptionId: required('subscriptionId'),
  resourceGroup: required('resourceGroup'),
  location: text,
  vmType,
  primaryScaleSetName: text,
  aadClientId: text,
  aadClientSecret: text,
  aadClientCertPath: text,
  aadClientCertPassword: text,
  useManagedIdentityExtension: flag,
  userAssignedIdentityID: text,
  aadFederatedTokenFile: text,
  useFederatedWorkloadIdentityExtension: flag,
  resourceManagerEndpoint: endpoint,
  activeDirectoryEndpoint: endpoint,
});

export type CloudConfig = z.infer<typeof schema> & { file: string };

export function parseCloudConfig(content: string, file: string): CloudConfig {
  let document: unknown;
  try {
    document = JSON.parse(content.replace(/^\uFEFF/, ''));
  } catch (error) {
    throw new DriverError(`${file} is not valid JSON (${(error as Error).message}); fix the cloud config file`);
  }
  if (document === null || typeof document !== 'object' || Array.isArray(document)) {
    throw new DriverError(`${file} must hold a JSON object (the cloud provider's azure.json)`);
  }
  const parsed = schema.safeParse(document);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `field '${issue.path.join('.')}' ${issue.message}`);
    throw new DriverError(`${file}: ${problems.join('; ')}`);
  }
  return { ...parsed.data, file };
}

export function readCloudConfig(file: string): CloudConfig {
  let content: string;
  try {
    content = fs.readFileSync(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new DriverError(
      code === 'ENOENT'
        ? `the cloud config ${file} does not exist; azuredisk attach runs where the controller-manager runs and needs azure.json there (or AZURE_CREDENTIAL_FILE pointing at it)`
        : `cannot read the cloud config ${file}: ${(error as Error).message}`,
    );
  }
  return parseCloudConfig(content, file);
}

export interface ArmEndpoints {
  cloudName: string;
  /** No trailing slash. */
  resourceManager: string;
  /** The Azure AD authority host, no trailing slash. */
  activeDirectory: string;
  /** The token scope for ARM. */
  scope: string;
  /** Azure Stack Hub: no `toBeDetached`, so detach removes the data disk entry instead. */
  isAzureStack: boolean;
}

const withoutSlash = (url: string): string => url.replace(/\/+$/, '');

/**
 * The endpoints to use: a known cloud's table entry, with either endpoint overridden by the file;
 * Azure Stack and other custom clouds must give both.
 */
export function armEndpoints(config: CloudConfig): ArmEndpoints {
  const cloudName = config.cloud ?? 'AzurePublicCloud';
  const isAzureStack = cloudName.toUpperCase() === 'AZURESTACKCLOUD';
  let resourceManager = config.resourceManagerEndpoint;
  let activeDirectory = config.activeDirectoryEndpoint;
  if (resourceManager === undefined || activeDirectory === undefined) {
    if (isAzureStack) {
      throw new DriverError(
        `${config.file}: field 'resourceManagerEndpoint' and field 'activeDirectoryEndpoint' are required for AzureStackCloud`,
      );
    }
    let known;
    try {
      known = cloudEndpoints(config.cloud);
    } catch (error) {
      throw new DriverError(
        `${config.file}: field 'cloud': ${(error as Error).message}; or give resourceManagerEndpoint and activeDirectoryEndpoint for a custom cloud`,
      );
    }
    resourceManager ??= known.resourceManagerEndpoint;
    activeDirectory ??= known.activeDirectoryEndpoint;
  }
  return {
    cloudName,
    resourceManager: withoutSlash(resourceManager),
    activeDirectory: withoutSlash(activeDirectory),
    scope: `${withoutSlash(resourceManager)}/.default`,
    isAzureStack,
  };
}
