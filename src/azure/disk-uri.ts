// A managed disk's resource id, the `diskURI` a PV names. ARM treats ids case-insensitively and
// users write `resourcegroups` as often as `resourceGroups` (known-issues §21), so parsing does too.
import { DriverError } from '../flexvolume/errors.ts';

export interface DiskUri {
  subscriptionId: string;
  resourceGroup: string;
  name: string;
}

const MANAGED_DISK = /^\/subscriptions\/([^/]+)\/resourceGroups\/([^/]+)\/providers\/Microsoft\.Compute\/disks\/([^/]+)$/i;

export function parseDiskUri(diskUri: string): DiskUri {
  const match = MANAGED_DISK.exec(diskUri.trim());
  if (match?.[1] !== undefined && match[2] !== undefined && match[3] !== undefined) {
    return { subscriptionId: match[1], resourceGroup: match[2], name: match[3] };
  }
  if (/^https?:\/\//i.test(diskUri)) {
    throw new DriverError(
      `diskURI '${diskUri}' is a blob (unmanaged VHD) disk; only managed disks are supported: ` +
        'convert it with `az disk create --source <vhd url>` and use the managed disk resource id',
    );
  }
  throw new DriverError(
    `diskURI '${diskUri}' is not a managed disk resource id: expected /subscriptions/<id>/resourceGroups/<group>/providers/Microsoft.Compute/disks/<name>`,
  );
}
