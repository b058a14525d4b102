import * as path from 'node:path';
import { entryPath } from '../../src/system/entry-path.ts';

describe('entryPath', () => {
  test.each([
    [['/var/lib/azure-flexvolume', 'locks'], '/var/lib/azure-flexvolume/locks'],
    [['/var/lib/azure-flexvolume/', 'locks'], '/var/lib/azure-flexvolume/locks'],
    [['/', 'pods'], '/pods'],
    [['/sys', 'class/block', 'sdc', 'device/rescan'], '/sys/class/block/sdc/device/rescan'],
    [['/tmp', '.azure-flexvolume-1'], '/tmp/.azure-flexvolume-1'],
  ])('%j is %s, as path.join makes it from normalized parts', (parts, expected) => {
    const [dir = '', ...names] = parts;
    expect(entryPath(dir, ...names)).toBe(expected);
    expect(path.join(dir, ...names)).toBe(expected);
  });
});
