// The command line: the kubelet's calls (one subcommand each, with help and an example for the
// person debugging by hand) plus the global flags. commander never prints or exits on its own:
// its errors become a Failure reply, and only --help, --version or a bare call from a terminal
// (the kubelet never calls without arguments) prints text.
import { isatty } from 'node:tty';
import { Command, CommanderError } from 'commander';
import { callHelp, driverFlag, gatherHelpFacts, programHelp, wantsHelp, type HelpFacts } from './cli-help.ts';
import { CALLS } from './flexvolume/calls.ts';
import { DRIVER_NAMES, isDriverName, type DriverName } from './flexvolume/driver.ts';
import { runKubeletCall } from './flexvolume/kubelet-call.ts';
import { failure, notSupported, type Reply } from './flexvolume/reply.ts';
import { addDoctorCommand } from './doctor/command.ts';
import { addInstallCommand, type OperatorRun } from './install/command.ts';
import { addProvisionerCommand } from './provisioner/command.ts';
import { VERSION, type Invocation } from './invocation.ts';
import { loadSettings } from './settings.ts';
import { configureLog, log } from './system/log.ts';
import { writeStdout } from './system/stdio-guard.ts';

/** Text for a person (help, version) was printed instead of a reply. */
export const PRINTED = 'printed';

interface Selected {
  command: string;
  args: string[];
  /** An operator command (install) runs this instead of a driver call. */
  operator?: OperatorRun;
}

/** The name commander shows in "Usage:": how the driver is run here. */
function programName(invocation: Invocation, driver: DriverName | undefined): string {
  if (isDriverName(invocation.invokedAs)) return invocation.invokedAs;
  return driver === undefined ? invocation.invokedAs : `${invocation.invokedAs} --driver ${driver}`;
}

function buildProgram(invocation: Invocation, help: HelpFacts | undefined, select: (selected: Selected) => void): Command {
  const program = new Command(programName(invocation, help?.driver))
    .description(
      'FlexVolume driver for azuredisk, azurefile and nfs. The kubelet runs it as <plugin dir>/<vendor>~<driver>/<driver>; ' +
        'the name it runs under picks the driver. Every call prints exactly one JSON reply.',
    )
    .option('--driver <name>', `driver to use instead of the executable's name (${DRIVER_NAMES.join(', ')})`)
    .option('--verbose', 'also write the log to stderr (for a person; the kubelet never passes this)')
    .version(`${VERSION} (node ${process.version})`, '-V, --version')
    .exitOverride()
    .configureOutput({ writeOut: writeStdout, writeErr: (text) => log(`(cli) ${text.trim()}`) })
    .showHelpAfterError(false)
    // Each call's arguments are in its own --help; the list stays within 80 columns.
    .configureHelp({ subcommandTerm: (command) => command.name() });
  if (help !== undefined) program.addHelpText('after', programHelp(help));

  // Arguments are declared for the help only; the exact count is checked by the call table so
  // that a wrong count gets the same Failure whoever calls.
  const calls = [{ name: 'init', args: [], summary: 'Report the driver capabilities.', caller: 'kubelet and controller-manager' }, ...Object.values(CALLS)];
  for (const spec of calls) {
    const command = program.command(spec.name).summary(spec.summary).description(`${spec.summary}\nCaller: ${spec.caller}.`);
    for (const arg of spec.args) command.argument(`[${arg}]`);
    command
      .allowExcessArguments()
      .allowUnknownOption()
      .action((...params: unknown[]) => select({ command: spec.name, args: (params.at(-1) as Command).args }));
    if (help !== undefined) command.addHelpText('after', callHelp(help, spec.name));
  }
  addInstallCommand(program, (operator) => select({ command: 'install', args: [], operator }));
  addDoctorCommand(program, (operator) => select({ command: 'doctor', args: [], operator }), invocation.executablePath);
  addProvisionerCommand(program, (operator) => select({ command: 'provisioner', args: [], operator }));
  return program;
}

function pickDriver(invocation: Invocation, requested: string | undefined): DriverName | Reply {
  const name = requested ?? invocation.invokedAs;
  if (isDriverName(name)) return name;
  return failure(
    requested === undefined
      ? `cannot tell the driver from the executable name '${invocation.invokedAs}'; install it as azuredisk, azurefile or nfs, or pass --driver`
      : `unknown driver '${requested}'; choose one of ${DRIVER_NAMES.join(', ')}`,
  );
}

/** The driver the help is about, when the name or --driver names one. */
function helpDriver(invocation: Invocation): DriverName | undefined {
  const name = driverFlag(invocation.args) ?? invocation.invokedAs;
  return isDriverName(name) ? name : undefined;
}

/** Under --verbose, a person learns on stderr why an unknown call got Not supported. */
function reportUnknownCommand(invocation: Invocation, message: string): void {
  if (!invocation.args.includes('--verbose')) return;
  const driver = helpDriver(invocation);
  const logTo = driver === undefined ? undefined : loadSettings(invocation.executablePath, driver).logFile;
  const command = /'(.*)'/.exec(message)?.[1] ?? '?';
  configureLog({ ...(logTo === undefined ? {} : { file: logTo }), mirrorToStderr: true, prefix: `${driver ?? invocation.invokedAs} ${command}` });
  log(`${message}: answering Not supported, as the kubelet expects of a call this driver does not know; see --help for the calls`);
}

/** Commands for people, not the kubelet's calls. */
const OPERATOR_COMMANDS = new Set(['install', 'doctor', 'provisioner']);

function operatorCommandOf(args: readonly string[]): string | undefined {
  const command = args.find((arg) => !arg.startsWith('-'));
  return command !== undefined && OPERATOR_COMMANDS.has(command) ? command : undefined;
}

export async function runCli(invocation: Invocation): Promise<Reply | typeof PRINTED> {
  // The kubelet never calls without arguments: a bare call from a terminal is a person asking.
  const bareAtTerminal = invocation.args.length === 0 && isatty(1);
  if (invocation.args.length === 0 && !bareAtTerminal) {
    return failure(`no call given; the kubelet runs '${invocation.invokedAs} <call> <arguments>': run it with --help on a terminal`);
  }
  const help = bareAtTerminal || wantsHelp(invocation.args) ? await gatherHelpFacts(invocation, helpDriver(invocation)) : undefined;
  let selected: Selected | undefined;
  const program = buildProgram(invocation, help, (choice) => {
    selected = choice;
  });
  if (bareAtTerminal) {
    program.outputHelp();
    return PRINTED;
  }
  try {
    await program.parseAsync(invocation.args, { from: 'user' });
  } catch (error) {
    if (!(error instanceof CommanderError)) throw error;
    if (['commander.helpDisplayed', 'commander.version', 'commander.help'].includes(error.code)) return PRINTED;
    // Unknown and future commands degrade to the kubelet's default rather than failing.
    if (error.code === 'commander.unknownCommand') {
      reportUnknownCommand(invocation, error.message.replace(/^error: /, '').replaceAll('\n', ' '));
      return notSupported();
    }
    const message = error.message.replace(/^error: /, '');
    const operator = operatorCommandOf(invocation.args);
    if (operator === undefined) return failure(message);
    // A person's command (its output lands in a terminal or `kubectl logs`) fails in words, not JSON.
    writeStdout(`${operator} failed: ${message.trim()}\n`);
    log(`${operator} failed: ${message}`);
    process.exitCode = 1;
    return PRINTED;
  }
  if (selected === undefined) {
    return failure(`no call given; run '${invocation.invokedAs} --help' for the calls and drivers`);
  }
  if (selected.operator !== undefined) return (await selected.operator()) ?? PRINTED;
  const flags = program.opts<{ driver?: string; verbose?: boolean }>();
  const driverName = pickDriver(invocation, flags.driver);
  if (typeof driverName !== 'string') return driverName;
  return runKubeletCall(invocation, { driver: driverName, command: selected.command, args: selected.args, verbose: flags.verbose === true });
}
