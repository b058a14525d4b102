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
    ['not a volume dir', '/etc'],
    ['a control character', '/var/lib/kubelet/pods/u/volumes/azure~nfs/v\n'],
  ])('refuses a pod volume dir that is %s', (_name, dir) => {
    expect(() => parsePodVolumeDir(dir, 'nfs')).toThrow(/pod volume directory/);
  });

  test('the global mount path is rebuilt from a pod volume dir exactly as the kubelet builds it', () => {
    const pod = parsePodVolumeDir('/var/lib/kubelet/pods/u/volumes/azure~azuredisk/pv-1', 'azuredisk');
    const global = deviceMountPathFor(pod, 'azuredisk');
    expect(global.path).toBe('/var/lib/kubelet/plugins/kubernetes.io/flexvolume/azure/azuredisk/mounts/pv-1');
    expect(parseDeviceMountPath(global.path, 'azuredisk')).toEqual(global);
  });

  test('node names', () => {
    expect(parseNodeName('aks-nodepool1-12345678-vmss000000')).toBe('aks-nodepool1-12345678-vmss000000');
    expect(() => parseNodeName('node;rm')).toThrow(/not a valid Kubernetes node name/);
    expect(() => parseNodeName('')).toThrow();
  });
});
