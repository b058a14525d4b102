// `provisioner`: the long-running controller the Deployment runs. Only the command line lives in
// the CLI bundle; the controller is its own bundle, loaded when the command is chosen.
import type { Command } from 'commander';
import { loadBundle } from '../cli-loader.ts';
import type { OperatorRun } from '../install/command.ts';
import { PROVISIONER_BUNDLE } from './bundle.ts';
import type * as Main from './main.ts';

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
        await loadBundle<typeof Main>(PROVISIONER_BUNDLE).runProvisioner(command.args);
        return null;
      }),
    );
}
