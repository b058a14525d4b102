// The provisioner's connection to Azure: azure.json read once, one credential, one Compute and
// one Storage client, and a deadline for every operation.
import * as path from 'node:path';
import type { ComputeManagementClient } from '@azure/arm-compute';
import type { StorageManagementClient } from '@azure/arm-storage';
import { armEndpoints, readCloudConfig, type CloudConfig } from '../azure/cloud-config.ts';
import { createComputeClient } from '../azure/compute-client.ts';
import { createCredential } from '../azure/credentials.ts';
import { createStorageClient } from '../azure/file-shares.ts';
import { routeSdkLog } from '../azure/sdk-log.ts';
import { ThrottleGate } from '../azure/throttle-gate.ts';

export interface AzureContext {
  config: CloudConfig;
  compute: ComputeManagementClient;
  storage: StorageManagementClient;
  /** A fresh deadline for one operation. */
  signal(): AbortSignal;
}

export interface AzureContextOptions {
  credentialFile: string;
  stateDir: string;
  operationTimeoutMs: number;
  userAgent: string;
}

export async function openAzureContext(options: AzureContextOptions): Promise<AzureContext> {
  routeSdkLog();
  const config = readCloudConfig(options.credentialFile);
  const endpoints = armEndpoints(config);
  const { credential } = await createCredential(config, endpoints);
  const gate = new ThrottleGate(path.join(options.stateDir, 'throttle'));
  const clientOptions = { credential, subscriptionId: config.subscriptionId, endpoints, gate, userAgent: options.userAgent };
  return {
    config,
    compute: createComputeClient(clientOptions),
    storage: createStorageClient(clientOptions),
    signal: () => AbortSignal.timeout(options.operationTimeoutMs),
  };
}
