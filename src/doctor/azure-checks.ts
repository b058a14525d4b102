// The doctor's Azure checks: is the cloud config valid, does its credential get a token, and
// does this node's VM answer (with the data disks Azure thinks it has). They load the Azure SDK.
import { describeError } from '../flexvolume/errors.ts';
import { VERSION } from '../invocation.ts';
import { readCloudConfig, armEndpoints, type CloudConfig } from '../azure/cloud-config.ts';
import { createCredential, planCredential } from '../azure/credentials.ts';
import { detail, type CheckResult, type DoctorContext } from './checks.ts';

const TOKEN_TIMEOUT_MS = 20_000;
const VM_TIMEOUT_MS = 30_000;

export function checkCloudConfig(context: DoctorContext): { check: CheckResult; config: CloudConfig | undefined } {
  const file = context.settings.azureCredentialFile;
  try {
    const config = readCloudConfig(context.host.path(file));
    const endpoints = armEndpoints(config);
    const plan = planCredential(config);
    return {
      config,
      check: {
        name: 'cloud config',
        status: 'ok',
        summary: `${file}: ${endpoints.cloudName}, subscription ${config.subscriptionId}, resource group ${config.resourceGroup}, vmType ${config.vmType}`,
        details: [
          detail(`credential: ${plan.kind}`, { credential: plan.kind }),
          detail(`ARM: ${endpoints.resourceManager}`, { resourceManager: endpoints.resourceManager }),
          detail(`AAD: ${endpoints.activeDirectory}`, { activeDirectory: endpoints.activeDirectory }),
        ],
      },
    };
  } catch (error) {
    return { config: undefined, check: { name: 'cloud config', status: 'fail', summary: describeError(error), details: [] } };
  }
}

export async function checkToken(config: CloudConfig): Promise<CheckResult> {
  try {
    const endpoints = armEndpoints(config);
    const credential = await createCredential(config, endpoints);
    const token = await credential.credential.getToken(endpoints.scope, { abortSignal: AbortSignal.timeout(TOKEN_TIMEOUT_MS) });
    if (!token) throw new Error('the credential returned no token');
    const minutes = Math.round((token.expiresOnTimestamp - Date.now()) / 60_000);
    return { name: 'credentials', status: 'ok', summary: `${credential.kind} obtained a token for ${endpoints.scope} (valid ${minutes} min)`, details: [] };
  } catch (error) {
    return { name: 'credentials', status: 'fail', summary: `no token: ${describeError(error)}`, details: [] };
  }
}

export async function checkMachine(context: DoctorContext): Promise<CheckResult> {
  const nodeName = context.settings.nodeName;
  try {
    const { openArmSession } = await import('../azure/arm-session.ts');
    const arm = await openArmSession({
      credentialFile: context.host.path(context.settings.azureCredentialFile),
      stateDir: context.host.path(context.settings.stateDir),
      timeoutMs: VM_TIMEOUT_MS,
      userAgent: `azure-flexvolume/${VERSION} doctor`,
    });
    const machine = await arm.resolveNode(nodeName);
    if (machine === undefined) {
      return {
        name: 'node VM',
        status: 'fail',
        summary: `no VM or scale-set instance answers to node name ${nodeName}`,
        details: [detail('check resourceGroup and vmType in the cloud config, or pass --node-name', { nodeName })],
      };
    }
    const disks = machine.dataDisks.map((disk) =>
      detail(`LUN ${disk.lun}: ${disk.name ?? '?'} (${disk.caching ?? 'default'} caching${disk.toBeDetached ? ', detaching' : ''})`, {
        lun: disk.lun,
        name: disk.name ?? null,
        caching: disk.caching ?? null,
        toBeDetached: disk.toBeDetached === true,
      }),
    );
    return {
      name: 'node VM',
      status: machine.provisioningState.toLowerCase() === 'failed' ? 'warn' : 'ok',
      summary: `node ${nodeName} is ${machine.id} (${machine.provisioningState}), ${machine.dataDisks.length} data disk(s)`,
      details: disks,
    };
  } catch (error) {
    return { name: 'node VM', status: 'fail', summary: `cannot read the VM of node ${nodeName}: ${describeError(error)}`, details: [] };
  }
}
