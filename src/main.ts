// Entry point. The order matters: stdout and stderr are guarded before anything else can write,
// `init` is answered from the light identity table before commander, zod, the drivers or the Azure SDK
// load (they live in parts of their own, cli-loader.ts), a kubelet call goes straight to its driver
// without commander, and every path, a crash included, ends in exactly one reply.
import './required-node.ts';
import { guardStdio, setFatalHandler, writeStdout } from './system/stdio-guard.ts';
import { configureLog, log } from './system/log.ts';
import { exitCodeOf, failure, serializeReply, success, type Reply } from './flexvolume/reply.ts';
import { isCallName, isDriverName } from './flexvolume/driver.ts';
import { describeError } from './flexvolume/errors.ts';
import { loadSettings } from './settings.ts';
import { capabilitiesOf } from './drivers/identity.ts';
import { readInvocation } from './invocation.ts';
import { loadCli, loadKubeletCall } from './cli-loader.ts';
import { progressSoFar, stopCall } from './system/progress.ts';

guardStdio();

let replied = false;

function finish(reply: Reply): never {
  if (!replied) {
    replied = true;
    // The log keeps the whole message; the reply carries it on one line, capped.
    log(`reply: ${JSON.stringify(reply)}`);
    writeStdout(serializeReply(reply));
  }
  process.exit(exitCodeOf(reply));
}

/**
 * A caller's timeout ends the driver with SIGTERM (a person's Ctrl-C or a closed terminal with
 * SIGINT or SIGHUP): the call says where it was and answers, instead of vanishing mid-sentence.
 * Whatever it left undone a retry finishes: the steps are idempotent, and a child left to finish
 * keeps the lock it runs under held (src/system/lock.ts).
 */
function stopOnSignal(signal: NodeJS.Signals, call: string): void {
  // A command that handles the signal itself (install following the log) ends on its own terms.
  if (process.listenerCount(signal) > 0) return;
  const children = stopCall();
  const done = progressSoFar();
  log(`stopped by ${signal} during ${call}; done so far: ${done}${children.length > 0 ? `; children: ${children.join(', ')}` : ''}`);
  finish(failure(`${call} was stopped by ${signal} (the caller's timeout?) after: ${done}; a retry continues from there`));
}

setFatalHandler((error) => {
  log(`fatal: ${error instanceof Error ? error.stack : String(error)}`);
  finish(failure(`internal error: ${describeError(error)}; see the driver log`));
});

/**
 * A call as the kubelet makes it: a call's name and its arguments, none of them a flag. Anything
 * else (--help, --driver, --verbose, an unknown call) is for commander, which answers it the same
 * way for either.
 */
function isKubeletCall(args: readonly string[]): boolean {
  return args.length > 0 && isCallName(args[0] ?? '') && args.every((arg) => !arg.startsWith('-'));
}

async function main(): Promise<void> {
  const invocation = readInvocation();
  const { invokedAs, args } = invocation;
  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
    process.once(signal, () => stopOnSignal(signal, [invokedAs, args[0] ?? ''].join(' ').trim()));
  }
  if (isDriverName(invokedAs) && args.length === 1 && args[0] === 'init') {
    const settings = loadSettings(invocation.executablePath, invokedAs);
    configureLog({ file: settings.logFile, prefix: `${invokedAs} init` });
    finish(success({ capabilities: capabilitiesOf(invokedAs, settings) }));
  }
  if (isDriverName(invokedAs) && isKubeletCall(args)) {
    const { runKubeletCall } = loadKubeletCall();
    finish(await runKubeletCall(invocation, { driver: invokedAs, command: args[0] ?? '', args: args.slice(1), verbose: false }));
  }
  const { runCli, PRINTED } = loadCli();
  const outcome = await runCli(invocation);
  // An operator command that printed its own report may have set a failing exit code.
  if (outcome === PRINTED) process.exit();
  finish(outcome);
}

main().catch((error: unknown) => {
  log(`fatal: ${error instanceof Error ? error.stack : String(error)}`);
  finish(failure(`internal error: ${describeError(error)}; see the driver log`));
});
