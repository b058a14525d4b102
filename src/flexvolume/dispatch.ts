// Runs one call of the protocol against a driver and turns every outcome into exactly one Reply.
import { CALLS, isCallName } from './calls.ts';
import type { CallArgs, Driver } from './driver.ts';
import { DriverError, describeError } from './errors.ts';
import { exampleArguments } from './examples.ts';
import { failure, notSupported, success, type Reply } from './reply.ts';

export interface CallLog {
  (message: string): void;
}

export async function dispatch(driver: Driver, command: string, argv: readonly string[], log: CallLog): Promise<Reply> {
  if (command === 'init') {
    if (argv.length !== 0) return failure(`init takes no arguments, got ${argv.length}`);
    return success({ capabilities: driver.capabilities() });
  }
  // Unknown and future commands must degrade to the kubelet's default, never fail (pitfall 5).
  if (!isCallName(command)) return notSupported();
  return runCall(driver, command, argv, log);
}

async function runCall<K extends keyof CallArgs>(
  driver: Driver,
  command: K,
  argv: readonly string[],
  log: CallLog,
): Promise<Reply> {
  const spec = CALLS[command];
  if (argv.length !== spec.args.length) {
    return failure(
      `${command} takes ${spec.args.length} argument(s) (${spec.args.join(' ')}), got ${argv.length}; ` +
        `example: ${driver.name} ${exampleArguments(spec.example, driver.name)}`,
    );
  }
  const handler = driver[command] as ((args: CallArgs[K]) => Promise<Reply>) | undefined;
  if (handler === undefined) return notSupported();
  let args: CallArgs[K];
  try {
    args = spec.parse(argv, driver.name);
  } catch (error) {
    if (error instanceof DriverError) return failure(`${command}: ${error.message}`);
    throw error;
  }
  try {
    return await handler.call(driver, args);
  } catch (error) {
    if (!(error instanceof DriverError)) log(`${command} crashed: ${error instanceof Error ? error.stack : String(error)}`);
    return failure(`${command} failed: ${describeError(error)}`);
  }
}
