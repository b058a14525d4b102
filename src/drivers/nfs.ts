// The nfs driver: mounts an NFS export into a pod. No attach, no device; `mount` does everything.
import * as z from 'zod/mini';
import type { CallArgs, Driver } from '../flexvolume/driver.ts';
import { lazily, parseDriverOptions } from '../flexvolume/options.ts';
import { success, type Reply } from '../flexvolume/reply.ts';
import type { Settings } from '../settings.ts';
import { capabilitiesOf } from './identity.ts';
import { applyReadOnly, exportPath, mountOptionList, mountShare, nfsSource, serverName, shareLock, unmountShare } from './network-mount.ts';

export const nfsOptions = lazily(() =>
  z.object({
    server: serverName(),
    share: exportPath(),
    mountOptions: z.optional(mountOptionList()),
  }),
);

export function createNfsDriver(settings: Settings): Driver {
  return {
    name: 'nfs',
    capabilities: () => capabilitiesOf('nfs', settings),

    async mount({ podVolumeDir, options }: CallArgs['mount']): Promise<Reply> {
      const nfs = parseDriverOptions(nfsOptions, options.user);
      // No defaults beyond the kernel's: `hard` is its default and the only one that cannot
      // silently lose writes. The PVC's readOnly must reach the mount (the upstream example dropped it).
      const mountOptions = applyReadOnly(nfs.mountOptions ?? [], options.readOnly);
      return mountShare({
        podVolumeDir,
        source: nfsSource(nfs.server, nfs.share),
        fsType: 'nfs',
        options: mountOptions,
        timeoutMs: settings.mountTimeoutMs,
        lock: shareLock(settings.stateDir, settings.mountTimeoutMs),
      });
    },

    async unmount({ podVolumeDir }: CallArgs['unmount']): Promise<Reply> {
      return unmountShare(podVolumeDir, shareLock(settings.stateDir, settings.mountTimeoutMs));
    },

    // The export's size is the server's business; Success lets the PVC resize complete.
    async expandfs(): Promise<Reply> {
      return success();
    },
  };
}
