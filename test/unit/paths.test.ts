import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { deviceMountPathFor, parseDeviceMountPath, parseNodeName, parsePodVolumeDir } from '../../src/flexvolume/paths.ts';

const POD = '/var/lib/kubelet/pods/0c1d2e3f/volumes/azure~nfs/pv-data';

describe('kubelet paths', () => {
  test('a pod volume dir yields its parts', () => {
    expect(parsePodVolumeDir(POD, 'nfs')).toEqual({
      path: POD,
      kubeletRoot: '/var/lib/kubelet',
      podUid: '0c1d2e3f',
      vendor: 'azure',
      volumeName: 'pv-data',
    });
  });

  test('works under a non-default kubelet root and with a trailing slash', () => {
    expect(parsePodVolumeDir('/var/snap/microk8s/common/var/lib/kubelet/pods/u/volumes/acme~nfs/v/', 'nfs').kubeletRoot).toBe(
      '/var/snap/microk8s/common/var/lib/kubelet',
    );
  });

  test.each([
    ['relative', 'var/lib/kubelet/pods/u/volumes/azure~nfs/v'],
    ['another driver', '/var/lib/kubelet/pods/u/volumes/azure~azurefile/v'],
    ['dot-dot', '/var/lib/kubelet/pods/u/volumes/azure~nfs/v/../../../../../etc'],
    ['double slash', '/var/lib/kubelet//pods/u/volumes/azure~nfs/v'],
    ['a dot segment', '/var/lib/kubelet/./pods/u/volumes/azure~nfs/v'],
    ['a dot volume', '/var/lib/kubelet/pods/u/volumes/azure~nfs/.'],
    ['not a volume dir', '/etc'],
    ['a control character', '/var/lib/kubelet/pods/u/volumes/azure~nfs/v\n'],
    ['not valid UTF-8 (decoded with U+FFFD)', '/var/lib/kubelet/pods/u\uFFFD/volumes/azure~nfs/v'],
  ])('refuses a pod volume dir that is %s', (_name, dir) => {
    expect(() => parsePodVolumeDir(dir, 'nfs')).toThrow(/pod volume directory/);
  });

  test('names that only start with dots are names, not dot segments', () => {
    expect(parsePodVolumeDir('/var/lib/.kubelet/pods/u/volumes/azure~nfs/..v', 'nfs')).toMatchObject({
      path: '/var/lib/.kubelet/pods/u/volumes/azure~nfs/..v',
      kubeletRoot: '/var/lib/.kubelet',
      volumeName: '..v',
    });
  });

  test('the global mount path is rebuilt from a pod volume dir exactly as the kubelet builds it', () => {
    const pod = parsePodVolumeDir('/var/lib/kubelet/pods/u/volumes/azure~azuredisk/pv-1', 'azuredisk');
    const global = deviceMountPathFor(pod, 'azuredisk');
    expect(global.path).toBe('/var/lib/kubelet/plugins/kubernetes.io/flexvolume/azure/azuredisk/mounts/pv-1');
    expect(parseDeviceMountPath(global.path, 'azuredisk')).toEqual(global);
  });

  test('a pod volume dir that is not valid UTF-8 says so', () => {
    expect(() => parsePodVolumeDir('/var/lib/kube\uFFFDlet/pods/u/volumes/azure~nfs/v', 'nfs')).toThrow(/is not valid UTF-8/);
    expect(() => parseDeviceMountPath('/var/lib/kubelet/plugins/kubernetes.io/flexvolume/azure/azuredisk/mounts/pv\uFFFD', 'azuredisk')).toThrow(
      /is not valid UTF-8/,
    );
  });

  test('node names', () => {
    expect(parseNodeName('aks-nodepool1-12345678-vmss000000')).toBe('aks-nodepool1-12345678-vmss000000');
    expect(() => parseNodeName('node;rm')).toThrow(/not a valid Kubernetes node name/);
    expect(() => parseNodeName('')).toThrow();
  });
});

describe('kubelet paths on disk: real paths, symlinks refused below the kubelet root', () => {
  let dir: string;
  let root: string;
  beforeEach(() => {
    dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'paths-test-')));
    root = path.join(dir, 'var/lib/kubelet');
  });
  afterEach(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });
  const podDir = (kubeletRoot: string, uid = 'u1', volume = 'v') => path.join(kubeletRoot, 'pods', uid, 'volumes/azure~nfs', volume);
  const globalDir = (kubeletRoot: string) => path.join(kubeletRoot, 'plugins/kubernetes.io/flexvolume/azure/azuredisk/mounts/pv-1');
  const symlinkDir = (target: string, link: string) => {
    fs.mkdirSync(path.dirname(link), { recursive: true });
    fs.symlinkSync(target, link);
  };

  test('an existing pod volume dir is its own real path', () => {
    fs.mkdirSync(podDir(root), { recursive: true });
    expect(parsePodVolumeDir(podDir(root), 'nfs')).toMatchObject({ path: podDir(root), kubeletRoot: root });
  });

  test('a pod volume dir not created yet, even under a kubelet root not created yet, resolves where it will be', () => {
    expect(parsePodVolumeDir(podDir(root), 'nfs')).toMatchObject({ path: podDir(root), kubeletRoot: root });
    fs.mkdirSync(path.join(root, 'pods/u1'), { recursive: true });
    expect(parsePodVolumeDir(podDir(root), 'nfs').path).toBe(podDir(root));
  });

  test('a symlinked kubelet root resolves to its target, and so does the global mount path built from it', () => {
    const real = path.join(dir, 'mnt/kubelet');
    fs.mkdirSync(real, { recursive: true });
    symlinkDir(real, root);
    const pod = parsePodVolumeDir(podDir(root, 'u1', 'pv-1').replace('azure~nfs', 'azure~azuredisk'), 'azuredisk');
    expect(pod).toMatchObject({ path: path.join(real, 'pods/u1/volumes/azure~azuredisk/pv-1'), kubeletRoot: real });
    expect(deviceMountPathFor(pod, 'azuredisk').path).toBe(globalDir(real));
    expect(parseDeviceMountPath(globalDir(root), 'azuredisk')).toMatchObject({ path: globalDir(real), kubeletRoot: real });
  });

  test('a symlink above the kubelet root is followed, as one at the root is', () => {
    fs.mkdirSync(path.join(dir, 'disk2/lib'), { recursive: true });
    fs.mkdirSync(path.join(dir, 'var'));
    fs.symlinkSync(path.join(dir, 'disk2/lib'), path.join(dir, 'var/lib'));
    expect(parsePodVolumeDir(podDir(root), 'nfs').path).toBe(podDir(path.join(dir, 'disk2/lib/kubelet')));
  });

  test.each([
    ['the pod volume dir itself, pointing outside the tree', (outside: string) => symlinkDir(outside, podDir(root))],
    ['a parent of a missing pod volume dir, pointing outside the tree', (outside: string) => symlinkDir(outside, path.join(root, 'pods/u1/volumes'))],
    ['the pods dir, pointing outside the tree', (outside: string) => symlinkDir(outside, path.join(root, 'pods'))],
    [
      "the pod volume dir, pointing at another pod's volume dir inside the tree",
      () => {
        fs.mkdirSync(podDir(root, 'u2'), { recursive: true });
        symlinkDir(podDir(root, 'u2'), podDir(root));
      },
    ],
    ['the pod volume dir, dangling', () => symlinkDir(path.join(dir, 'gone'), podDir(root))],
  ])('a symlink at %s is refused, and nothing is created', (_name, plant) => {
    const outside = path.join(dir, 'outside');
    fs.mkdirSync(outside);
    plant(outside);
    expect(() => parsePodVolumeDir(podDir(root), 'nfs')).toThrow(/a symlink to .*the kubelet never creates symlinks below its root dir/);
    expect(fs.readdirSync(outside)).toEqual([]);
  });

  test('a symlinked global mount path is refused, whether the kubelet passed it or a driver rebuilt it', () => {
    const outside = path.join(dir, 'outside');
    fs.mkdirSync(outside);
    symlinkDir(outside, globalDir(root));
    const refused = new RegExp(`device mount path .* leads through ${globalDir(root)}, a symlink to ${outside}`);
    expect(() => parseDeviceMountPath(globalDir(root), 'azuredisk')).toThrow(refused);
    const pod = parsePodVolumeDir(path.join(root, 'pods/u1/volumes/azure~azuredisk/pv-1'), 'azuredisk');
    expect(() => deviceMountPathFor(pod, 'azuredisk')).toThrow(refused);
  });

  test('a file where a directory belongs is refused', () => {
    fs.mkdirSync(path.dirname(podDir(root)), { recursive: true });
    fs.writeFileSync(podDir(root), '');
    expect(() => parsePodVolumeDir(podDir(root), 'nfs')).toThrow(/is not a directory/);
  });
});
