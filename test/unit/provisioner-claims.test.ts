// Which claims the provisioner takes, sizes, the PV it writes, and the per-key backoff of its queue.
import { setTimeout as sleep } from 'node:timers/promises';
import { buildVolume, quantityBytes, roundUpGiB, selectClaim, GiB } from '../../src/provisioner/claims.ts';
import { retryDelayMs, WorkQueue } from '../../src/provisioner/work-queue.ts';
import type { V1PersistentVolumeClaim, V1StorageClass } from '../../src/kube/client.ts';

const NAMES = ['azure/azuredisk', 'azure/azurefile', 'azure/nfs'];

function claimOf(annotations: Record<string, string>, spec: V1PersistentVolumeClaim['spec'] = {}): V1PersistentVolumeClaim {
  return { metadata: { name: 'data', namespace: 'apps', uid: 'u-1', annotations }, spec: { storageClassName: 'fast', ...spec } };
}

const immediate: V1StorageClass = { metadata: { name: 'fast' }, provisioner: 'azure/azuredisk' };
const waiting: V1StorageClass = { ...immediate, volumeBindingMode: 'WaitForFirstConsumer' };

describe('selectClaim: as the PV controller hands claims over', () => {
  const ours = { 'volume.kubernetes.io/storage-provisioner': 'azure/azuredisk' };
  test('the GA annotation, or else the beta one, must name us', () => {
    expect(selectClaim(claimOf(ours), NAMES, () => immediate).kind).toBe('provision');
    expect(selectClaim(claimOf({ 'volume.beta.kubernetes.io/storage-provisioner': 'azure/azuredisk' }), NAMES, () => immediate).kind).toBe('provision');
    expect(selectClaim(claimOf({ 'volume.kubernetes.io/storage-provisioner': 'disk.csi.azure.com' }), NAMES, () => immediate)).toEqual({ kind: 'skip', reason: 'not handed to us' });
    expect(selectClaim(claimOf({}), NAMES, () => immediate).kind).toBe('skip');
  });
  test('a claim with a volume, of a class that is gone or not ours, or being deleted, is not provisioned', () => {
    expect(selectClaim(claimOf(ours, { volumeName: 'pv-1' }), NAMES, () => immediate).kind).toBe('skip');
    expect(selectClaim(claimOf(ours), NAMES, () => undefined).kind).toBe('skip');
    expect(selectClaim(claimOf(ours), NAMES, () => ({ ...immediate, provisioner: 'azure/nfs' })).kind).toBe('skip');
    const deleting = claimOf(ours);
    deleting.metadata!.deletionTimestamp = new Date();
    expect(selectClaim(deleting, NAMES, () => immediate).kind).toBe('skip');
  });
  test('WaitForFirstConsumer: only once the scheduler has selected a node', () => {
    expect(selectClaim(claimOf(ours), NAMES, () => waiting)).toEqual({ kind: 'skip', reason: 'waiting for the scheduler to pick a node' });
    expect(selectClaim(claimOf({ ...ours, 'volume.kubernetes.io/selected-node': 'node-3' }), NAMES, () => waiting)).toEqual({
      kind: 'provision',
      storageClass: waiting,
      selectedNode: 'node-3',
    });
  });
});

test('quantities in bytes, rounded up to whole GiB with a minimum', () => {
  expect(quantityBytes('10Gi')).toBe(10 * GiB);
  expect(quantityBytes('1500Mi')).toBe(1500 * 1024 ** 2);
  expect(quantityBytes('5G')).toBe(5e9);
  expect(quantityBytes('1e3')).toBe(1000);
  expect(quantityBytes('0.5Ti')).toBe(512 * GiB);
  expect(quantityBytes('ten')).toBeUndefined();
  expect(roundUpGiB(1500 * 1024 ** 2)).toBe(2);
  expect(roundUpGiB(5e9)).toBe(5);
  expect(roundUpGiB(1, 4)).toBe(4);
  expect(roundUpGiB(10 * GiB, 100)).toBe(100);
});

test('the PV: named and bound to the claim, the class reclaim policy, flexVolume options and no PV mountOptions', () => {
  const claim = claimOf({}, { accessModes: ['ReadWriteOnce'] });
  const volume = buildVolume({
    name: 'pvc-u-1',
    provisioner: 'azure/azuredisk',
    claim,
    storageClass: { ...immediate, reclaimPolicy: 'Retain', mountOptions: ['noatime'] },
    capacityGiB: 2,
    source: { driver: 'azure/azuredisk', fsType: 'xfs', options: { diskName: 'pvc-u-1', mountOptions: 'noatime' } },
  });
  expect(volume.metadata?.annotations).toEqual({ 'pv.kubernetes.io/provisioned-by': 'azure/azuredisk' });
  expect(volume.spec).toMatchObject({
    capacity: { storage: '2Gi' },
    persistentVolumeReclaimPolicy: 'Retain',
    claimRef: { namespace: 'apps', name: 'data', uid: 'u-1' },
    flexVolume: { driver: 'azure/azuredisk', fsType: 'xfs', options: { diskName: 'pvc-u-1', mountOptions: 'noatime' } },
  });
  expect(volume.spec?.mountOptions).toBeUndefined();
  expect(buildVolume({ name: 'x', provisioner: 'p', claim, storageClass: immediate, capacityGiB: 1, source: { driver: 'd', options: {} } }).spec?.persistentVolumeReclaimPolicy).toBe('Delete');
});

describe('WorkQueue', () => {
  test('the sig-storage backoff: 15 s doubling to at most 1000 s', () => {
    expect([1, 2, 3, 4, 5, 6, 7, 8].map((failures) => retryDelayMs(failures, 15_000, 1_000_000))).toEqual([
      15_000, 30_000, 60_000, 120_000, 240_000, 480_000, 960_000, 1_000_000,
    ]);
  });

  test('a failing key is retried after its backoff, never sooner; success forgets its failures', async () => {
    const times: number[] = [];
    let failuresLeft = 4;
    const queue = new WorkQueue({
      workers: 2,
      baseDelayMs: 40,
      maxDelayMs: 100,
      handle: async () => {
        times.push(Date.now());
        if (failuresLeft-- > 0) throw new Error('not yet');
      },
      onError: () => undefined,
    });
    queue.add('claim:a');
    while (times.length < 5) await sleep(10);
    const gaps = times.slice(1).map((time, index) => time - (times[index] as number));
    expect(gaps[0]).toBeGreaterThanOrEqual(38);
    expect(gaps[1]).toBeGreaterThanOrEqual(78);
    expect(gaps[2]).toBeGreaterThanOrEqual(98);
    expect(queue.failureCount('claim:a')).toBe(0);
    await queue.stop();
  });

  test('adding a key that waits out its backoff does not run it early; one key never runs twice at once', async () => {
    let running = 0;
    let most = 0;
    let calls = 0;
    const queue = new WorkQueue({
      workers: 4,
      baseDelayMs: 10_000,
      maxDelayMs: 10_000,
      handle: async () => {
        calls++;
        running++;
        most = Math.max(most, running);
        await sleep(30);
        running--;
        if (calls === 1) throw new Error('first try fails');
      },
      onError: () => undefined,
    });
    queue.add('k');
    queue.add('k');
    await sleep(60);
    queue.add('k');
    await sleep(60);
    expect(calls).toBe(1);
    expect(most).toBe(1);
    await queue.stop();
  });

  test('at most `workers` keys run at once, and stop waits for them', async () => {
    let running = 0;
    let most = 0;
    let done = 0;
    const queue = new WorkQueue({
      workers: 3,
      baseDelayMs: 10,
      maxDelayMs: 10,
      handle: async () => {
        running++;
        most = Math.max(most, running);
        await sleep(40);
        running--;
        done++;
      },
      onError: () => undefined,
    });
    for (let i = 0; i < 10; i++) queue.add(`claim:${i}`);
    await sleep(10);
    await queue.stop();
    expect(most).toBe(3);
    expect(done).toBe(3);
  });
});
