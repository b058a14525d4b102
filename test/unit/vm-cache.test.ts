// The host's VM cache on its own, against a real directory: what a list leaves behind, what a
// one-machine question reads, and what an update in doubt removes.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Machine, MachineRef } from '../../src/azure/machines.ts';
import { VmCache } from '../../src/azure/vm-cache.ts';

let dir: string;

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vm-cache-test-'));
});

afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

const vm = (name: string): MachineRef => ({ kind: 'vm', resourceGroup: 'Node-RG', name });

function machine(ref: MachineRef, disks: string[]): Machine {
  return {
    ref,
    id: `/subscriptions/0/resourceGroups/node-rg/providers/Microsoft.Compute/virtualMachines/${ref.kind === 'vm' ? ref.name : ref.instanceId}`,
    location: 'westeurope',
    provisioningState: 'Succeeded',
    computerName: undefined,
    dataDisks: disks.map((name, lun) => ({ lun, name, createOption: 'Attach' })),
    etag: '"1"',
  };
}

const GROUP = [machine(vm('node-1'), ['a']), machine(vm('node-2'), ['b', 'c']), machine(vm('node-3'), [])];

const noRead = async (): Promise<Machine | undefined> => {
  throw new Error('a machine the list showed was read alone');
};

/** Fills the cache with one list of the group, asked for node-1. */
async function listOnce(cache: VmCache): Promise<number> {
  let lists = 0;
  const asked = await cache.get(vm('node-1'), noRead, async () => {
    lists++;
    return GROUP;
  });
  expect(asked?.dataDisks.map((disk) => disk.name)).toEqual(['a']);
  return lists;
}

test("a list leaves an entry per machine: a question about one machine is answered without the group's list", async () => {
  const cache = new VmCache({ dir });
  expect(await listOnce(cache)).toBe(1);
  // The group's list is gone (or unreadable): every machine it showed is still served, from its entry.
  fs.rmSync(path.join(dir, 'lists'), { recursive: true });
  expect(cache.peek(vm('node-2'))?.dataDisks.map((disk) => disk.name)).toEqual(['b', 'c']);
  expect(cache.peek(vm('NODE-3'))?.dataDisks).toEqual([]);
  expect(await cache.get(vm('node-2'), noRead)).toEqual(GROUP[1]);
});

test('a young list serves its machines; an expired one does not, and the next question lists again', async () => {
  const cache = new VmCache({ dir, maxAgeMs: 60_000 });
  await listOnce(cache);
  expect(cache.peek(vm('node-3'))).toEqual(GROUP[2]);
  expect(cache.peek(vm('node-3'), Date.now() + 61_000)).toBeUndefined();
  expect(cache.lastSeen(vm('node-3'), Date.now() + 61_000)).toEqual(GROUP[2]);
  const expired = new VmCache({ dir, maxAgeMs: 0 });
  expect(await listOnce(expired)).toBe(1);
});

test('a machine in doubt (an update failed) is served by neither its own entry nor the list', async () => {
  const cache = new VmCache({ dir });
  await listOnce(cache);
  cache.invalidate(vm('node-2'));
  expect(cache.peek(vm('node-2'))).toBeUndefined();
  expect(cache.lastSeen(vm('node-2'))).toBeUndefined();
  // The others are untouched, and node-2 is read alone, not taken from the list again.
  expect(cache.peek(vm('node-1'))).toEqual(GROUP[0]);
  let reads = 0;
  const fresh = machine(vm('node-2'), ['b']);
  expect(
    await cache.get(
      vm('node-2'),
      async () => {
        reads++;
        return fresh;
      },
      async () => {
        throw new Error('the young list was made again');
      },
    ),
  ).toEqual(fresh);
  expect(reads).toBe(1);
});

const later = () => new Promise((resolve) => setTimeout(resolve, 5));

test("a list does not replace what an update left that is newer than the list's start", async () => {
  const cache = new VmCache({ dir });
  const updated = machine(vm('node-2'), ['b', 'c', 'd']);
  await cache.get(vm('node-1'), noRead, async () => {
    // The update of node-2 finished while the list was on its way, so the list shows node-2 as
    // it was before.
    await later();
    cache.remember(updated);
    return GROUP;
  });
  expect(cache.peek(vm('node-2'))).toEqual(updated);
});

test('a doubt cast while a list is on its way outranks what the list shows', async () => {
  const cache = new VmCache({ dir });
  await cache.get(vm('node-1'), noRead, async () => {
    // node-2's update failed meanwhile: what the list shows of it may be what the update undid.
    await later();
    cache.invalidate(vm('node-2'));
    return GROUP;
  });
  expect(cache.peek(vm('node-2'))).toBeUndefined();
  expect(cache.lastSeen(vm('node-2'))).toBeUndefined();
  expect(cache.peek(vm('node-3'))).toEqual(GROUP[2]);
  // A list that begins after the doubt serves the machine again.
  const relisted = new VmCache({ dir, maxAgeMs: 0 });
  await later();
  await relisted.get(vm('node-1'), noRead, async () => GROUP);
  expect(relisted.lastSeen(vm('node-2'))).toEqual(GROUP[1]);
});

test('a machine that the next list of its group no longer shows leaves no entry behind', async () => {
  const cache = new VmCache({ dir, maxAgeMs: 0 });
  await listOnce(cache);
  cache.remember(GROUP[1]!);
  const files = () => (fs.readdirSync(dir, { recursive: true }) as string[]).filter((name) => name.includes('node-2'));
  expect(files().length).toBe(2);
  await cache.get(vm('node-1'), noRead, async () => [GROUP[0]!, GROUP[2]!]);
  expect(files()).toEqual([]);
  expect(cache.lastSeen(vm('node-2'))).toBeUndefined();
  expect(cache.lastSeen(vm('node-3'))).toEqual(GROUP[2]);
});
