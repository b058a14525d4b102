// Placeholder until the node side lands: every call answers Not supported.
import type { DriverCalls } from '../../flexvolume/driver.ts';
import type { Settings } from '../../settings.ts';

export function createNodeCalls(_settings: Settings): Pick<DriverCalls, 'waitforattach' | 'mountdevice' | 'unmountdevice' | 'expandfs'> {
  return {};
}
