// The JSON shapes the simulator serves, trimmed to what ARM returns for the fields a disk driver
// reads. They double as the return types of the test-side state API (sim.getVM and friends).

export type ProvisioningState = 'Succeeded' | 'Updating' | 'Failed';
export type DiskState = 'Unattached' | 'Attached';

export interface ArmDataDisk {
  lun: number;
  name: string;
  createOption: string;
  caching: string;
  managedDisk: { id: string; storageAccountType: string };
  toBeDetached: boolean;
  detachOption?: string;
  diskSizeGB: number;
}

export interface ArmOsDisk {
  osType: 'Linux';
  name: string;
  createOption: 'FromImage';
  caching: 'ReadWrite';
  diskSizeGB: number;
  managedDisk: { id: string; storageAccountType: string };
}

export interface ArmStorageProfile {
  osDisk: ArmOsDisk;
  dataDisks: ArmDataDisk[];
}

interface MachineProperties {
  vmId: string;
  provisioningState: ProvisioningState;
  hardwareProfile: { vmSize: string };
  osProfile: { computerName: string };
  storageProfile: ArmStorageProfile;
}

export interface ArmVirtualMachine {
  id: string;
  name: string;
  type: 'Microsoft.Compute/virtualMachines';
  location: string;
  etag: string;
  properties: MachineProperties;
}

export interface ArmScaleSetVM {
  id: string;
  name: string;
  instanceId: string;
  type: 'Microsoft.Compute/virtualMachineScaleSets/virtualMachines';
  location: string;
  etag: string;
  properties: MachineProperties & { latestModelApplied: boolean };
}

export interface ArmDisk {
  id: string;
  name: string;
  type: 'Microsoft.Compute/disks';
  location: string;
  managedBy?: string;
  sku: { name: string; tier: string };
  properties: { diskSizeGB: number; diskState: DiskState; provisioningState: 'Succeeded' };
}

/** An ARM error answer: `{ error: { code, message } }` with this HTTP status. */
export class ArmError extends Error {
  readonly status: number;
  readonly code: string;

  constructor(status: number, code: string, message: string) {
    super(message);
    this.status = status;
    this.code = code;
  }
}
