// The driver registry. Drivers are imported on demand so a call loads only what it uses (the
// Azure SDK alone is most of the bundle).
import type { Driver, DriverName } from '../flexvolume/driver.ts';
import type { Settings } from '../settings.ts';

export async function loadDriver(name: DriverName, settings: Settings): Promise<Driver> {
  switch (name) {
    case 'nfs':
      return (await import('./nfs.ts')).createNfsDriver(settings);
    case 'azurefile':
      return (await import('./azurefile.ts')).createAzurefileDriver(settings);
    case 'azuredisk':
      return (await import('./azuredisk/index.ts')).createAzurediskDriver(settings);
  }
}
