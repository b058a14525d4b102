import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { DataDisk } from '@azure/arm-compute';
import {
  lowestFreeLun,
  outcomesAfterUpdate,
  planDataDisks,
  submitDiskRequest,
  type DiskOutcome,
  type DiskRequest,
} from '../../src/azure/data-disks.ts';
import { configureLog } from '../../src/system/log.ts';

const id = (name: string) => `/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/disks/${name}`;
const entry = (name: string, lun: number, extra: Partial<DataDisk> = {}): DataDisk => ({
  lun,
  name,
  createOption: 'Attach',
  caching: 'ReadOnly',
  managedDisk: { id: id(name) },
  ...extra,
});
const attach = (name: string): DiskRequest => ({ op: 'attach', diskUri: id(name), diskName: name, caching: 'ReadOnly', writeAcceleratorEnabled: false });
const detach = (name: string): DiskRequest => ({ op: 'detach', diskUri: id(name) });
const OPTIONS = { removeOnDetach: false, machineName: "VM 'node-1'" };

describe('lowestFreeLun', () => {
  test('the lowest gap, LUNs of entries being detached included', () => {
    expect(lowestFreeLun([])).toBe(0);
    expect(lowestFreeLun([{ lun: 0 }, { lun: 1 }, { lun: 3 }])).toBe(2);
    expect(lowestFreeLun(Array.from({ length: 63 }, (_, lun) => ({ lun })))).toBe(63);
    expect(lowestFreeLun(Array.from({ length: 64 }, (_, lun) => ({ lun })))).toBeUndefined();
  });
});

describe('planDataDisks', () => {
  test('new disks get distinct lowest free LUNs, skipping entries being detached', () => {
    const current = [entry('a', 0), entry('gone', 1, { toBeDetached: true }), entry('c', 3)];
    const plan = planDataDisks(current, [attach('x'), attach('y'), attach('z')], OPTIONS);
    expect(plan.changed).toBe(true);
    expect(plan.dataDisks.map((d) => [d.name, d.lun])).toEqual([
      ['a', 0],
      ['gone', 1],
      ['c', 3],
      ['x', 2],
      ['y', 4],
      ['z', 5],
    ]);
    expect(plan.dataDisks.at(-1)).toEqual({ lun: 5, name: 'z', createOption: 'Attach', caching: 'ReadOnly', managedDisk: { id: id('z') } });
    expect(plan.outcomes).toEqual([undefined, undefined, undefined]);
    expect(current).toHaveLength(3); // the input is not modified
  });

  test('a disk already attached answers its LUN without an update; ids compare case-insensitively', () => {
    const plan = planDataDisks([entry('a', 7)], [{ ...attach('a'), diskUri: id('a').toUpperCase() }], OPTIONS);
    expect(plan.changed).toBe(false);
    expect(plan.outcomes).toEqual([{ status: 'attached', lun: 7 }]);
  });

  test('the same disk twice in one batch is added once', () => {
    const plan = planDataDisks([], [attach('a'), attach('a')], OPTIONS);
    expect(plan.dataDisks).toHaveLength(1);
    expect(outcomesAfterUpdate(plan.dataDisks, [attach('a'), attach('a')], plan, 'vm')).toEqual([
      { status: 'attached', lun: 0 },
      { status: 'attached', lun: 0 },
    ]);
  });

  test('attaching a disk that is still being detached fails without an update', () => {
    const plan = planDataDisks([entry('a', 0, { toBeDetached: true })], [attach('a')], OPTIONS);
    expect(plan.changed).toBe(false);
    expect(plan.outcomes[0]).toMatchObject({ status: 'failed', message: expect.stringMatching(/still being detached/) });
  });

  test('no free LUN', () => {
    const full = Array.from({ length: 64 }, (_, lun) => entry(`d${lun}`, lun));
    const plan = planDataDisks(full, [attach('x')], OPTIONS);
    expect(plan.outcomes[0]).toMatchObject({ status: 'failed', message: expect.stringMatching(/all 64 LUNs/) });
  });

  test('detach marks toBeDetached, or removes the entry on Azure Stack; a disk not there is detached already', () => {
    const current = [entry('a', 0), entry('b', 1)];
    const marked = planDataDisks(current, [detach('a'), detach('missing')], OPTIONS);
    expect(marked.changed).toBe(true);
    expect(marked.dataDisks.map((d) => [d.name, d.toBeDetached ?? false])).toEqual([
      ['a', true],
      ['b', false],
    ]);
    expect(marked.outcomes).toEqual([undefined, { status: 'detached' }]);
    const removed = planDataDisks(current, [detach('a')], { ...OPTIONS, removeOnDetach: true });
    expect(removed.dataDisks.map((d) => d.name)).toEqual(['b']);
    expect(planDataDisks(current, [detach('missing')], OPTIONS).changed).toBe(false);
  });

  test('outcomes are read from the machine after the update, not from the plan', () => {
    const requests = [attach('x'), attach('y'), detach('a')];
    const plan = planDataDisks([entry('a', 0)], requests, OPTIONS);
    // ARM put y somewhere else than planned and left a still listed as detaching.
    const result = [entry('a', 0, { toBeDetached: true }), entry('x', 1), entry('y', 9)];
    expect(outcomesAfterUpdate(result, requests, plan, 'vm')).toEqual([
      { status: 'attached', lun: 1 },
      { status: 'attached', lun: 9 },
      { status: 'detached' },
    ]);
    expect(outcomesAfterUpdate([entry('a', 0)], requests, plan, 'vm').map((o) => o.status)).toEqual(['failed', 'failed', 'failed']);
  });
});

describe('submitDiskRequest: batching through the queue', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'disk-queue-'));
    configureLog({ file: path.join(dir, 'log') });
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('requests that arrive during an update go out together in the next one', async () => {
    const batches: string[][] = [];
    let current: DataDisk[] = [];
    const processBatch = async (requests: DiskRequest[]): Promise<DiskOutcome[]> => {
      batches.push(requests.map((r) => r.diskUri.split('/').pop() ?? ''));
      const plan = planDataDisks(current, requests, OPTIONS);
      await new Promise((resolve) => setTimeout(resolve, 100));
      current = plan.dataDisks;
      return outcomesAfterUpdate(current, requests, plan, 'vm');
    };
    const names = Array.from({ length: 12 }, (_, i) => `disk-${i}`);
    const options = { dir, key: 'rg~node-1', deadline: Date.now() + 20_000, describe: 'node-1' };
    const outcomes = await Promise.all(
      names.map(async (name, i) => {
        await new Promise((resolve) => setTimeout(resolve, i * 5));
        return submitDiskRequest(attach(name), options, processBatch);
      }),
    );
    expect(batches.length).toBeLessThanOrEqual(3);
    expect(batches.flat().sort()).toEqual([...names].sort());
    const luns = outcomes.map((o) => (o.status === 'attached' ? o.lun : -1));
    expect(new Set(luns).size).toBe(12);
    names.forEach((name, i) => expect(luns[i]).toBe(current.find((d) => d.name === name)?.lun));
    expect(fs.readdirSync(path.join(dir, 'rg~node-1'))).toEqual([]);
  });

  test('a failing batch fails each of its requests with the message', async () => {
    const outcome = await submitDiskRequest(
      detach('a'),
      { dir, key: 'k', deadline: Date.now() + 5000, describe: 'vm' },
      async () => {
        throw new Error('ARM is down');
      },
    );
    expect(outcome).toEqual({ status: 'failed', message: 'ARM is down' });
  });

  test('a caller gives up at its deadline and takes its request back', async () => {
    const queue = { dir, key: 'k', describe: "VM 'x'" };
    let release: () => void = () => undefined;
    const blocked = submitDiskRequest(detach('a'), { ...queue, deadline: Date.now() + 10_000 }, () => new Promise((resolve) => (release = () => resolve([{ status: 'detached' }]))));
    await new Promise((resolve) => setTimeout(resolve, 50));
    await expect(submitDiskRequest(detach('b'), { ...queue, deadline: Date.now() + 200 }, async () => [])).rejects.toThrow(/gave up waiting for the update of VM 'x'/);
    release();
    expect(await blocked).toEqual({ status: 'detached' });
  });
});
