// The kubelet's directory layout (protocol doc section 6). Paths are checked against it so that a
// mistyped or foreign path is refused before anything is mounted, created or removed, and resolved
// to where they really are on this node, which is what the mount table shows.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { entryPath } from '../system/entry-path.ts';
import { InvalidInput } from './errors.ts';

/**
 * `<kubelet root>/pods/<uid>/volumes/<vendor>~<driver>/<volume>`: where `mount` puts a pod's volume.
 * `path` and `kubeletRoot` are real paths (see inKubeletTree), as the mount table records mounts.
 */
export interface PodVolumeDir {
  path: string;
  kubeletRoot: string;
  podUid: string;
  vendor: string;
  volumeName: string;
}

/** `<kubelet root>/plugins/kubernetes.io/flexvolume/<vendor>/<driver>/mounts/<volume>`: the global mount, real paths too. */
export interface DeviceMountPath {
  path: string;
  kubeletRoot: string;
  vendor: string;
  volumeName: string;
}

const SEGMENT = '[^/\\x00-\\x1f]+';
/** A `//`, a `.` or a `..`: what path.normalize would change in an absolute path with no trailing slash. */
const UNNORMALIZED = /\/\/|\/\.\.?(\/|$)/;
const POD_VOLUME_DIR = new RegExp(`^(/.*)/pods/(${SEGMENT})/volumes/([a-z0-9.-]+)~(${SEGMENT})/(${SEGMENT})$`);
const DEVICE_MOUNT_PATH = new RegExp(
  `^(/.*)/plugins/kubernetes\\.io/flexvolume/([a-z0-9.-]+)/(${SEGMENT})/mounts/(${SEGMENT})$`,
);

function checkAbsolute(what: string, value: string): string {
  // Node decodes argv as UTF-8 and replaces every invalid byte with U+FFFD, so such a path names
  // another directory than the kubelet's; none of the kubelet's names (pod uid, driver, PV name)
  // can hold U+FFFD itself.
  if (value.includes('\uFFFD')) {
    throw new InvalidInput(
      `${what} '${value}' is not valid UTF-8 (or holds U+FFFD); the driver cannot name that directory exactly, ` +
        'so it changes nothing. Use a kubelet root dir whose path is valid UTF-8',
    );
  }
  if (!path.isAbsolute(value)) throw new InvalidInput(`${what} '${value}' must be an absolute path`);
  const trimmed = value.length > 1 ? value.replace(/\/+$/, '') : value;
  if (UNNORMALIZED.test(trimmed)) {
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
  return { ...inKubeletTree('pod volume directory', dir, kubeletRoot), podUid, vendor, volumeName };
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
  return { ...inKubeletTree('device mount path', dir, kubeletRoot), vendor, volumeName };
}

type EntryType = 'directory' | 'symlink' | 'other';

/**
 * The type of `name` in `dir`, undefined when either is missing. It comes from reading `dir`, never
 * from a stat of the entry: a stat of a hung NFS or CIFS mount point blocks, and one of a dead
 * share fails, while the directory entry under a mount point is as readable as any other.
 */
function entryType(dir: string, name: string): EntryType | undefined {
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new InvalidInput(`cannot read ${dir}: ${(error as Error).message}`);
  }
  const entry = entries.find((candidate) => candidate.name === name);
  if (entry === undefined) return undefined;
  return entry.isSymbolicLink() ? 'symlink' : entry.isDirectory() ? 'directory' : 'other';
}

/** The real path of `dir`, which need not exist: that of its deepest existing ancestor, plus the rest. */
export function realPathOf(dir: string): string {
  try {
    return fs.realpathSync.native(dir);
  } catch (error) {
    const parent = path.dirname(dir);
    if ((error as NodeJS.ErrnoException).code === 'ENOENT' && parent !== dir) return path.join(realPathOf(parent), path.basename(dir));
    throw new InvalidInput(`cannot resolve the kubelet root dir ${dir}: ${(error as Error).message}`);
  }
}

function symlinkTarget(link: string): string {
  try {
    return fs.readlinkSync(link);
  } catch {
    return 'an unreadable target';
  }
}

/**
 * `dir` as it really is on this node: the kubelet root's real path (a symlinked root such as
 * /var/lib/kubelet -> /mnt/kubelet is a real layout, and mounts show up under the target), then
 * the rest of `dir`, in which no existing entry may be a symlink or anything but a directory.
 *
 * The kubelet creates everything below its root itself, and never as a symlink. One found there
 * was planted: followed, it would put the mount (or the directories created for it) outside the
 * kubelet's tree, hiding what is there, or, pointing inside the tree, on another pod's directory.
 * So every symlink below the root is refused, wherever it points, and the missing part of `dir` is
 * only ever created below the root's real path.
 */
function inKubeletTree(what: string, dir: string, kubeletRoot: string): { path: string; kubeletRoot: string } {
  // `dir` is normalized and starts with `kubeletRoot`, so the names below the root are what follows it.
  const below = dir.slice(kubeletRoot.length).split('/').filter((name) => name !== '');
  const realRoot = realPathOf(kubeletRoot);
  let current = realRoot;
  for (const name of below) {
    const type = entryType(current, name);
    if (type === undefined) break;
    const entry = entryPath(current, name);
    if (type === 'symlink') {
      throw new InvalidInput(
        `${what} '${dir}' leads through ${entry}, a symlink to ${symlinkTarget(entry)}; the kubelet never creates symlinks ` +
          `below its root dir ${kubeletRoot}, and a mount through one would land outside the kubelet's tree or on another ` +
          "pod's directory. Nothing was changed; remove the symlink (the kubelet recreates the directory)",
      );
    }
    if (type !== 'directory') throw new InvalidInput(`${what} '${dir}': ${entry} is not a directory; nothing was changed`);
    current = entry;
  }
  return { path: entryPath(realRoot, ...below), kubeletRoot: realRoot };
}

/**
 * The global mount path the kubelet uses for a volume, for drivers that mount there themselves;
 * checked for symlinks as a path the kubelet passed would be.
 */
export function deviceMountPathFor(pod: PodVolumeDir, driverName: string): DeviceMountPath {
  const dir = entryPath(pod.kubeletRoot, 'plugins/kubernetes.io/flexvolume', pod.vendor, driverName, 'mounts', pod.volumeName);
  return { ...inKubeletTree('device mount path', dir, pod.kubeletRoot), vendor: pod.vendor, volumeName: pod.volumeName };
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
