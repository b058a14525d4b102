// A call of the protocol as the kubelet or the controller-manager makes it: the driver picked,
// its log opened, the call table and the driver's own part loaded, one Reply. main.ts comes here
// directly for a call without flags, so that the calls the kubelet makes all day never load
// commander or the operator commands; cli.ts comes here after parsing the flags.
import { loadDriver } from '../drivers/index.ts';
import type { Invocation } from '../invocation.ts';
import { loadSettings } from '../settings.ts';
import { configureLog, log, logFile } from '../system/log.ts';
import { dispatch } from './dispatch.ts';
import type { DriverName } from './driver.ts';
import type { Reply } from './reply.ts';

export interface KubeletCall {
  driver: DriverName;
  command: string;
  args: readonly string[];
  /** --verbose: the log is mirrored to stderr for a person. */
  verbose: boolean;
}

export async function runKubeletCall(invocation: Invocation, call: KubeletCall): Promise<Reply> {
  const settings = loadSettings(invocation.executablePath, call.driver);
  configureLog({ file: settings.logFile, mirrorToStderr: call.verbose, prefix: `${call.driver} ${call.command}` });
  log(`call: ${call.command} ${call.args.map((arg) => JSON.stringify(arg)).join(' ')} (log ${logFile()})`);
  const driver = await loadDriver(call.driver, settings);
  return dispatch(driver, call.command, call.args, log);
}
