// The call table: every command the kubelet and controller-manager send, with its exact argument
// shape (protocol doc sections 2 and 8), parsed into typed values before a driver sees it.
import type { CallArgs } from './driver.ts';
import { parseMountOptions, parseVolumeOptions } from './options.ts';
import {
  parseByteCount,
  parseDeviceMountPath,
  parseNodeName,
  parsePodVolumeDir,
  parseVolumeName,
} from './paths.ts';
import { InvalidInput } from './errors.ts';

export { isCallName } from './driver.ts';

export interface CallSpec<K extends keyof CallArgs> {
  name: K;
  /** Argument names as the help shows them, in the order the kubelet passes them. */
  args: readonly string[];
  caller: string;
  summary: string;
  /** The example's arguments by placeholder (OPTIONS, POD_DIR…), filled in per driver by examples.ts. */
  example: string;
  /** The reply the example gets from a driver that implements the call, as the help documents it. */
  answers: string;
  parse(argv: readonly string[], driverName: string): CallArgs[K];
}

function devicePathArg(value: string): string {
  if (/[\x00-\x1f]/.test(value) || value.length > 4096) throw new InvalidInput(`device path '${value}' is not a path`);
  return value;
}

export const CALLS: { [K in keyof CallArgs]: CallSpec<K> } = {
  getvolumename: {
    name: 'getvolumename',
    args: ['options-json'],
    caller: 'kubelet and controller-manager',
    summary: 'Not supported by design: the kubelet ignores the answer and uses the PV name.',
    example: 'getvolumename OPTIONS',
    answers: '{"status":"Not supported"}',
    parse: ([options = '']) => ({ options: parseVolumeOptions(options) }),
  },
  attach: {
    name: 'attach',
    args: ['options-json', 'node-name'],
    caller: 'controller-manager',
    summary: 'Attach the volume to the node; answers the device (a LUN for azuredisk).',
    example: 'attach OPTIONS NODE',
    answers: '{"status":"Success","device":"0"}',
    parse: ([options = '', node = '']) => ({ options: parseVolumeOptions(options), nodeName: parseNodeName(node) }),
  },
  isattached: {
    name: 'isattached',
    args: ['options-json', 'node-name'],
    caller: 'controller-manager, every minute per volume',
    summary: 'Report whether the volume is attached to the node.',
    example: 'isattached OPTIONS NODE',
    answers: '{"status":"Success","attached":true}',
    parse: ([options = '', node = '']) => ({ options: parseVolumeOptions(options), nodeName: parseNodeName(node) }),
  },
  waitforattach: {
    name: 'waitforattach',
    args: ['device', 'options-json'],
    caller: 'kubelet (10 minute timeout)',
    summary: 'Wait until the attached device shows up on this node; answers its stable path.',
    example: 'waitforattach LUN OPTIONS',
    answers: '{"status":"Success","device":"/dev/disk/azure/scsi1/lun0"}',
    parse: ([device = '', options = '']) => ({ devicePath: devicePathArg(device), options: parseVolumeOptions(options) }),
  },
  mountdevice: {
    name: 'mountdevice',
    args: ['device-mount-path', 'device', 'options-json'],
    caller: 'kubelet',
    summary: 'Format the device if blank and mount it at the global mount path.',
    example: 'mountdevice GLOBAL_DIR DEVICE OPTIONS',
    answers: '{"status":"Success"}',
    parse: ([dir = '', device = '', options = ''], driver) => ({
      deviceMountPath: parseDeviceMountPath(dir, driver),
      devicePath: devicePathArg(device),
      options: parseVolumeOptions(options),
    }),
  },
  mount: {
    name: 'mount',
    args: ['pod-volume-dir', 'options-json'],
    caller: 'kubelet, once per pod',
    summary: "Mount the volume into the pod's volume directory.",
    example: 'mount POD_DIR MOUNT_OPTIONS',
    answers: '{"status":"Success"}',
    parse: ([dir = '', options = ''], driver) => ({
      podVolumeDir: parsePodVolumeDir(dir, driver),
      options: parseMountOptions(options),
    }),
  },
  unmount: {
    name: 'unmount',
    args: ['pod-volume-dir'],
    caller: 'kubelet, when the pod goes away',
    summary: "Unmount the pod's volume directory and remove it.",
    example: 'unmount POD_DIR',
    answers: '{"status":"Success"}',
    parse: ([dir = ''], driver) => ({ podVolumeDir: parsePodVolumeDir(dir, driver) }),
  },
  unmountdevice: {
    name: 'unmountdevice',
    args: ['device-mount-path'],
    caller: 'kubelet, after the last pod on the node',
    summary: 'Unmount the global mount path and remove it.',
    example: 'unmountdevice GLOBAL_DIR',
    answers: '{"status":"Success"}',
    parse: ([dir = ''], driver) => ({ deviceMountPath: parseDeviceMountPath(dir, driver) }),
  },
  detach: {
    name: 'detach',
    args: ['volume-name', 'node-name'],
    caller: 'controller-manager',
    summary: 'Detach the volume (named by its PV name) from the node.',
    example: 'detach VOLUME NODE',
    answers: '{"status":"Success"}',
    parse: ([volume = '', node = '']) => ({ volumeName: parseVolumeName(volume), nodeName: parseNodeName(node) }),
  },
  expandvolume: {
    name: 'expandvolume',
    args: ['options-json', 'device-mount-path', 'new-size-bytes', 'old-size-bytes'],
    caller: 'nobody on a stock controller-manager',
    summary: 'Grow the volume itself (not supported: resize the disk in Azure, the kubelet then calls expandfs).',
    example: 'expandvolume OPTIONS GLOBAL_DIR NEW_SIZE OLD_SIZE',
    answers: '{"status":"Not supported"}',
    parse: ([options = '', dir = '', newSize = '', oldSize = '']) => ({
      options: parseVolumeOptions(options),
      deviceMountPath: devicePathArg(dir),
      newSizeBytes: parseByteCount('new size', newSize),
      oldSizeBytes: parseByteCount('old size', oldSize),
    }),
  },
  expandfs: {
    name: 'expandfs',
    args: ['options-json', 'device', 'volume-path', 'new-size-bytes', 'old-size-bytes'],
    caller: 'kubelet, when a PVC resize is pending',
    summary: 'Grow the filesystem to the new size of the device.',
    example: 'expandfs OPTIONS DEVICE POD_DIR NEW_SIZE OLD_SIZE',
    answers: '{"status":"Success"}',
    parse: ([options = '', device = '', dir = '', newSize = '', oldSize = '']) => ({
      options: parseVolumeOptions(options),
      devicePath: devicePathArg(device),
      volumePath: devicePathArg(dir),
      newSizeBytes: parseByteCount('new size', newSize),
      oldSizeBytes: parseByteCount('old size', oldSize),
    }),
  },
};
