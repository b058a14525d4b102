// What each driver tells the kubelet in `init`, kept apart from the drivers themselves so that
// `init` answers without loading them (it runs under the kubelet's plugin-manager lock).
import type { DriverName } from '../flexvolume/driver.ts';
import type { Capabilities } from '../flexvolume/reply.ts';
import type { Settings } from '../settings.ts';

/**
 * Network filesystems (nfs, azurefile):
 * - attach false: there is nothing to attach; the kubelet calls `mount` directly.
 * - fsGroup false: ownership belongs to the NFS server, and chown is impossible on cifs (uid/gid
 *   come from mount options). A recursive chown of a big share is also what made peers time out.
 * - selinuxRelabel false: neither filesystem stores SELinux labels, so relabelling fails.
 * - supportsMetrics true: statfs on the mount reports the share's capacity.
 * - requiresFSResize true: `expandfs` answers Success, so a PVC resize completes.
 */
const NETWORK_FILESYSTEM: Capabilities = {
  attach: false,
  selinuxRelabel: false,
  supportsMetrics: true,
  fsGroup: false,
  requiresFSResize: true,
};

/**
 * azuredisk is a block device with ext4/xfs on it: the kubelet may relabel, chown for fsGroup and
 * read metrics. attach is true when the controller-manager attaches (controller mode) and false in
 * node mode, where `mount` attaches from the node itself.
 */
function azurediskCapabilities(settings: Settings): Capabilities {
  return {
    attach: settings.azurediskMode === 'controller',
    selinuxRelabel: true,
    supportsMetrics: true,
    fsGroup: true,
    requiresFSResize: true,
  };
}

export function capabilitiesOf(driver: DriverName, settings: Settings): Capabilities {
  return driver === 'azuredisk' ? azurediskCapabilities(settings) : { ...NETWORK_FILESYSTEM };
}
