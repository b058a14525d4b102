import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { RecordStore } from '../../src/system/state.ts';
import type { DataDisk } from '@azure/arm-compute';
import { lowestFreeLun, outcomesAfterUpdate, planDataDisks, type DiskOutcome, type DiskRequest } from '../../src/azure/data-disks.ts';
import { BURST_TIMING, submitDiskRequest } from '../../src/azure/disk-queue.ts';
import { configureLog } from '../../src/system/log.ts';
import { identityOf, type ProcessIdentity } from '../../src/system/process-identity.ts';

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
/** `lun`: where the caller saw the disk. */
const detach = (name: string, lun = 0): DiskRequest => ({ op: 'detach', diskUri: id(name), lun });
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

  test('the plan names what it adds and what it detaches, and nothing else (the no-etag fallback writes only these)', () => {
    const plan = planDataDisks([entry('a', 0), entry('b', 1), entry('c', 2)], [attach('x'), detach('b', 1), detach('b', 1)], OPTIONS);
    expect(plan.attach.map((d) => [d.name, d.lun])).toEqual([['x', 3]]);
    expect(plan.detach).toEqual([id('b')]);
    expect(plan.outcomes).toEqual([undefined, undefined, undefined]);
  });

  test('a detach is not executed when the disk is no longer at the LUN its caller saw', () => {
    // The caller saw b at LUN 1; meanwhile b was detached and attached again at LUN 4.
    const plan = planDataDisks([entry('a', 0), entry('b', 4)], [detach('b', 1)], OPTIONS);
    expect(plan.changed).toBe(false);
    expect(plan.dataDisks.every((d) => d.toBeDetached !== true)).toBe(true);
    expect(plan.outcomes[0]).toMatchObject({ status: 'failed', message: expect.stringMatching(/at LUN 4, not at LUN 1 where this detach saw it.*left attached/) });
  });

  test('outcomes are read from the machine after the update, not from the plan', () => {
    const requests = [attach('x'), attach('y'), detach('a', 0)];
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
  const { firstWaitMs, quietMs, maxWaitMs } = BURST_TIMING;
  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
  const nameOf = (request: DiskRequest) => request.diskUri.split('/').pop() ?? '';
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'disk-queue-'));
    configureLog({ file: path.join(dir, 'log') });
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  /** A VM whose updates take `updateMs`; records each batch and when it went out. */
  function fakeMachine(updateMs: number) {
    const batches: { names: string[]; startedAt: number }[] = [];
    let current: DataDisk[] = [];
    const processBatch = async (requests: DiskRequest[]): Promise<DiskOutcome[]> => {
      batches.push({ names: requests.map(nameOf), startedAt: Date.now() });
      const plan = planDataDisks(current, requests, OPTIONS);
      await sleep(updateMs);
      current = plan.dataDisks;
      return outcomesAfterUpdate(current, requests, plan, 'vm');
    };
    return { batches, processBatch, disks: () => current };
  }
  /** Requests and results still in a machine's queue. */
  const leftovers = (key: string): string[] =>
    ['requests', 'results'].flatMap((kind) => new RecordStore(path.join(dir, key, kind)).keys().map((id) => `${kind}/${id}`));
  const queueOptions = (deadlineMs = 20_000) => ({ dir, key: 'rg~node-1', deadline: Date.now() + deadlineMs, describe: 'node-1' });

  /** Each caller got a LUN of its own, the one the machine lists for its disk, and left nothing behind. */
  function expectOwnLuns(names: string[], outcomes: DiskOutcome[], disks: DataDisk[]): void {
    const luns = outcomes.map((o) => (o.status === 'attached' ? o.lun : -1));
    expect(new Set(luns).size).toBe(names.length);
    names.forEach((name, i) => expect(luns[i]).toBe(disks.find((d) => d.name === name)?.lun));
    expect(leftovers('rg~node-1')).toEqual([]);
  }

  test('a burst whose first request comes well ahead of the rest goes out in one update', async () => {
    const machine = fakeMachine(100);
    const names = Array.from({ length: 12 }, (_, i) => `disk-${i}`);
    // As on a busy host: the first call is quick, the others queue together 600 ms later.
    const outcomes = await Promise.all(
      names.map(async (name, i) => {
        if (i > 0) await sleep(firstWaitMs * 0.6 + i * 10);
        return submitDiskRequest(attach(name), queueOptions(), machine.processBatch);
      }),
    );
    expect(machine.batches.map((batch) => batch.names.length)).toEqual([12]);
    expectOwnLuns(names, outcomes, machine.disks());
  });

  test('a lone request waits firstWaitMs for company, no more; an abandoned request neither shortens the wait nor goes out', async () => {
    const machine = fakeMachine(0);
    const abandonedAt = Date.now() - 60 * 60_000;
    new RecordStore(path.join(dir, 'rg~node-1', 'requests')).write(`${String(abandonedAt).padStart(15, '0')}-1-0000`, {
      request: attach('old'),
      submittedAt: abandonedAt,
    });
    const submitted = Date.now();
    const outcome = await submitDiskRequest(attach('a'), queueOptions(), machine.processBatch);
    expect(outcome).toEqual({ status: 'attached', lun: 0 });
    expect(machine.batches.map((batch) => batch.names)).toEqual([['a']]);
    const waited = (machine.batches[0]?.startedAt ?? 0) - submitted;
    expect(waited).toBeGreaterThanOrEqual(firstWaitMs);
    expect(waited).toBeLessThan(firstWaitMs + quietMs);
    expect(leftovers('rg~node-1')).toEqual([]);
  });

  test('a steady stream goes out maxWaitMs after its first request; what comes later goes in the next update, each request once', async () => {
    const machine = fakeMachine(300);
    const names: string[] = [];
    const calls: Promise<DiskOutcome>[] = [];
    const started = Date.now();
    while (Date.now() - started < maxWaitMs + 400) {
      names.push(`disk-${names.length}`);
      calls.push(submitDiskRequest(attach(names.at(-1) ?? ''), queueOptions(), machine.processBatch));
      await sleep(quietMs / 2);
    }
    const outcomes = await Promise.all(calls);
    const [first, second] = machine.batches;
    expect(machine.batches).toHaveLength(2);
    expect((first?.startedAt ?? 0) - started).toBeGreaterThanOrEqual(maxWaitMs);
    expect((first?.startedAt ?? 0) - started).toBeLessThan(maxWaitMs + quietMs);
    expect(second?.names.length).toBeGreaterThan(0);
    // In arrival order, every request exactly once.
    expect(machine.batches.flatMap((batch) => batch.names)).toEqual(names);
    expectOwnLuns(names, outcomes, machine.disks());
  });

  test('requests that waited through an update go out as soon as it ends', async () => {
    const machine = fakeMachine(firstWaitMs + 200);
    const first = submitDiskRequest(attach('a'), queueOptions(), machine.processBatch);
    while (machine.batches.length === 0) await sleep(10);
    const later = ['b', 'c', 'd'].map((name) => submitDiskRequest(attach(name), queueOptions(), machine.processBatch));
    const outcomes = await Promise.all([first, ...later]);
    // b, c and d may share a millisecond, which leaves their order to chance.
    expect(machine.batches.map((batch) => [...batch.names].sort())).toEqual([['a'], ['b', 'c', 'd']]);
    const [one, two] = machine.batches;
    expect((two?.startedAt ?? 0) - (one?.startedAt ?? 0) - (firstWaitMs + 200)).toBeLessThan(quietMs);
    expectOwnLuns(['a', 'b', 'c', 'd'], outcomes, machine.disks());
  });

  test('calls that have started but not queued yet are waited for, up to maxArrivalMs', async () => {
    const machine = fakeMachine(0);
    // A call of the burst that the host's load keeps from queueing until well after the wait.
    let late = true;
    const arriving = () => (late ? [2 ** 22 + 1] : []);
    const first = submitDiskRequest(attach('a'), { ...queueOptions(), arriving }, machine.processBatch);
    await sleep(firstWaitMs + quietMs + 300);
    late = false;
    const second = submitDiskRequest(attach('b'), queueOptions(), machine.processBatch);
    await Promise.all([first, second]);
    expect(machine.batches.map((batch) => batch.names)).toEqual([['a', 'b']]);

    // One that never comes holds the update back no longer than maxArrivalMs.
    const saved = BURST_TIMING.maxArrivalMs;
    BURST_TIMING.maxArrivalMs = firstWaitMs + 500;
    try {
      const submitted = Date.now();
      await submitDiskRequest(attach('c'), { ...queueOptions(), arriving: () => [2 ** 22 + 1] }, machine.processBatch);
      const waited = (machine.batches[1]?.startedAt ?? 0) - submitted;
      expect(waited).toBeGreaterThanOrEqual(firstWaitMs + 500);
      expect(waited).toBeLessThan(firstWaitMs + 500 + quietMs);
    } finally {
      BURST_TIMING.maxArrivalMs = saved;
    }
  });

  test('the wait for company ends at the caller deadline', async () => {
    const machine = fakeMachine(0);
    const submitted = Date.now();
    expect(await submitDiskRequest(attach('a'), queueOptions(300), machine.processBatch)).toEqual({ status: 'attached', lun: 0 });
    const waited = (machine.batches[0]?.startedAt ?? 0) - submitted;
    expect(waited).toBeGreaterThanOrEqual(300);
    expect(waited).toBeLessThan(300 + quietMs);
  });

  /** The identity of a process that has run and is gone (its pid and start time, as /proc had them). */
  /** A process of our own that waits: the caller of a request. */
  async function otherProcess(): Promise<{ identity: ProcessIdentity; child: ChildProcess }> {
    const child = spawn('sleep', ['60'], { stdio: 'ignore' });
    await once(child, 'spawn');
    const identity = identityOf(child.pid ?? -1);
    if (identity === undefined) throw new Error('no identity for the child');
    return { identity, child };
  }
  /** The identity of a process that has run and is gone (its pid and start time, as /proc had them). */
  async function deadProcess(): Promise<ProcessIdentity> {
    const { identity, child } = await otherProcess();
    child.kill('SIGKILL');
    await once(child, 'exit');
    return identity;
  }
  const queuedBy = (name: string, request: DiskRequest, submitter: ProcessIdentity, deadline = Date.now() + 60_000) => {
    const submittedAt = Date.now() - 10;
    new RecordStore(path.join(dir, 'rg~node-1', 'requests')).write(`${String(submittedAt).padStart(15, '0')}-${submitter.pid}-${name}`, {
      request,
      submittedAt,
      submitter,
      deadline,
    });
  };

  test('a request whose submitter is gone is dropped, never executed, and leaves nothing behind', async () => {
    const machine = fakeMachine(0);
    const dead = await deadProcess();
    queuedBy('killed-attach', attach('orphan'), dead);
    queuedBy('killed-detach', detach('a', 0), dead);
    expect(await submitDiskRequest(attach('live'), queueOptions(), machine.processBatch)).toEqual({ status: 'attached', lun: 0 });
    expect(machine.batches.map((batch) => batch.names)).toEqual([['live']]);
    expect(leftovers('rg~node-1')).toEqual([]);
    expect(fs.readFileSync(path.join(dir, 'log'), 'utf8')).toMatch(new RegExp(`dropped, not executed: attach orphan queued by process ${dead.pid}, which is gone`));
  });

  test('a request past its caller deadline is not executed; a caller still there gets a failure', async () => {
    const machine = fakeMachine(0);
    const caller = await otherProcess();
    queuedBy('late', attach('late'), caller.identity, Date.now() - 1);
    try {
      expect(await submitDiskRequest(attach('live'), queueOptions(), machine.processBatch)).toEqual({ status: 'attached', lun: 0 });
    } finally {
      caller.child.kill('SIGKILL');
    }
    expect(machine.batches.map((batch) => batch.names)).toEqual([['live']]);
    const results = new RecordStore<{ outcome: DiskOutcome }>(path.join(dir, 'rg~node-1', 'results'));
    expect(results.keys().map((key) => results.read(key)?.outcome)).toEqual([{ status: 'failed', message: expect.stringMatching(/ran out of time/) }]);
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
    const batches: string[][] = [];
    let release: () => void = () => undefined;
    const updating = new Promise<void>((started) => {
      const processBatch = (requests: DiskRequest[]) => {
        batches.push(requests.map(nameOf));
        started();
        return new Promise<DiskOutcome[]>((resolve) => (release = () => resolve(requests.map(() => ({ status: 'detached' })))));
      };
      void submitDiskRequest(detach('a'), { ...queue, deadline: Date.now() + 10_000 }, processBatch).then((outcome) => expect(outcome).toEqual({ status: 'detached' }));
    });
    await sleep(50);
    await expect(submitDiskRequest(detach('b'), { ...queue, deadline: Date.now() + 200 }, async () => [])).rejects.toThrow(/gave up waiting for the update of VM 'x'/);
    await updating;
    release();
    expect(batches).toEqual([['a']]);
  });
});
