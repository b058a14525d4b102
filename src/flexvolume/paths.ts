// The kubelet's directory layout (protocol doc section 6). Paths are checked against it so that a
// mistyped or foreign path is refused before anything is mounted, created or removed.
import * as path from 'node:path';
import { InvalidInput } from './errors.ts';

/** `<kubelet root>/pods/<uid>/volumes/<vendor>~<driver>/<volume>`: where `mount` puts a pod's volume. */
export interface PodVolumeDir {
  path: string;
  kubeletRoot: string;
  podUid: string;
  vendor: string;
  volumeName: string;
}

/** `<kubelet root>/plugins/kubernetes.io/flexvolume/<vendor>/<driver>/mounts/<volume>`: the global mount. */
export interface DeviceMountPath {
  path: string;
  kubeletRoot: string;
  vendor: string;
  volumeName: string;
}

const SEGMENT = '[^/\\x00-\\x1f]+';
const POD_VOLUME_DIR = new RegExp(`^(/.*)/pods/(${SEGMENT})/volumes/([a-z0-9.-]+)~(${SEGMENT})/(${SEGMENT})$`);
const DEVICE_MOUNT_PATH = new RegExp(
  `^(/.*)/plugins/kubernetes\\.io/flexvolume/([a-z0-9.-]+)/(${SEGMENT})/mounts/(${SEGMENT})$`,
);

function checkAbsolute(what: string, value: string): string {
  if (!path.isAbsolute(value)) throw new InvalidInput(`${what} '${value}' must be an absolute path`);
  const trimmed = value.length > 1 ? value.replace(/\/+$/, '') : value;
  if (path.normalize(trimmed) !== trimmed || trimmed.split('/').includes('..')) {
    throw new InvalidInput(`${what} '${value}' must be a normalized path without '..' or '//'`);
  }
  if (trimmed.length > 4096) throw new InvalidInput(`${what} is longer than PATH_MAX`);
  return trimmed;
}

export function parsePodVolumeDir(value: string, driverName: string): PodVolumeDir {
  const dir = checkAbsolute('pod volume directory', value);
  const match = POD_VOLUME_DIR.exec(dir);
  if (!match || match[4] !== driverName) {
    throw new InvalidInput(
      `pod volume directory '${value}' is not <kubelet root>/pods/<pod uid>/volumes/<vendor>~${driverName}/<volume>; ` +
        'the kubelet passes that path, so check the flexVolume.driver name and the kubelet root dir',
    );
  }
  const [, kubeletRoot = '', podUid = '', vendor = '', , volumeName = ''] = match;
  return { path: dir, kubeletRoot, podUid, vendor, volumeName };
}

export function parseDeviceMountPath(value: string, driverName: string): DeviceMountPath {
  const dir = checkAbsolute('device mount path', value);
  const match = DEVICE_MOUNT_PATH.exec(dir);
  if (!match || match[3] !== driverName) {
    throw new InvalidInput(
      `device mount path '${value}' is not <kubelet root>/plugins/kubernetes.io/flexvolume/<vendor>/${driverName}/mounts/<volume>`,
    );
  }
  const [, kubeletRoot = '', vendor = '', , volumeName = ''] = match;
  return { path: dir, kubeletRoot, vendor, volumeName };
}

/** The global mount path the kubelet uses for a volume, for drivers that mount there themselves. */
export function deviceMountPathFor(pod: PodVolumeDir, driverName: string): DeviceMountPath {
  const dir = path.join(pod.kubeletRoot, 'plugins/kubernetes.io/flexvolume', pod.vendor, driverName, 'mounts', pod.volumeName);
  return { path: dir, kubeletRoot: pod.kubeletRoot, vendor: pod.vendor, volumeName: pod.volumeName };
}

const NAME = /^[A-Za-z0-9]([-A-Za-z0-9._]{0,251}[A-Za-z0-9])?$/;

/** A Kubernetes Node object name (not necessarily the host name). */
export function parseNodeName(value: string): string {
  if (!NAME.test(value)) throw new InvalidInput(`node name '${value}' is not a valid Kubernetes node name`);
  return value;
}

/** The PV name (or inline volume name) the kubelet passes to `detach`. */
export function parseVolumeName(value: string): string {
  if (!NAME.test(value)) throw new InvalidInput(`volume name '${value}' is not a valid PV or volume name`);
  return value;
}

export function parseByteCount(what: string, value: string): number {
  if (!/^\d{1,19}$/.test(value)) throw new InvalidInput(`${what} '${value}' must be a decimal byte count`);
  return Number(value);
}
