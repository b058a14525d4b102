// What `--help` tells a person: where this driver's files are, each driver's flexVolume.options,
// and for every call an example that runs as printed on this node, with the reply it gets. Built
// only when help is asked for, so a kubelet call never loads the driver schemas for it.
import * as z from 'zod/mini';
import { CALLS, isCallName } from './flexvolume/calls.ts';
import { DRIVER_NAMES, type DriverName } from './flexvolume/driver.ts';
import { EXAMPLE, exampleArguments } from './flexvolume/examples.ts';
import type { Invocation } from './invocation.ts';
import { capabilitiesOf } from './drivers/identity.ts';
import { loadDriver } from './drivers/index.ts';
import type { Capabilities } from './flexvolume/reply.ts';
import { loadSettings } from './settings.ts';
import { wrapText } from './terminal-text.ts';

export interface HelpFacts {
  /** The driver the help is about: the executable's name or --driver; undefined for a bare `flexvolume`. */
  driver: DriverName | undefined;
  /** How a person runs each driver here, e.g. `/…/azure~nfs/nfs` or `flexvolume --driver nfs`. */
  commandFor: Record<DriverName, string>;
  /** The executable as invoked, for the operator commands that need no driver. */
  executable: string;
  /** Per driver, the calls it answers itself; the others answer Not supported. */
  implemented: Record<DriverName, ReadonlySet<string>>;
  capabilities: Record<DriverName, Capabilities>;
  filesText: string;
  driversText: string;
}

/** `--driver x` or `--driver=x` anywhere before the call, as commander will read it. */
export function driverFlag(args: readonly string[]): string | undefined {
  for (const [index, arg] of args.entries()) {
    if (arg === '--driver') return args[index + 1];
    if (arg.startsWith('--driver=')) return arg.slice('--driver='.length);
  }
  return undefined;
}

export function wantsHelp(args: readonly string[]): boolean {
  return args.includes('--help') || args.includes('-h') || args[0] === 'help';
}

async function optionSchemas(): Promise<Record<DriverName, z.core.$ZodObject>> {
  const [{ azurediskOptions }, { azurefileOptions }, { nfsOptions }] = await Promise.all([
    import('./drivers/azuredisk/options.ts'),
    import('./drivers/azurefile.ts'),
    import('./drivers/nfs.ts'),
  ]);
  return { azuredisk: azurediskOptions(), azurefile: azurefileOptions(), nfs: nfsOptions() };
}

/** `diskName*, diskURI*, cachingMode`: the schema's keys, the required ones starred. */
function describeOptions(schema: z.core.$ZodObject): string {
  return Object.entries(schema._zod.def.shape)
    .map(([key, field]) => (z.safeParse(field, undefined).success ? key : `${key}*`))
    .join(', ');
}

const EXTRAS: Record<DriverName, (mode: string) => string> = {
  azuredisk: (mode) =>
    mode === 'node'
      ? 'node mode here: mount attaches the disk from this node'
      : 'controller mode here: kube-controller-manager attaches the disk',
  azurefile: () => 'Secret (secretRef): azurestorageaccountname, azurestorageaccountkey',
  nfs: () => 'no Secret; the node needs mount.nfs (nfs-common)',
};

export async function gatherHelpFacts(invocation: Invocation, driver: DriverName | undefined): Promise<HelpFacts> {
  const invokedAsDriver = driver !== undefined && driver === invocation.invokedAs;
  const commandFor = Object.fromEntries(
    DRIVER_NAMES.map((name) => [name, invokedAsDriver ? invocation.executablePath : `${invocation.executablePath} --driver ${name}`]),
  ) as Record<DriverName, string>;
  const settingsOf = (name: DriverName) => loadSettings(invocation.executablePath, name);
  const implemented = {} as Record<DriverName, ReadonlySet<string>>;
  const capabilities = {} as Record<DriverName, Capabilities>;
  for (const name of DRIVER_NAMES) {
    capabilities[name] = capabilitiesOf(name, settingsOf(name));
    const loaded = await loadDriver(name, settingsOf(name));
    implemented[name] = new Set(Object.keys(CALLS).filter((call) => typeof loaded[call as keyof typeof CALLS] === 'function'));
  }
  const schemas = await optionSchemas();
  const driversText = DRIVER_NAMES.map((name) => {
    const options = wrapText(describeOptions(schemas[name]), 13);
    return `  ${name.padEnd(10)} ${options}\n${' '.repeat(13)}${EXTRAS[name](settingsOf(name).azurediskMode)}`;
  }).join('\n');
  return { driver, commandFor, executable: invocation.executablePath, implemented, capabilities, filesText: describeFiles(invocation, driver), driversText };
}

function describeFiles(invocation: Invocation, driver: DriverName | undefined): string {
  const settings = loadSettings(invocation.executablePath, driver ?? 'azuredisk');
  const configs = driver === undefined ? DRIVER_NAMES.map((name) => loadSettings(invocation.executablePath, name).configFile) : [settings.configFile];
  return [
    `  log     ${settings.logFile}`,
    ...configs.map((file) => `  config  ${file}`),
    `  state   ${settings.stateDir}`,
    `  azure   ${settings.azureCredentialFile} (azuredisk's cloud config)`,
  ].join('\n');
}

export function programHelp(facts: HelpFacts): string {
  const doctor = facts.executable;
  return [
    '',
    'Files (the config file is optional; FLEXVOLUME_* variables override it):',
    facts.filesText,
    '',
    "Drivers and their flexVolume.options (* required; see '<call> --help'):",
    facts.driversText,
    '',
    "When a volume does not mount: check this node, then that volume's calls:",
    `  $ ${doctor} doctor`,
    `  $ ${doctor} doctor --volume ${EXAMPLE.volume}`,
  ].join('\n');
}

/** The example and documented answer of one call, for the driver asked about or for each driver. */
export function callHelp(facts: HelpFacts, call: string): string {
  const drivers = facts.driver === undefined ? DRIVER_NAMES : [facts.driver];
  const blocks = drivers.map((driver) => {
    const template = call === 'init' ? 'init' : isCallName(call) ? CALLS[call].example : call;
    const line = `  $ ${facts.commandFor[driver]} ${exampleArguments(template, driver)}`;
    return `${line}\n  ${answerOf(facts, driver, call)}`;
  });
  return `\nExample${blocks.length > 1 ? 's' : ''}:\n${blocks.join('\n\n')}`;
}

function answerOf(facts: HelpFacts, driver: DriverName, call: string): string {
  if (call === 'init') return `Answers: ${JSON.stringify({ status: 'Success', capabilities: facts.capabilities[driver] })}`;
  if (!isCallName(call)) return '';
  const spec = CALLS[call];
  if (facts.implemented[driver].has(call)) return `Answers: ${spec.answers}`;
  return `Answers: {"status":"Not supported"} (${driver} leaves ${call} to the kubelet's default)`;
}
