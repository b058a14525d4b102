// The example arguments the help and the argument-count Failure print, for one driver: its own
// flexVolume.options (the required diskURI, shareName, server…), its vendor~driver paths and a
// plausible node. They must run as printed, so a test replays every one against the fixtures.

export const EXAMPLE = {
  kubeletRoot: '/var/lib/kubelet',
  vendor: 'azure',
  volume: 'pv-data',
  podUid: '3f0c6d3e-5b1a-4c2e-9d7f-0a1b2c3d4e5f',
  node: 'aks-nodepool1-12345678-vmss000000',
  subscriptionId: '5b7e0f2a-3c4d-4e5f-8a9b-0c1d2e3f4a5b',
  resourceGroup: 'mc_prod_aks_westeurope',
  disk: 'disk-data',
  /** What waitforattach answers for LUN 0 and what mountdevice and expandfs are given. */
  device: '/dev/disk/azure/scsi1/lun0',
  newSizeBytes: String(8 * 2 ** 30),
  oldSizeBytes: String(4 * 2 ** 30),
} as const;

const DISK_URI = `/subscriptions/${EXAMPLE.subscriptionId}/resourceGroups/${EXAMPLE.resourceGroup}/providers/Microsoft.Compute/disks/${EXAMPLE.disk}`;

/** Each driver's flexVolume.options as a PV would give them (the required ones at least). */
const DRIVER_OPTIONS: Readonly<Record<string, Record<string, string>>> = {
  azuredisk: { 'kubernetes.io/fsType': 'ext4', diskName: EXAMPLE.disk, diskURI: DISK_URI },
  azurefile: { 'kubernetes.io/fsType': '', shareName: 'data' },
  nfs: { 'kubernetes.io/fsType': '', server: '10.0.0.5', share: '/exports/data' },
};

/** The Secret `mount` receives (secretRef), base64 as the kubelet passes it. */
const MOUNT_SECRETS: Readonly<Record<string, Record<string, string>>> = {
  azurefile: { azurestorageaccountname: 'examplestore', azurestorageaccountkey: 'ZXhhbXBsZS1rZXk=' },
};

/** The kubelet's json.Marshal of a map[string]string: sorted keys, no spaces. */
function goJson(options: Record<string, string>): string {
  const keys = Object.keys(options).sort();
  return `{${keys.map((key) => `${JSON.stringify(key)}:${JSON.stringify(options[key])}`).join(',')}}`;
}

const shellQuote = (text: string): string => (/^[\w@%+=:,./~-]+$/.test(text) ? text : `'${text.replaceAll("'", `'\\''`)}'`);

function volumeOptions(driver: string): Record<string, string> {
  return { 'kubernetes.io/pvOrVolumeName': EXAMPLE.volume, 'kubernetes.io/readwrite': 'rw', ...DRIVER_OPTIONS[driver] };
}

function mountOptions(driver: string): Record<string, string> {
  const secrets = Object.entries(MOUNT_SECRETS[driver] ?? {}).map(([key, value]) => [
    `kubernetes.io/secret/${key}`,
    Buffer.from(value).toString('base64'),
  ]);
  return {
    ...volumeOptions(driver),
    'kubernetes.io/pod.name': 'web-0',
    'kubernetes.io/pod.namespace': 'default',
    'kubernetes.io/pod.uid': EXAMPLE.podUid,
    'kubernetes.io/serviceAccount.name': 'default',
    ...Object.fromEntries(secrets),
  };
}

function placeholders(driver: string): Record<string, string> {
  return {
    OPTIONS: goJson(volumeOptions(driver)),
    MOUNT_OPTIONS: goJson(mountOptions(driver)),
    POD_DIR: `${EXAMPLE.kubeletRoot}/pods/${EXAMPLE.podUid}/volumes/${EXAMPLE.vendor}~${driver}/${EXAMPLE.volume}`,
    GLOBAL_DIR: `${EXAMPLE.kubeletRoot}/plugins/kubernetes.io/flexvolume/${EXAMPLE.vendor}/${driver}/mounts/${EXAMPLE.volume}`,
    // Drivers without attach get no device: the kubelet passes "" to expandfs.
    DEVICE: driver === 'azuredisk' ? EXAMPLE.device : '',
    LUN: '0',
    NODE: EXAMPLE.node,
    VOLUME: EXAMPLE.volume,
    NEW_SIZE: EXAMPLE.newSizeBytes,
    OLD_SIZE: EXAMPLE.oldSizeBytes,
  };
}

/**
 * A call's example arguments for one driver, quoted for a POSIX shell. `template` names its
 * arguments by placeholder (OPTIONS, POD_DIR, DEVICE…), separated by spaces.
 */
export function exampleArguments(template: string, driver: string): string {
  const values = placeholders(driver);
  return template
    .split(' ')
    .filter((word) => word !== '')
    .map((word) => shellQuote(values[word] ?? word))
    .join(' ');
}
