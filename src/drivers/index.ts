// The driver registry. The azuredisk driver is a part of its own (src/cli-loader.ts), loaded only
// by an azuredisk call. nfs and azurefile live in the core part and are imported statically: a
// module esbuild reaches through a dynamic import is wrapped for lazy evaluation together with
// everything it imports, and a wrapped zod can no longer be tree-shaken (its JSON-schema
// converters, locales and version tables would load with every call).
import type { Driver, DriverName } from '../flexvolume/driver.ts';
import type { Settings } from '../settings.ts';
import { createAzurefileDriver } from './azurefile.ts';
import { createNfsDriver } from './nfs.ts';

export async function loadDriver(name: DriverName, settings: Settings): Promise<Driver> {
  switch (name) {
    case 'nfs':
      return createNfsDriver(settings);
    case 'azurefile':
      return createAzurefileDriver(settings);
    case 'azuredisk':
      return (await import('./azuredisk/index.ts')).createAzurediskDriver(settings);
  }
}
