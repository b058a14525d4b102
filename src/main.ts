// Entry point. The order matters: stdout and stderr are guarded before anything else can write,
// `init` is answered from the light identity table before commander, zod, execa or the Azure SDK
// load (they live in a second bundle, cli-loader.ts), and every path, a crash included, ends in exactly one reply.
import { guardStdio, setFatalHandler, writeStdout } from './system/stdio-guard.ts';
import { configureLog, log } from './system/log.ts';
import { exitCodeOf, failure, serializeReply, success, type Reply } from './flexvolume/reply.ts';
import { isDriverName } from './flexvolume/driver.ts';
import { describeError } from './flexvolume/errors.ts';
import { loadSettings } from './settings.ts';
import { capabilitiesOf } from './drivers/identity.ts';
import { readInvocation } from './invocation.ts';
import { loadCli } from './cli-loader.ts';

guardStdio();

let replied = false;

function finish(reply: Reply): never {
  if (!replied) {
    replied = true;
    writeStdout(serializeReply(reply));
    log(`reply: ${JSON.stringify(reply)}`);
  }
  process.exit(exitCodeOf(reply));
}

setFatalHandler((error) => {
  log(`fatal: ${error instanceof Error ? error.stack : String(error)}`);
  finish(failure(`internal error: ${describeError(error)}; see the driver log`));
});

async function main(): Promise<void> {
  const invocation = readInvocation();
  const { invokedAs, args } = invocation;
  if (isDriverName(invokedAs) && args.length === 1 && args[0] === 'init') {
    const settings = loadSettings(invocation.executablePath, invokedAs);
    configureLog({ file: settings.logFile, prefix: `${invokedAs} init` });
    finish(success({ capabilities: capabilitiesOf(invokedAs, settings) }));
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
