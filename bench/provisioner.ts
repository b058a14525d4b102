// The provisioner as a process (the built binary) against the stand-in API server and the ARM
// simulator, whose disk creates take a set latency: the time from creating a PVC to seeing it
// Bound, above that latency, and the throughput with 50 claims made at once.
import type { ArmSimulator } from '../test/arm-simulator/index.ts';
import { startCluster, startProvisioner, waitFor, type ProvisionerProcess, type TestCluster } from '../test/helpers/cluster.ts';
import { elapsedMs, median, type Row } from './measure.ts';

const GROUP = 'Provisioner (PVC → Bound, azuredisk)';
const BURST = 50;

export interface ProvisionerBench {
  cluster: TestCluster;
  provisioner: ProvisionerProcess;
  close(): Promise<void>;
}

let counter = 0;

async function createClaim(cluster: TestCluster): Promise<string> {
  const name = `bench-${++counter}`;
  await cluster.create({
    apiVersion: 'v1',
    kind: 'PersistentVolumeClaim',
    metadata: { name, namespace: cluster.namespace },
    spec: { storageClassName: 'bench-disk', accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '4Gi' } } },
  });
  return name;
}

async function bound(cluster: TestCluster, name: string): Promise<void> {
  await waitFor(
    `claim ${name} Bound`,
    async () => ((await cluster.get('pvc', name, cluster.namespace)) as { status?: { phase?: string } } | undefined)?.status?.phase === 'Bound',
    120_000,
  );
}

export async function startProvisionerBench(sim: ArmSimulator): Promise<ProvisionerBench> {
  const cluster = await startCluster();
  await cluster.create({ apiVersion: 'storage.k8s.io/v1', kind: 'StorageClass', metadata: { name: 'bench-disk' }, provisioner: 'azure/azuredisk', reclaimPolicy: 'Delete' });
  // The shipped defaults (4 workers, 15 s first retry), only the Lease faster to take.
  const provisioner = startProvisioner({ cluster, sim, args: ['--retry-base-ms', '15000', '--resync-ms', '900000'] });
  await provisioner.waitForLine(/caches synced/, 30_000);
  return {
    cluster,
    provisioner,
    close: async () => {
      await provisioner.stop();
      await cluster.close();
    },
  };
}

/** One claim at a time, `runs` times: creation to Bound, against the disk create's latency. */
export async function provisionLatencyRows(bench: ProvisionerBench, sim: ArmSimulator, runs: number, latencyMs: number): Promise<Row[]> {
  sim.provisioning.latencyMs = latencyMs;
  const times: number[] = [];
  for (let run = 0; run < runs; run++) {
    const started = process.hrtime.bigint();
    await bound(bench.cluster, await createClaim(bench.cluster));
    times.push(elapsedMs(started));
  }
  const value = median(times);
  return [
    { group: GROUP, figure: `PVC creation → Bound, one claim (disk create takes ${latencyMs} ms)`, value, unit: 'ms', reference: 'the simulated disk create', referenceValue: latencyMs, digits: 0 },
    { group: GROUP, figure: 'provisioner overhead above the disk create', value: value - latencyMs, unit: 'ms', digits: 0 },
  ];
}

/** 50 claims created at once: time until all are Bound, claims per second, ARM requests per claim. */
export async function provisionBurstRows(bench: ProvisionerBench, sim: ArmSimulator, latencyMs: number): Promise<Row[]> {
  sim.provisioning.latencyMs = latencyMs;
  const firstRequest = sim.requests.length;
  const started = process.hrtime.bigint();
  const names = await Promise.all(Array.from({ length: BURST }, () => createClaim(bench.cluster)));
  await Promise.all(names.map((name) => bound(bench.cluster, name)));
  const wallMs = elapsedMs(started);
  const requests = sim.requests.slice(firstRequest);
  const arm = requests.filter((request) => request.kind === 'arm').length;
  // With 4 workers, 50 creates of `latencyMs` each take at least this long one after another.
  const floorMs = Math.ceil(BURST / 4) * latencyMs;
  return [
    { group: GROUP, figure: `${BURST} claims at once: all Bound`, value: wallMs, unit: 'ms', reference: `${Math.ceil(BURST / 4)} rounds of 4 workers × ${latencyMs} ms`, referenceValue: floorMs, digits: 0 },
    { group: GROUP, figure: `${BURST} claims at once: claims per second`, value: BURST / (wallMs / 1000), unit: '/s', digits: 1 },
    { group: GROUP, figure: 'ARM requests per claim', value: arm / BURST, unit: '', digits: 1 },
  ];
}
