// The provisioner's entry (its own bundle, loaded by `flexvolume provisioner`). Unlike a driver
// call this is a pod's main process: its log lines go to stdout, and a crash ends it with a
// message on stdout rather than a FlexVolume reply.
import * as fs from 'node:fs';
import { loadKubeConfig, Kube } from '../kube/client.ts';
import { configureLog, log } from '../system/log.ts';
import { VERSION } from '../invocation.ts';
import { openAzureContext, type AzureContext } from './azure-context.ts';
import { createAzurediskProvisioner } from './azuredisk.ts';
import { createAzurefileProvisioner } from './azurefile.ts';
import { Controller } from './controller.ts';
import { EventRecorder } from './events.ts';
import { LeaderElector } from './leader.ts';
import { Metrics, serveMetrics } from './metrics.ts';
import { createNfsProvisioner } from './nfs.ts';
import { parseProvisionerSettings, USAGE, type ProvisionerSettings } from './settings.ts';
import type { VolumeDriver } from './volume-driver.ts';

/** The Lease and the events' component are named after the provisioner, `/` → `-` (§6). */
const COMPONENT = 'azure-flexvolume-provisioner';

/**
 * The driver entry guards stdout and stderr for the kubelet's one reply; a pod logs to them
 * instead, its own lines and whatever a library prints alike.
 */
function logToStdout(): void {
  configureLog({ toStdout: true, prefix: 'provisioner' });
  for (const [name, fd] of [['stdout', 1], ['stderr', 2]] as const) {
    Object.defineProperty(process, name, { configurable: true, enumerable: true, value: fs.createWriteStream('', { fd, autoClose: false }) });
  }
  process.removeAllListeners('uncaughtException');
  process.removeAllListeners('unhandledRejection');
  const fatal = (error: unknown) => {
    log(`fatal: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    process.exit(1);
  };
  process.on('uncaughtException', fatal);
  process.on('unhandledRejection', fatal);
}

async function createDrivers(settings: ProvisionerSettings): Promise<VolumeDriver[]> {
  let azure: AzureContext | undefined;
  const azureContext = async () =>
    (azure ??= await openAzureContext({
      credentialFile: settings['azure-config'],
      stateDir: settings['state-dir'],
      operationTimeoutMs: settings['operation-timeout-ms'],
      userAgent: `azure-flexvolume-provisioner/${VERSION}`,
    }));
  const drivers: VolumeDriver[] = [];
  for (const name of settings.drivers) {
    if (name === 'azuredisk') drivers.push(createAzurediskProvisioner(await azureContext()));
    if (name === 'azurefile') drivers.push(createAzurefileProvisioner(await azureContext(), kubeOf(settings)));
    if (name === 'nfs') drivers.push(createNfsProvisioner({ mountDir: settings['mount-dir'], timeoutMs: settings['operation-timeout-ms'] }));
  }
  return drivers;
}

let kube: Kube | undefined;
function kubeOf(settings: ProvisionerSettings): Kube {
  return (kube ??= new Kube(loadKubeConfig(settings.kubeconfig)));
}

/** Runs until SIGTERM or SIGINT (graceful: running work finishes) or until the lease is lost (at once). */
export async function runProvisioner(args: readonly string[]): Promise<void> {
  logToStdout();
  try {
    await serve(args);
  } catch (error) {
    log(`fatal: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  }
}

async function serve(args: readonly string[]): Promise<void> {
  const settings = parseProvisionerSettings(args);
  if (settings === 'help') {
    fs.writeSync(1, USAGE);
    return;
  }
  log(`azure-flexvolume provisioner ${VERSION} (node ${process.version}): drivers ${settings.drivers.join(', ')}, identity ${settings.identity}`);
  const client = kubeOf(settings);
  const drivers = await createDrivers(settings);
  const metrics = new Metrics();
  let controller: Controller | undefined;
  const server = await serveMetrics(settings.listen, metrics, () => controller === undefined || controller.synced);
  const address = server.address();
  log(`serving /healthz and /metrics on ${typeof address === 'object' && address !== null ? `${address.address}:${address.port}` : String(address)}`);
  const elector = new LeaderElector({
    kube: client,
    namespace: settings.namespace,
    name: COMPONENT,
    identity: settings.identity,
    leaseDurationMs: settings['lease-duration-ms'],
    renewDeadlineMs: settings['renew-deadline-ms'],
    retryPeriodMs: settings['retry-period-ms'],
    log,
  });

  let stopping = false;
  const shutdown = new Promise<string>((resolve) => {
    for (const signal of ['SIGTERM', 'SIGINT'] as const) {
      process.once(signal, () => {
        stopping = true;
        resolve(signal);
      });
    }
  });

  const leading = await Promise.race([elector.acquire(), shutdown.then(() => false)]);
  if (leading && !stopping) {
    metrics.leader = true;
    controller = new Controller({
      kube: client,
      drivers,
      events: new EventRecorder(client, COMPONENT, settings.identity),
      metrics,
      workers: settings.workers,
      retryBaseMs: settings['retry-base-ms'],
      retryMaxMs: settings['retry-max-ms'],
      resyncMs: settings['resync-ms'],
      saveTries: settings['save-tries'],
      saveIntervalMs: settings['save-interval-ms'],
      log,
    });
    await controller.start();
    const reason = await Promise.race([elector.holdUntilLost().then((lost) => `lost: ${lost}`), shutdown]);
    if (reason.startsWith('lost')) {
      // Another replica may already be working: not one more write from this one.
      log(`leadership ${reason}; exiting at once`);
      process.exit(1);
    }
    log(`${reason}: finishing the work in progress`);
    await controller.stop();
  }
  await elector.release();
  server.close();
  server.closeAllConnections();
  log('stopped');
}
