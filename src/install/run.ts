// The install command's work: check the target, install or uninstall, print what changed, then
// show the driver log until terminated, so `kubectl logs` on the DaemonSet pod is where an
// operator looks. The kubelet never calls it.
import * as path from 'node:path';
import { isSea } from 'node:sea';
import * as z from 'zod';
import { DRIVER_NAMES } from '../flexvolume/driver.ts';
import { DriverError, InvalidInput } from '../flexvolume/errors.ts';
import type { Reply } from '../flexvolume/reply.ts';
import { VERSION } from '../invocation.ts';
import { configureLog, log } from '../system/log.ts';
import { writeStdout } from '../system/stdio-guard.ts';
import { checkPluginDirUsers, findOtherInstallers, findPluginDirUsers } from './detect.ts';
import { followLog } from './follow-log.ts';
import { install, uninstall, type InstallReport } from './installer.ts';
import { checkWritable, isReadOnly, resolveAzurediskMode, resolvePluginDir } from './presets.ts';

// A lowercase DNS subdomain, as the kubelet requires of the vendor part (protocol doc 5.1).
const VENDOR = /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

const installFlags = z.object({
  pluginDir: z.string().optional(),
  preset: z.string().optional(),
  vendor: z.string().regex(VENDOR, '--vendor must be a lowercase DNS subdomain such as "azure"'),
  drivers: z
    .string()
    .transform((text) => text.split(',').map((name) => name.trim()).filter((name) => name !== ''))
    .pipe(z.array(z.enum(DRIVER_NAMES, { error: `--drivers takes a comma-separated list of ${DRIVER_NAMES.join(', ')}` })).min(1, '--drivers is empty')),
  azurediskMode: z.enum(['controller', 'node'], { error: '--azuredisk-mode must be controller or node' }).optional(),
  nodeName: z
    .string()
    .regex(/^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/, '--node-name must be a Kubernetes node name')
    .optional(),
  logFile: z.string().refine((file) => path.isAbsolute(file), '--log-file must be an absolute path'),
  libraries: z.enum(['bundled', 'host'], { error: '--libraries must be bundled or host' }),
  hostProc: z.string().refine((dir) => path.isAbsolute(dir), '--host-proc must be an absolute path'),
  uninstall: z.boolean().default(false),
  unlessReplaced: z.boolean().default(false),
  follow: z.boolean(),
});

type InstallFlags = z.infer<typeof installFlags>;

function parseFlags(flags: Record<string, unknown>): InstallFlags {
  const parsed = installFlags.safeParse(flags);
  if (!parsed.success) throw new InvalidInput(parsed.error.issues.map((issue) => issue.message).join('; '));
  return parsed.data;
}

function print(text: string): void {
  writeStdout(`${text}\n`);
}

/** For `kubectl logs`: a failure as lines a person reads, and a failing exit status so the pod restarts. */
function printFailure(message: string): null {
  const [first, ...rest] = message.split('\n');
  print(`install failed: ${first}`);
  for (const line of rest) print(`  ${line}`);
  log(`failed: ${message}`);
  process.exitCode = 1;
  return null;
}

function printReport(report: InstallReport): void {
  for (const change of report.changes) print(`  ${change}`);
  for (const note of report.notes) print(`note: ${note}`);
}

export async function runInstallCommand(rawFlags: Record<string, unknown>): Promise<Reply | null> {
  try {
    const flags = parseFlags(rawFlags);
    const pluginDir = resolvePluginDir(flags);
    configureLog({ file: flags.logFile, prefix: 'install' });
    if (flags.unlessReplaced && !flags.uninstall) throw new InvalidInput('--unless-replaced goes with --uninstall');
    if (flags.uninstall) {
      if (flags.drivers.length !== DRIVER_NAMES.length) {
        throw new InvalidInput('--uninstall removes every driver of the vendor (they share one executable and its libraries); leave out --drivers');
      }
      const others = flags.unlessReplaced ? findOtherInstallers(flags.hostProc, pluginDir) : [];
      if (others.length > 0) {
        print(`another installer serves ${pluginDir} (pid ${others.join(', ')} in ${flags.hostProc}); the drivers stay installed`);
        log(`uninstall skipped: installer pid ${others.join(', ')} serves ${pluginDir}`);
        return null;
      }
      const report = uninstall({ pluginDir, vendor: flags.vendor });
      print(`${report.changes.length === 0 ? 'nothing to remove' : 'uninstalled'} from ${pluginDir}`);
      printReport(report);
      log(`uninstalled version ${VERSION} from ${pluginDir} (${report.changes.length} changes)`);
      if (flags.follow) await untilTerminated();
      return null;
    }
    if (!isSea()) throw new DriverError('install runs from the standalone executable (bin/flexvolume), not the bundle');
    const azurediskMode = resolveAzurediskMode(flags);
    checkTarget(pluginDir, flags, azurediskMode);
    const report = install({
      pluginDir,
      vendor: flags.vendor,
      drivers: flags.drivers,
      azurediskMode,
      nodeName: flags.nodeName,
      logFile: flags.logFile,
      libraries: flags.libraries,
      source: process.execPath,
    });
    print(
      report.changes.length === 0
        ? `version ${VERSION} (node ${process.version}) is already installed in ${pluginDir}; nothing changed`
        : `installed version ${VERSION} (node ${process.version}) into ${pluginDir}, azuredisk in ${azurediskMode} mode:`,
    );
    printReport(report);
    log(`installed version ${VERSION} into ${pluginDir} (${report.changes.length} changes)`);
    if (flags.follow) await showLogUntilTerminated(flags.logFile);
    return null;
  } catch (error) {
    if (error instanceof DriverError) return printFailure(error.message);
    throw error;
  }
}

function checkTarget(pluginDir: string, flags: InstallFlags, azurediskMode: 'controller' | 'node'): void {
  const writable = checkWritable(pluginDir, isReadOnly(path.join(flags.hostProc, '1/root/usr')));
  if (writable.error !== undefined) throw new DriverError(writable.error);
  if (writable.warning !== undefined) print(`warning: ${writable.warning}`);
  const usage = checkPluginDirUsers(pluginDir, findPluginDirUsers(flags.hostProc), {
    controllerAttach: flags.drivers.includes('azuredisk') && azurediskMode === 'controller',
  });
  for (const note of usage.notes) print(`note: ${note}`);
  if (usage.errors.length > 0) throw new DriverError(usage.errors.join('\n'));
}

function terminationSignal(): AbortSignal {
  const controller = new AbortController();
  const stop = (): void => controller.abort();
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  return controller.signal;
}

async function showLogUntilTerminated(logFile: string): Promise<void> {
  print(`driver log ${logFile}:`);
  const own = ` install[${process.pid}] `;
  await followLog({ file: logFile, write: writeStdout, signal: terminationSignal(), skipLine: (line) => line.includes(own) });
}

/** A DaemonSet's pod must keep running once its work is done (kubernetes/kubernetes#17182). */
async function untilTerminated(): Promise<void> {
  const signal = terminationSignal();
  // Signal handlers do not keep the event loop alive; a timer does.
  const keepAlive = setInterval(() => undefined, 1 << 30);
  await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
  clearInterval(keepAlive);
}
