// Two replicas of the built provisioner: one leader through the Lease, the other standing by and
// taking over when the leader dies; /healthz and /metrics; SIGTERM; a watch that ends with 410 Gone.
import { startArmSimulator, type ArmSimulator } from '../arm-simulator/index.ts';
import { boundVolume, createClaim, createStorageClass, expectRequestsWithinRbac, startCluster, startProvisioner, waitFor, type ProvisionerProcess, type TestCluster } from '../helpers/cluster.ts';

let cluster: TestCluster;
let sim: ArmSimulator;
const running: ProvisionerProcess[] = [];
let counter = 0;

type Json = Record<string, any>;

beforeEach(async () => {
  cluster = await startCluster();
  sim = await startArmSimulator();
  await createStorageClass(cluster, 'disk', 'azure/azuredisk');
});

afterEach(async () => {
  await Promise.all(running.splice(0).map((replica) => replica.stop()));
  expectRequestsWithinRbac(cluster);
  await sim.close();
  await cluster.close();
});

function replica(identity: string): ProvisionerProcess {
  const started = startProvisioner({ cluster, sim, identity });
  running.push(started);
  return started;
}

function claim(): Promise<Json> {
  return createClaim(cluster, `ha-${++counter}`, { storageClassName: 'disk', accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } });
}


async function leaseHolder(): Promise<string | undefined> {
  return ((await cluster.get('lease', 'azure-flexvolume-provisioner', cluster.namespace)) as Json | undefined)?.spec?.holderIdentity;
}

async function metricsOf(process: ProvisionerProcess): Promise<string> {
  return (await fetch(`${await process.metricsUrl}/metrics`)).text();
}

test('two replicas: one leader does the work, the other stands by and takes over when the leader is killed', async () => {
  const first = replica('replica-a');
  await first.waitForLine(/became the leader/);
  const second = replica('replica-b');
  await second.waitForLine(/held by another replica; standing by/);
  expect(await leaseHolder()).toBe('replica-a');
  // MicroTime, as a real API server parses it: exactly six fractional digits.
  const lease = (await cluster.get('lease', 'azure-flexvolume-provisioner', cluster.namespace)) as Json;
  expect(lease.spec.renewTime).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
  expect(lease.spec.acquireTime).toMatch(/\.\d{6}Z$/);
  // Both are healthy; only the leader says so in its metrics.
  expect((await fetch(`${await second.metricsUrl}/healthz`)).status).toBe(200);
  expect(await metricsOf(second)).toMatch(/^flexvolume_provisioner_leader 0$/m);
  expect(await metricsOf(first)).toMatch(/^flexvolume_provisioner_leader 1$/m);

  await boundVolume(cluster, await claim());
  expect(first.lines.some((line) => /ProvisioningSucceeded/.test(line))).toBe(true);
  expect(second.lines.some((line) => /Provisioning/.test(line))).toBe(false);

  await first.kill();
  await second.waitForLine(/became the leader/, 15_000);
  expect(await leaseHolder()).toBe('replica-b');
  const after = await claim();
  await boundVolume(cluster, after);
  expect(sim.count({ method: 'PUT', pathIncludes: '/disks/' })).toBe(2);
  // Counted once the operation ends, a moment after the binder has already bound the PV.
  await waitFor('the provision counted', async () =>
    /^flexvolume_provisioner_operations_total\{operation="provision",driver="azuredisk",result="success"\} 1$/m.test(await metricsOf(second)),
  );
});

test('a leader that cannot renew its Lease within the renew deadline exits at once', async () => {
  const standIn = cluster.standIn;
  if (standIn === undefined) return; // needs injected API failures
  const leader = replica('replica-a');
  await leader.waitForLine(/became the leader/);
  // Every renewal fails from now on: past the renew deadline the replica must exit.
  standIn.injectFault({ pathIncludes: '/leases/', status: 500, times: 1000 });
  await leader.waitForLine(/leadership lost: the lease was not renewed/, 10_000);
  expect(await leader.stop()).toBe(1);
});

test('SIGTERM: the Lease is released, the standby takes over, and a standby stops cleanly', async () => {
  const first = replica('replica-a');
  await first.waitForLine(/became the leader/);
  const second = replica('replica-b');
  await second.waitForLine(/standing by/);
  expect(await first.stop()).toBe(0);
  expect(first.lines.some((line) => /SIGTERM: finishing the work in progress/.test(line))).toBe(true);
  // Given up, not left to expire: no holder (or already the standby).
  expect(['', 'replica-b']).toContain(await leaseHolder());
  await second.waitForLine(/became the leader/);
  // A standby stops cleanly too.
  const third = replica('replica-c');
  await third.waitForLine(/standing by/);
  expect(await third.stop()).toBe(0);
  expect(third.lines.some((line) => /fatal/.test(line))).toBe(false);
});

test('SIGTERM while a disk is being created: the work finishes, the PV is saved, then the process exits', async () => {
  const leader = replica('replica-a');
  await leader.waitForLine(/caches synced/);
  sim.provisioning.latencyMs = 1500;
  const pvc = await claim();
  await waitFor('the disk create sent', () => sim.count({ method: 'PUT', pathIncludes: '/disks/' }) === 1);
  expect(await leader.stop()).toBe(0);
  expect(await cluster.get('pv', `pvc-${pvc.metadata.uid}`)).toBeDefined();
});

test('a watch that ends with 410 Gone is listed again, and claims made meanwhile are provisioned', async () => {
  const standIn = cluster.standIn;
  if (standIn === undefined) return;
  const leader = replica('replica-a');
  await leader.waitForLine(/caches synced/);
  standIn.expireHistory();
  const pvc = await claim();
  await boundVolume(cluster, pvc);
  expect(standIn.count({ method: 'GET', pathIncludes: '/persistentvolumeclaims', watch: false })).toBeGreaterThanOrEqual(2);
});
