// Placeholder until the azurefile driver lands.
import type { Driver } from '../flexvolume/driver.ts';
import type { Settings } from '../settings.ts';
import { capabilitiesOf } from './identity.ts';

export function createAzurefileDriver(settings: Settings): Driver {
  return { name: 'azurefile', capabilities: () => capabilitiesOf('azurefile', settings) };
}
