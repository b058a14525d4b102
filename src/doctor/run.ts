// Runs the doctor's checks in order and prints the report (aligned text for a person, or JSON),
// or with --volume / --pod one volume's story from the log. On the host itself, or from the
// installer's pod through the host's root (`kubectl exec` into the DaemonSet pod).
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as z from 'zod';
import { InvalidInput } from '../flexvolume/errors.ts';
import { failure, type Reply } from '../flexvolume/reply.ts';
import { VERSION, readInvocation } from '../invocation.ts';
import { findPluginDirUsers } from '../install/detect.ts';
import { KUBELET_DEFAULT_PLUGIN_DIR, PRESETS } from '../install/presets.ts';
import { DRIVER_NAMES } from '../flexvolume/driver.ts';
import { loadSettings, type Settings } from '../settings.ts';
import { configureLog } from '../system/log.ts';
import { writeStdout } from '../system/stdio-guard.ts';
import { checkCloudConfig, checkMachine, checkToken } from './azure-checks.ts';
import {
  checkInstallation,
  checkLog,
  checkPluginDir,
  checkTools,
  checkVolumes,
  detail,
  hostView,
  installedPluginDir,
  type CheckResult,
  type DoctorContext,
  type HostView,
} from './checks.ts';
import { INSTALLER_POD_HOST_ROOT } from './command.ts';
import { parseDriverLog, readDriverLog } from './driver-log.ts';
import { formatStory, volumeStory, volumesOfPod } from './volume-story.ts';

const doctorFlags = z.object({
  pluginDir: z.string().optional(),
  hostRoot: z.string().optional(),
  hostProc: z.string().optional(),
  nodeName: z.string().optional(),
  azure: z.boolean(),
  json: z.boolean().default(false),
  volume: z.string().min(1).optional(),
  pod: z.string().min(1).optional(),
});

type DoctorFlags = z.infer<typeof doctorFlags>;

const MARK: Record<CheckResult['status'], string> = { ok: 'ok  ', warn: 'WARN', fail: 'FAIL', skip: 'skip' };

function formatReport(checks: CheckResult[]): string {
  const width = Math.max(...checks.map((check) => check.name.length));
  const indent = ' '.repeat(width + 9);
  return checks
    .map((check) =>
      [
        `[${MARK[check.status]}] ${check.name.padEnd(width)}  ${check.summary}`,
        ...check.details.flatMap((item) => item.line.split('\n').map((line) => `${indent}${line}`)),
      ].join('\n'),
    )
    .join('\n');
}

function holdsOurDrivers(host: HostView, dir: string): boolean {
  try {
    return fs.readdirSync(host.path(dir)).some((entry) => (DRIVER_NAMES as readonly string[]).includes(entry.split('~')[1] ?? ''));
  } catch {
    return false;
  }
}

/**
 * The plugin dir: given, the one this executable is installed in, else the first of the kubelet's,
 * its default and the distributions' that holds these drivers (the kubelet's when none does).
 */
function choosePluginDir(flags: DoctorFlags, host: HostView, hostProc: string): string {
  if (flags.pluginDir !== undefined) return flags.pluginDir;
  const installed = host.root === '/' ? installedPluginDir(readInvocation().executablePath) : undefined;
  if (installed !== undefined) return installed;
  const kubelets = findPluginDirUsers(hostProc).find((user) => user.process === 'kubelet')?.pluginDir ?? KUBELET_DEFAULT_PLUGIN_DIR;
  const candidates = [kubelets, ...Object.values(PRESETS).map((preset) => preset.pluginDir)];
  return candidates.find((dir) => holdsOurDrivers(host, dir)) ?? kubelets;
}

/** azuredisk's settings as installed in `pluginDir`: its config beside its executable, whatever the vendor. */
function installedSettings(flags: DoctorFlags, host: HostView, pluginDir: string): Settings {
  let entries: string[] = [];
  try {
    entries = fs.readdirSync(host.path(pluginDir));
  } catch {
    // reported by the installation check
  }
  const driverDir = entries.find((entry) => entry.endsWith('~azuredisk')) ?? 'azure~azuredisk';
  // From the installer's pod the host name is the pod's: the DaemonSet gives NODE_NAME instead.
  const nodeName = flags.nodeName ?? (host.root === '/' ? undefined : process.env.NODE_NAME);
  return loadSettings(host.path(path.join(pluginDir, driverDir, 'azuredisk')), 'azuredisk', {
    ...process.env,
    ...(nodeName === undefined ? {} : { FLEXVOLUME_NODE_NAME: nodeName }),
  });
}

function installedDriverNames(check: CheckResult): string[] {
  return check.details.filter((item) => item.data.present === true).map((item) => String(item.data.driver));
}

/**
 * azure.json matters where something attaches: every node in node mode, only the controller-manager's
 * host in controller mode. Elsewhere a missing one is expected, not a failure.
 */
function weighCloudConfig(check: CheckResult, context: DoctorContext, drivers: string[]): CheckResult {
  if (check.status !== 'fail') return check;
  if (!drivers.includes('azuredisk')) return { ...check, status: 'skip', details: [detail('only azuredisk needs it; nfs and azurefile work without it', { neededBy: 'azuredisk' })] };
  if (context.settings.azurediskMode === 'node') {
    return { ...check, details: [detail('azuredisk in node mode attaches from this node and needs it', { mode: 'node' })] };
  }
  const attachesHere = findPluginDirUsers(context.hostProc).some((user) => user.process === 'kube-controller-manager');
  if (attachesHere) return { ...check, details: [detail('kube-controller-manager runs here and attaches through azuredisk: it needs this file', { mode: 'controller' })] };
  return {
    ...check,
    status: 'warn',
    details: [detail('azuredisk in controller mode: only the kube-controller-manager host attaches and needs it; mounts on this node work without it', { mode: 'controller' })],
  };
}

async function runChecks(flags: DoctorFlags, context: DoctorContext): Promise<CheckResult[]> {
  const installation = checkInstallation(context);
  const checks: CheckResult[] = [installation, checkPluginDir(context), checkTools(context.host)];
  const { check: configCheck, config } = checkCloudConfig(context);
  checks.push(weighCloudConfig(configCheck, context, installedDriverNames(installation)));
  if (!flags.azure || config === undefined) {
    const why = flags.azure ? 'no valid cloud config' : '--no-azure';
    checks.push({ name: 'credentials', status: 'skip', summary: why, details: [] }, { name: 'node VM', status: 'skip', summary: why, details: [] });
  } else {
    checks.push(await checkToken(config), await checkMachine(context));
  }
  checks.push(checkVolumes(context), checkLog(context));
  return checks;
}

function printStories(flags: DoctorFlags, context: DoctorContext): void {
  const logFile = context.settings.logFile;
  const { text, files } = readDriverLog(context.host.path(logFile));
  const calls = parseDriverLog(text);
  const volumes = flags.volume !== undefined ? [flags.volume] : volumesOfPod(calls, flags.pod ?? '');
  const stories = volumes.flatMap((volume) => volumeStory(calls, volume, context.settings.azurediskMode) ?? []);
  const subject = flags.volume !== undefined ? `volume ${flags.volume}` : `pod ${flags.pod ?? ''}`;
  if (flags.json) {
    writeStdout(`${JSON.stringify({ version: VERSION, node: context.settings.nodeName, logFiles: files, subject, stories }, null, 2)}\n`);
  } else {
    const header = `azure-flexvolume ${VERSION} doctor: node ${context.settings.nodeName}, ${subject}\nlog: ${files.join(', ') || `${logFile} (missing)`}`;
    const body = stories.length > 0 ? stories.map(formatStory).join('\n\n') : `no call for ${subject} in the log on this host`;
    writeStdout(`${header}\n\n${body}\n`);
  }
  process.exitCode = stories.length > 0 ? 0 : 1;
}

export async function runDoctor(rawFlags: Record<string, unknown>): Promise<Reply | null> {
  const parsed = doctorFlags.safeParse(rawFlags);
  if (!parsed.success) return failure(new InvalidInput(parsed.error.issues.map((issue) => issue.message).join('; ')).message);
  const flags = parsed.data;
  const host = hostView(flags.hostRoot ?? (fs.existsSync(INSTALLER_POD_HOST_ROOT) ? INSTALLER_POD_HOST_ROOT : '/'));
  const hostProc = flags.hostProc ?? (host.root === '/' ? '/proc' : host.path('/proc'));
  const pluginDir = choosePluginDir(flags, host, hostProc);
  const settings = installedSettings(flags, host, pluginDir);
  configureLog({ file: host.path(settings.logFile), prefix: 'doctor' });
  const context: DoctorContext = { settings, host, pluginDir, hostProc };
  if (flags.volume !== undefined || flags.pod !== undefined) {
    printStories(flags, context);
    return null;
  }
  const checks = await runChecks(flags, context);
  const healthy = !checks.some((check) => check.status === 'fail');
  const where = host.root === '/' ? '' : ` (through ${host.root})`;
  writeStdout(
    flags.json
      ? `${JSON.stringify(
          {
            version: VERSION,
            node: settings.nodeName,
            azurediskMode: settings.azurediskMode,
            hostRoot: host.root,
            healthy,
            checks: checks.map((check) => ({ ...check, details: check.details.map((item) => item.data) })),
          },
          null,
          2,
        )}\n`
      : `azure-flexvolume ${VERSION} doctor: node ${settings.nodeName}${where}, azuredisk mode ${settings.azurediskMode}\n${formatReport(checks)}\n`,
  );
  process.exitCode = healthy ? 0 : 1;
  return null;
}
