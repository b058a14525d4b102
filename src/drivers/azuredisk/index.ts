// The azuredisk driver: the controller side (attach, detach, isattached through Azure Resource
// Manager) and the node side (find the device by LUN, format only if blank, mount, resize).
import type { Driver } from '../../flexvolume/driver.ts';
import type { Settings } from '../../settings.ts';
import { capabilitiesOf } from '../identity.ts';
import { createControllerCalls } from './controller.ts';
import { createNodeCalls } from './node.ts';

export function createAzurediskDriver(settings: Settings): Driver {
  return {
    name: 'azuredisk',
    capabilities: () => capabilitiesOf('azuredisk', settings),
    ...createControllerCalls(settings),
    ...createNodeCalls(settings),
  };
}
