// `provisioner`: the long-running controller the Deployment runs. Only the command line lives in
// the CLI part; the controller is a part of its own (src/cli-loader.ts), loaded when the command is chosen.
import type { Command } from 'commander';
import type { OperatorRun } from '../install/command.ts';

export function addProvisionerCommand(program: Command, select: (run: OperatorRun) => void): void {
  program
    .command('provisioner')
    .summary('Run the external provisioner for azure/azuredisk, azure/azurefile and azure/nfs (run by its Deployment).')
    .description(
      'Watch PVCs of StorageClasses whose provisioner is azure/azuredisk, azure/azurefile or azure/nfs; create the Azure disk, ' +
        'the file share or the NFS subdirectory and the PV; delete both when a Released PV has reclaim policy Delete; grow storage ' +
        'when a claim asks for more. One replica works at a time (Lease leader election). Logs go to stdout. See docs/provisioner.md.',
    )
    .allowUnknownOption()
    .allowExcessArguments()
    .helpOption(false)
    .action((_flags: unknown, command: Command) =>
      select(async () => {
        await (await import('./main.ts')).runProvisioner(command.args);
        return null;
      }),
    );
}
