// `install`: the operator command the DaemonSet runs (and a person may run by hand). Only the
// command line is defined here; the work is loaded when the command is chosen, so a kubelet call
// never loads the installer.
import type { Command } from 'commander';
import { DRIVER_NAMES } from '../flexvolume/driver.ts';
import type { Reply } from '../flexvolume/reply.ts';
import { DEFAULT_LOG_FILE } from '../system/log.ts';
import { describePresets } from './presets.ts';

/** Runs an operator command; null means it printed its own output and succeeded. */
export type OperatorRun = () => Promise<Reply | null>;

export function addInstallCommand(program: Command, select: (run: OperatorRun) => void): void {
  program
    .command('install')
    .summary('Install the driver into the plugin directory (run by the DaemonSet, or by hand).')
    .description(
      'Install this executable as <plugin dir>/<vendor>~<driver>/<driver> for each driver, atomically, then show ' +
        'the driver log until terminated. Running it again with the same version changes nothing.',
    )
    .option('--plugin-dir <dir>', 'the kubelet volume plugin directory (default: $FLEXVOLUME_PLUGIN_DIR, else the kubelet default)', process.env.FLEXVOLUME_PLUGIN_DIR)
    .option('--preset <name>', 'a known plugin directory by distribution (see below)')
    .option('--vendor <name>', 'vendor part of the driver names (flexVolume.driver: "<vendor>/<driver>")', 'azure')
    .option('--drivers <list>', 'comma-separated drivers to install', DRIVER_NAMES.join(','))
    .option(
      '--azuredisk-mode <mode>',
      'controller: kube-controller-manager attaches; node: the node attaches (managed control planes such as AKS). ' +
        'Default: $FLEXVOLUME_AZUREDISK_MODE, else what the preset needs, else controller',
      process.env.FLEXVOLUME_AZUREDISK_MODE,
    )
    .option('--node-name <name>', "this node's Kubernetes name, for node mode (the DaemonSet passes spec.nodeName; default: the host name)", process.env.NODE_NAME)
    .option('--log-file <file>', 'the drivers\' log file, shown after installing (default: $FLEXVOLUME_LOG_FILE, else ' + DEFAULT_LOG_FILE + ')', process.env.FLEXVOLUME_LOG_FILE ?? DEFAULT_LOG_FILE)
    .option('--libraries <source>', 'bundled: ship glibc inside the plugin dir, for distroless controller-manager images; host: use the host\'s', 'bundled')
    .option('--host-proc <dir>', 'the host\'s /proc, to check the plugin dir against the running kubelet', '/proc')
    .option('--uninstall', 'remove the drivers of this vendor (only what this installer puts there)')
    .option('--unless-replaced', "with --uninstall: do nothing while another installer serves this plugin dir (the DaemonSet's preStop hook: a rolling update's new pod)")
    .option('--no-follow', 'exit after installing instead of showing the driver log')
    .addHelpText(
      'after',
      `\nPresets:\n${describePresets()}\n\nExamples:\n` +
        '  $ flexvolume install --preset aks --host-proc /host/proc                           # AKS: node mode, implied\n' +
        '  $ flexvolume install --preset aks-engine --azuredisk-mode controller --no-follow   # self-managed control plane',
    )
    .action((flags: Record<string, unknown>) => select(async () => (await import('./run.ts')).runInstallCommand(flags)));
}

