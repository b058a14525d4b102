// The ARM credential, chosen from azure.json in cloud-provider-azure's order (pkg/azclient/auth.go):
// workload identity, then managed identity, then a client secret, then a client certificate. One
// credential object serves one call (one process); tokens are not kept across calls.
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import {
  ClientCertificateCredential,
  ClientSecretCredential,
  ManagedIdentityCredential,
  WorkloadIdentityCredential,
  type TokenCredential,
} from '@azure/identity';
import { DriverError } from '../flexvolume/errors.ts';
import { run } from '../system/exec.ts';
import { log, redactValue } from '../system/log.ts';
import type { ArmEndpoints, CloudConfig } from './cloud-config.ts';

export type CredentialKind =
  | 'workload identity'
  | 'system-assigned managed identity'
  | 'user-assigned managed identity'
  | 'client secret'
  | 'client certificate';

export interface ArmCredential {
  kind: CredentialKind;
  credential: TokenCredential;
}

export type CredentialPlan =
  | { kind: 'workload identity'; tenantId: string; clientId: string; tokenFile: string }
  | { kind: 'system-assigned managed identity' }
  | { kind: 'user-assigned managed identity'; clientId: string }
  | { kind: 'user-assigned managed identity'; resourceId: string }
  | { kind: 'client secret'; tenantId: string; clientId: string; secret: string }
  | { kind: 'client certificate'; tenantId: string; clientId: string; certPath: string; password: string | undefined };

/**
 * Which credential the config asks for. The workload identity webhook injects AZURE_CLIENT_ID,
 * AZURE_TENANT_ID and AZURE_FEDERATED_TOKEN_FILE; as in the cloud provider they fill what the file
 * leaves out.
 */
export function planCredential(config: CloudConfig, env: NodeJS.ProcessEnv = process.env): CredentialPlan {
  const fromEnv = (name: string): string | undefined => (env[name]?.trim() ? env[name]?.trim() : undefined);
  const tokenFile =
    config.aadFederatedTokenFile ??
    (config.useFederatedWorkloadIdentityExtension ? fromEnv('AZURE_FEDERATED_TOKEN_FILE') : undefined);
  if (tokenFile !== undefined) {
    return {
      kind: 'workload identity',
      tenantId: need(config, 'tenantId', config.tenantId ?? fromEnv('AZURE_TENANT_ID'), 'workload identity'),
      clientId: need(config, 'aadClientId', config.aadClientId ?? fromEnv('AZURE_CLIENT_ID'), 'workload identity'),
      tokenFile,
    };
  }
  if (config.useManagedIdentityExtension) {
    const identity = config.userAssignedIdentityID;
    if (identity === undefined) return { kind: 'system-assigned managed identity' };
    // The cloud provider's rule: a resource id contains /subscriptions/, anything else is a client id.
    return identity.toLowerCase().includes('/subscriptions/')
      ? { kind: 'user-assigned managed identity', resourceId: identity }
      : { kind: 'user-assigned managed identity', clientId: identity };
  }
  if (config.aadClientSecret !== undefined) {
    return { kind: 'client secret', ...servicePrincipal(config, 'a client secret'), secret: config.aadClientSecret };
  }
  if (config.aadClientCertPath !== undefined) {
    return {
      kind: 'client certificate',
      ...servicePrincipal(config, 'a client certificate'),
      certPath: config.aadClientCertPath,
      password: config.aadClientCertPassword,
    };
  }
  throw new DriverError(
    `${config.file} names no credentials: set aadClientId and aadClientSecret (or aadClientCertPath), ` +
      'useManagedIdentityExtension, or aadFederatedTokenFile',
  );
}

/** The tenant and application a client secret or certificate belongs to. */
function servicePrincipal(config: CloudConfig, purpose: string): { tenantId: string; clientId: string } {
  return { tenantId: need(config, 'tenantId', config.tenantId, purpose), clientId: need(config, 'aadClientId', config.aadClientId, purpose) };
}

function need(config: CloudConfig, field: string, value: string | undefined, purpose: string): string {
  if (value === undefined) throw new DriverError(`${config.file}: field '${field}' is required to authenticate with ${purpose}`);
  return value;
}

export async function createCredential(config: CloudConfig, endpoints: ArmEndpoints): Promise<ArmCredential> {
  const plan = planCredential(config);
  // Secrets reach the log through no path, not even an SDK's error message.
  if (plan.kind === 'client secret') redactValue(plan.secret);
  if (plan.kind === 'client certificate' && plan.password !== undefined) redactValue(plan.password);
  log(`ARM credential: ${plan.kind} (${config.file}), authority ${endpoints.activeDirectory}`);
  // Instance discovery asks login.microsoftonline.com about the authority: wrong for sovereign and
  // custom clouds, and a 5 s detour when that host is unreachable.
  const aad = { authorityHost: endpoints.activeDirectory, disableInstanceDiscovery: true };
  switch (plan.kind) {
    case 'workload identity':
      return {
        kind: plan.kind,
        credential: new WorkloadIdentityCredential({ ...aad, tenantId: plan.tenantId, clientId: plan.clientId, tokenFilePath: plan.tokenFile }),
      };
    case 'system-assigned managed identity':
      return { kind: plan.kind, credential: new ManagedIdentityCredential() };
    case 'user-assigned managed identity':
      return {
        kind: plan.kind,
        credential:
          'resourceId' in plan ? new ManagedIdentityCredential({ resourceId: plan.resourceId }) : new ManagedIdentityCredential({ clientId: plan.clientId }),
      };
    case 'client secret':
      return { kind: plan.kind, credential: new ClientSecretCredential(plan.tenantId, plan.clientId, plan.secret, aad) };
    case 'client certificate': {
      const certificate = await readCertificate(config, plan.certPath, plan.password);
      return {
        kind: plan.kind,
        credential: new ClientCertificateCredential(plan.tenantId, plan.clientId, certificate, aad),
      };
    }
  }
}

/**
 * The certificate and key as PEM (an encrypted key with its password). azure.json's
 * aadClientCertPath is often PKCS#12 (.pfx), which @azure/identity cannot read; openssl converts
 * it to its stdout, which stays in memory (no temporary file a killed call would leave behind)
 * and out of the log. The key is redacted wherever it might be echoed.
 */
async function readCertificate(
  config: CloudConfig,
  certPath: string,
  password: string | undefined,
): Promise<{ certificate: string; certificatePassword?: string }> {
  let content: Buffer;
  try {
    content = fs.readFileSync(certPath);
  } catch (error) {
    throw new DriverError(`${config.file}: field 'aadClientCertPath': cannot read ${certPath}: ${(error as Error).message}`);
  }
  const pem = content.toString('utf8');
  if (pem.includes('-----BEGIN')) {
    redactPrivateKeys(pem);
    return password === undefined ? { certificate: pem } : { certificate: pem, certificatePassword: password };
  }
  const variable = `FLEXVOLUME_PFX_${crypto.randomBytes(4).toString('hex').toUpperCase()}`;
  const result = await run('openssl', ['pkcs12', '-in', certPath, '-nodes', '-passin', `env:${variable}`], {
    env: { [variable]: password ?? '' },
    timeoutMs: 15_000,
    secretOutput: true,
  });
  redactPrivateKeys(result.stdout);
  if (result.exitCode !== 0 || !result.stdout.includes('-----BEGIN')) {
    throw new DriverError(
      `${config.file}: field 'aadClientCertPath': ${certPath} is neither PEM nor a PKCS#12 file that openssl opens with aadClientCertPassword`,
    );
  }
  return { certificate: result.stdout };
}

/** Each private key block's body, so that no error text that echoes it reaches a log line or a reply. */
function redactPrivateKeys(pem: string): void {
  for (const match of pem.matchAll(/-----BEGIN [A-Z ]*PRIVATE KEY-----([\s\S]*?)-----END/g)) {
    for (const line of (match[1] ?? '').split('\n')) if (line.trim().length >= 16) redactValue(line.trim());
  }
}
