// Placeholder until the controller side lands: every call answers Not supported.
import type { DriverCalls } from '../../flexvolume/driver.ts';
import type { Settings } from '../../settings.ts';

export function createControllerCalls(_settings: Settings): Pick<DriverCalls, 'attach' | 'detach' | 'isattached'> {
  return {};
}
