// The azuredisk driver: the controller side (attach, detach, isattached through Azure Resource
// Manager) and the node side (find the device by LUN, format only if blank, mount, resize). In
// node mode the node also attaches: `mount` and `unmount` drive both sides (node-mode.ts).
import type { Driver } from '../../flexvolume/driver.ts';
import type { Settings } from '../../settings.ts';
import { capabilitiesOf } from '../identity.ts';
import { createControllerSide } from './controller.ts';
import { createNodeCalls } from './node.ts';
import { createNodeModeCalls } from './node-mode.ts';

export function createAzurediskDriver(settings: Settings): Driver {
  const controller = createControllerSide(settings);
  const node = createNodeCalls(settings);
  return {
    name: 'azuredisk',
    capabilities: () => capabilitiesOf('azuredisk', settings),
    ...controller.calls,
    ...node,
    ...(settings.azurediskMode === 'node' ? createNodeModeCalls(settings, { controller, node }) : {}),
  };
}
