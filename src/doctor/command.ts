// `doctor`: the operator's question "what is wrong on this node?", answered from the node itself.
// Only the command line lives here; the checks load when the command is chosen.
import type { Command } from 'commander';
import type { OperatorRun } from '../install/command.ts';

export function addDoctorCommand(program: Command, select: (run: OperatorRun) => void): void {
  program
    .command('doctor')
    .summary('Check this node: installation, plugin dir, tools, Azure config and credentials, disks, recent errors.')
    .description(
      'Check everything the drivers need on this node and report what is wrong and what to do. ' +
        'Human-readable by default; --json for machines. Exits 1 when a check fails.',
    )
    .option('--plugin-dir <dir>', 'the plugin directory to inspect (default: where this executable is installed, else the kubelet default)')
    .option('--host-proc <dir>', "the host's /proc, to find the kubelet and its plugin dir", '/proc')
    .option('--node-name <name>', "this node's Kubernetes name (default: the installed config, else the host name)")
    .option('--no-azure', 'skip the checks that talk to Azure (credentials, VM)')
    .option('--json', 'print the report as JSON')
    .addHelpText('after', '\nExample:\n  $ /etc/kubernetes/volumeplugins/azure~azuredisk/azuredisk doctor')
    .action((flags: Record<string, unknown>) => select(async () => (await import('./run.ts')).runDoctor(flags)));
}
