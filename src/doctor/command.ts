// `doctor`: the operator's question "what is wrong on this node?", answered from the node itself.
// Only the command line lives here; the checks load when the command is chosen.
import type { Command } from 'commander';
import { EXAMPLE } from '../flexvolume/examples.ts';
import type { OperatorRun } from '../install/command.ts';

/** Where the DaemonSet mounts the host's /proc: its pid 1's root is the host's filesystem. */
export const INSTALLER_POD_HOST_ROOT = '/host/proc/1/root';

/** `executable`: this executable as invoked, so that the examples run as printed. */
export function addDoctorCommand(program: Command, select: (run: OperatorRun) => void, executable: string): void {
  program
    .command('doctor')
    .summary('Check this node: installation, plugin dir, tools, Azure config and credentials, disks, recent errors.')
    .description(
      'Check everything the drivers need on this node and report what is wrong and what to do. ' +
        'Human-readable by default; --json for machines. Exits 1 when a check fails.',
    )
    .option('--plugin-dir <dir>', "the plugin directory to inspect (default: where this executable is installed, else the kubelet's or a preset's that holds these drivers)")
    .option('--host-root <dir>', `the host's root filesystem (default: ${INSTALLER_POD_HOST_ROOT} when it exists, as in the installer's pod, else /)`)
    .option('--host-proc <dir>', "the host's /proc, to find the kubelet and its plugin dir (default: <host root>/proc)")
    .option('--node-name <name>', "this node's Kubernetes name (default: NODE_NAME in the installer pod, else the installed config, else the host name)")
    .option('--no-azure', 'skip the checks that talk to Azure (credentials, VM)')
    .option('--json', 'print the report as JSON')
    .option('--volume <pv name>', "instead of the checks: that volume's calls on this host, from the log, and its last failure")
    .option('--pod <uid>', "instead of the checks: the story of each volume of that pod (its metadata.uid)")
    .addHelpText(
      'after',
      [
        '',
        'Examples:',
        `  $ ${executable} doctor`,
        `  $ ${executable} doctor --volume ${EXAMPLE.volume} --json`,
        '',
        `From the installer pod on a node (it sees the host through ${INSTALLER_POD_HOST_ROOT}):`,
        '  kubectl -n kube-system exec <that pod> -- /flexvolume doctor',
      ].join('\n'),
    )
    .action((flags: Record<string, unknown>) => select(async () => (await import('./run.ts')).runDoctor(flags)));
}
