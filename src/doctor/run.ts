// Runs the doctor's checks in order and prints the report: aligned text for a person, or JSON.
import * as z from 'zod';
import { InvalidInput } from '../flexvolume/errors.ts';
import { failure, type Reply } from '../flexvolume/reply.ts';
import { VERSION, readInvocation } from '../invocation.ts';
import { KUBELET_DEFAULT_PLUGIN_DIR } from '../install/presets.ts';
import { loadSettings } from '../settings.ts';
import { configureLog } from '../system/log.ts';
import { writeStdout } from '../system/stdio-guard.ts';
import { checkCloudConfig, checkMachine, checkToken } from './azure-checks.ts';
import {
  checkInstallation,
  checkLog,
  checkPluginDir,
  checkTools,
  checkVolumes,
  installedDrivers,
  installedPluginDir,
  type CheckResult,
} from './checks.ts';

const doctorFlags = z.object({
  pluginDir: z.string().optional(),
  hostProc: z.string(),
  nodeName: z.string().optional(),
  azure: z.boolean(),
  json: z.boolean().default(false),
});

const MARK: Record<CheckResult['status'], string> = { ok: 'ok  ', warn: 'WARN', fail: 'FAIL', skip: 'skip' };

function formatReport(checks: CheckResult[]): string {
  const width = Math.max(...checks.map((check) => check.name.length));
  return checks
    .map((check) => [`[${MARK[check.status]}] ${check.name.padEnd(width)}  ${check.summary}`, ...check.details.map((line) => `       ${' '.repeat(width)}  ${line}`)].join('\n'))
    .join('\n');
}

export async function runDoctor(rawFlags: Record<string, unknown>): Promise<Reply | null> {
  const parsed = doctorFlags.safeParse(rawFlags);
  if (!parsed.success) return failure(new InvalidInput(parsed.error.issues.map((issue) => issue.message).join('; ')).message);
  const flags = parsed.data;
  const invocation = readInvocation();
  const settings = loadSettings(invocation.executablePath, 'azuredisk', {
    ...process.env,
    ...(flags.nodeName === undefined ? {} : { FLEXVOLUME_NODE_NAME: flags.nodeName }),
  });
  configureLog({ file: settings.logFile, prefix: 'doctor' });
  const context = {
    settings,
    executablePath: invocation.executablePath,
    pluginDir: flags.pluginDir ?? installedPluginDir(invocation.executablePath) ?? KUBELET_DEFAULT_PLUGIN_DIR,
    hostProc: flags.hostProc,
  };
  const checks: CheckResult[] = [checkInstallation(context), checkPluginDir(context), checkTools()];
  const { check: configCheck, config } = checkCloudConfig(context);
  // Only azuredisk needs Azure credentials; a node with just nfs or azurefile is fine without them.
  const needsAzure = installedDrivers(context.pluginDir).includes('azuredisk');
  checks.push(config === undefined && !needsAzure ? { ...configCheck, status: 'skip' } : configCheck);
  if (!flags.azure || config === undefined) {
    const why = flags.azure ? 'no valid cloud config' : '--no-azure';
    checks.push({ name: 'credentials', status: 'skip', summary: why, details: [] }, { name: 'node VM', status: 'skip', summary: why, details: [] });
  } else {
    checks.push(await checkToken(config), await checkMachine(context));
  }
  checks.push(checkVolumes(context), checkLog(context));
  const healthy = !checks.some((check) => check.status === 'fail');
  writeStdout(
    flags.json
      ? `${JSON.stringify({ version: VERSION, node: process.version, healthy, checks }, null, 2)}\n`
      : `azure-flexvolume ${VERSION} doctor, node ${settings.nodeName}\n${formatReport(checks)}\n`,
  );
  process.exitCode = healthy ? 0 : 1;
  return null;
}
