// The one interface every storage type implements. A call a driver leaves out answers
// "Not supported", which makes the kubelet fall back to its own default for it.
import type { MountOptions, VolumeOptions } from './options.ts';
import type { DeviceMountPath, PodVolumeDir } from './paths.ts';
import type { Capabilities, Reply } from './reply.ts';

export interface CallArgs {
  getvolumename: { options: VolumeOptions };
  attach: { options: VolumeOptions; nodeName: string };
  isattached: { options: VolumeOptions; nodeName: string };
  waitforattach: { devicePath: string; options: VolumeOptions };
  mountdevice: { deviceMountPath: DeviceMountPath; devicePath: string; options: VolumeOptions };
  mount: { podVolumeDir: PodVolumeDir; options: MountOptions };
  unmount: { podVolumeDir: PodVolumeDir };
  unmountdevice: { deviceMountPath: DeviceMountPath };
  detach: { volumeName: string; nodeName: string };
  /** Never called by a stock controller-manager (protocol doc 2.12); `deviceMountPath` may be relative. */
  expandvolume: { options: VolumeOptions; deviceMountPath: string; newSizeBytes: number; oldSizeBytes: number };
  /** `devicePath` is `""` for drivers without attach; `volumePath` is the pod volume dir in current kubelets. */
  expandfs: { options: VolumeOptions; devicePath: string; volumePath: string; newSizeBytes: number; oldSizeBytes: number };
}

/**
 * The calls' names without their argument shapes (calls.ts, which needs zod): main.ts tells a
 * kubelet call from a person's command by them before anything else loads.
 */
export const CALL_NAMES = [
  'getvolumename',
  'attach',
  'isattached',
  'waitforattach',
  'mountdevice',
  'mount',
  'unmount',
  'unmountdevice',
  'detach',
  'expandvolume',
  'expandfs',
] as const satisfies readonly (keyof CallArgs)[];

export type CallName = (typeof CALL_NAMES)[number];

export function isCallName(name: string): name is CallName {
  return (CALL_NAMES as readonly string[]).includes(name);
}

export type DriverCalls = { [K in keyof CallArgs]?: (args: CallArgs[K]) => Promise<Reply> };

export interface Driver extends DriverCalls {
  readonly name: string;
  capabilities(): Capabilities;
}

export const DRIVER_NAMES = ['azuredisk', 'azurefile', 'nfs'] as const;
export type DriverName = (typeof DRIVER_NAMES)[number];

export function isDriverName(name: string): name is DriverName {
  return (DRIVER_NAMES as readonly string[]).includes(name);
}
