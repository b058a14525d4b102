// Where the driver keeps its log and state and how long it waits, read once per call. The
// installer writes `<driver>.conf.json` next to the executable; environment variables override it
// for tests and for a person debugging by hand. Deliberately free of zod: `init` reads this too.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { entryPath } from './system/entry-path.ts';
import { DEFAULT_LOG_FILE } from './system/log.ts';

export type AzurediskMode = 'controller' | 'node';

export interface Settings {
  /** The driver's own config file, whether or not it exists. */
  configFile: string;
  logFile: string;
  /** Records, caches and locks shared by the calls on this host. */
  stateDir: string;
  /** Root under which sysfs and /dev are read; a fixture tree in tests. */
  sysRoot: string;
  devRoot: string;
  azureCredentialFile: string;
  /** Upper bound for one network mount (NFS, SMB). */
  mountTimeoutMs: number;
  /** How long waitforattach looks for the device: answering before the kubelet's 10 minute kill. */
  waitForAttachTimeoutMs: number;
  /** azuredisk: attach from the controller-manager, or from the node itself (managed control planes). */
  azurediskMode: AzurediskMode;
  /**
   * This node's Kubernetes name, for node mode, where `mount` gets no node name. The installer
   * writes it from the DaemonSet's spec.nodeName; the host name (as the kubelet defaults it) else.
   */
  nodeName: string;
  /**
   * Node mode: how long after a call last began to stage a disk the sweep may detach it when
   * nothing on this node uses it (a call that crashed after attaching). Minutes, so a slow mount
   * is never swept; its volume lock protects it besides.
   */
  strandedDiskGraceMs: number;
}

/** Keys of `<driver>.conf.json` this module reads; the installer writes mode, nodeName and logFile. */
interface ConfigFile {
  mode?: unknown;
  logFile?: unknown;
  stateDir?: unknown;
  mountTimeoutSeconds?: unknown;
  waitForAttachTimeoutSeconds?: unknown;
  nodeName?: unknown;
  strandedDiskGraceSeconds?: unknown;
}

/**
 * A driver's config file as an object: undefined when there is none, {} when it is not a JSON
 * object, so a damaged file means defaults rather than a failing call.
 */
export function readDriverConfig(file: string): Record<string, unknown> | undefined {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
  try {
    const parsed: unknown = JSON.parse(text);
    return parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

const asString = (value: unknown): string | undefined => (typeof value === 'string' && value !== '' ? value : undefined);

function positiveSeconds(value: unknown): number | undefined {
  const seconds = typeof value === 'string' ? Number(value) : value;
  return typeof seconds === 'number' && Number.isFinite(seconds) && seconds > 0 ? seconds : undefined;
}

export const configFileName = (driverName: string): string => `${driverName}.conf.json`;

export function configFileFor(executablePath: string, driverName: string): string {
  return entryPath(path.dirname(executablePath), configFileName(driverName));
}

export function loadSettings(executablePath: string, driverName: string, env: NodeJS.ProcessEnv = process.env): Settings {
  const configFile = configFileFor(executablePath, driverName);
  const config: ConfigFile = readDriverConfig(configFile) ?? {};
  const mode = asString(env.FLEXVOLUME_AZUREDISK_MODE) ?? asString(config.mode);
  return {
    configFile,
    logFile: asString(env.FLEXVOLUME_LOG_FILE) ?? asString(config.logFile) ?? DEFAULT_LOG_FILE,
    stateDir: asString(env.FLEXVOLUME_STATE_DIR) ?? asString(config.stateDir) ?? '/var/lib/azure-flexvolume',
    sysRoot: asString(env.FLEXVOLUME_SYS_ROOT) ?? '/sys',
    devRoot: asString(env.FLEXVOLUME_DEV_ROOT) ?? '/dev',
    azureCredentialFile: asString(env.AZURE_CREDENTIAL_FILE) ?? '/etc/kubernetes/azure.json',
    mountTimeoutMs:
      1000 * (positiveSeconds(env.FLEXVOLUME_MOUNT_TIMEOUT_SECONDS) ?? positiveSeconds(config.mountTimeoutSeconds) ?? 90),
    waitForAttachTimeoutMs:
      1000 *
      (positiveSeconds(env.FLEXVOLUME_WAITFORATTACH_TIMEOUT_SECONDS) ?? positiveSeconds(config.waitForAttachTimeoutSeconds) ?? 570),
    azurediskMode: mode === 'node' ? 'node' : 'controller',
    nodeName: asString(env.FLEXVOLUME_NODE_NAME) ?? asString(config.nodeName) ?? os.hostname().toLowerCase(),
    strandedDiskGraceMs:
      1000 * (positiveSeconds(env.FLEXVOLUME_STRANDED_DISK_GRACE_SECONDS) ?? positiveSeconds(config.strandedDiskGraceSeconds) ?? 600),
  };
}
