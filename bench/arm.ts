// The controller side against the ARM simulator: concurrent attaches to one VM (batched into few VM
// updates, each disk at its own LUN) and the controller-manager's periodic isattached sweep (one
// list of the resource group per cache period, not one read per volume or per VM), with a model of
// a 500-node, 5,000-volume cluster: ARM requests and controller-manager CPU per hour.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ArmSimulator, LoggedRequest } from '../test/arm-simulator/index.ts';
import { baseOptions, callDriver, goJson, type CallResult } from '../test/helpers/kubelet.ts';
import type { Layout } from './layout.ts';
import { elapsedMs, median, tracked, type Row } from './measure.ts';

export interface ArmBench {
  layout: Layout;
  sim: ArmSimulator;
  env: NodeJS.ProcessEnv;
}

/** The simulator, azure.json pointing at it, and the environment that trusts its certificate. */
export function connect(layout: Layout, sim: ArmSimulator): ArmBench {
  const configFile = layout.env.AZURE_CREDENTIAL_FILE ?? path.join(layout.dir, 'azure.json');
  fs.writeFileSync(configFile, JSON.stringify(sim.cloudConfig()), { mode: 0o600 });
  return { layout, sim, env: { ...layout.env, AZURE_CREDENTIAL_FILE: configFile, NODE_EXTRA_CA_CERTS: sim.caCertPath } };
}

export function volumeOptions(bench: ArmBench, diskName: string, volumeName: string): string {
  const { sim } = bench;
  const diskURI = `/subscriptions/${sim.subscriptionId}/resourceGroups/${sim.resourceGroup}/providers/Microsoft.Compute/disks/${diskName}`;
  return goJson({ ...baseOptions({ volumeName }), diskName, diskURI });
}

function azuredisk(bench: ArmBench, args: string[]): Promise<CallResult> {
  return tracked(() => callDriver(bench.layout.executable('sea', 'azuredisk'), args, { env: bench.env }));
}

function requestsSince(sim: ArmSimulator, index: number): LoggedRequest[] {
  return sim.requests.slice(index);
}

interface AttachRound {
  wallMs: number;
  armRequests: number;
  tokenRequests: number;
  vmUpdates: number;
  lunCollisions: number;
}

/** N processes attach N new disks to one new VM at the same moment, as the controller-manager may. */
async function attachRound(bench: ArmBench, count: number, label: string): Promise<AttachRound> {
  const { sim } = bench;
  const vm = `vm-${label}`;
  sim.addVM({ name: vm });
  const disks = Array.from({ length: count }, (_, i) => `disk-${label}-${i}`);
  for (const disk of disks) sim.addDisk({ name: disk, sizeGB: 32 });
  const first = sim.requests.length;
  const started = process.hrtime.bigint();
  const replies = await Promise.all(disks.map((disk, i) => azuredisk(bench, ['attach', volumeOptions(bench, disk, `pv-${label}-${i}`), vm])));
  const wallMs = elapsedMs(started);
  const failed = replies.find((reply) => reply.status !== 'Success');
  if (failed !== undefined) throw new Error(`attach failed: ${failed.output}`);
  const requests = requestsSince(sim, first);
  const dataDisks = sim.getVM(vm)?.properties.storageProfile.dataDisks ?? [];
  // A collision: two disks at one LUN, or a caller told a LUN where the VM has another disk (or none).
  const distinctLuns = new Set(dataDisks.map((entry) => entry.lun)).size;
  const misreported = disks.filter((disk, i) => String(dataDisks.find((entry) => entry.name === disk)?.lun) !== replies[i]?.device).length;
  const isVmUpdate = (request: LoggedRequest) => (request.method === 'PUT' || request.method === 'PATCH') && request.path.includes('/virtualMachines/');
  return {
    wallMs,
    armRequests: requests.filter((request) => request.kind === 'arm').length,
    tokenRequests: requests.filter((request) => request.kind === 'token').length,
    vmUpdates: requests.filter((request) => request.kind === 'arm' && isVmUpdate(request)).length,
    lunCollisions: dataDisks.length - distinctLuns + misreported,
  };
}

export async function attachRows(bench: ArmBench, rounds: number, updateLatencyMs: number): Promise<Row[]> {
  bench.sim.setUpdateLatency(updateLatencyMs);
  const sizes = [1, 4, 16, 32] as const;
  const results = new Map<number, AttachRound[]>(sizes.map((size) => [size, []]));
  // Interleaved: every round runs each size once, on a fresh VM and fresh disks.
  for (let round = 0; round < rounds; round++) {
    for (const size of sizes) results.get(size)?.push(await attachRound(bench, size, `${size}x-${round}`));
  }
  const of = (size: number, pick: (round: AttachRound) => number) => median((results.get(size) ?? []).map(pick));
  const single = of(1, (round) => round.wallMs);
  const group = `Attach (simulated VM update latency ${updateLatencyMs} ms)`;
  const collisions = [...results.values()].flat().reduce((sum, round) => sum + round.lunCollisions, 0);
  return [
    { group, figure: '1 attach alone, wall time', value: single, unit: 'ms', reference: 'one VM update (the simulated latency)', referenceValue: updateLatencyMs },
    ...sizes
      .filter((size) => size > 1)
      .map((size) => ({
        group,
        figure: `${size} concurrent attaches to one VM (${size} processes), wall time`,
        value: of(size, (round) => round.wallMs),
        unit: 'ms',
        reference: `${size} sequential attaches (${size} × the single attach's median)`,
        referenceValue: size * single,
      })),
    { group, figure: 'ARM requests per attach, 1 alone', value: of(1, (round) => round.armRequests), unit: '', digits: 1 },
    ...sizes
      .filter((size) => size > 1)
      .map((size) => ({
        group,
        figure: `ARM requests per attach, ${size} concurrent`,
        value: of(size, (round) => round.armRequests / size),
        unit: '',
        digits: 1,
        reference: 'one attach alone',
        referenceValue: of(1, (round) => round.armRequests),
      })),
    ...[16, 32].map((size) => ({
      group,
      figure: `VM updates (PUT/PATCH) for ${size} concurrent attaches`,
      value: of(size, (round) => round.vmUpdates),
      unit: '',
      digits: 0,
      reference: 'one update per attach',
      referenceValue: size,
    })),
    { group, figure: 'Entra token requests per attach process', value: of(1, (round) => round.tokenRequests), unit: '', digits: 0 },
    { group, figure: `LUN collisions, all ${rounds * sizes.reduce((sum, size) => sum + size, 0)} attaches`, value: collisions, unit: '', digits: 0, reference: 'must be 0' },
  ];
}

/**
 * The controller-manager's reconciler checks every attached volume each minute: per node in
 * parallel, the node's volumes one after another. Each sweep starts with the VM cache expired, as
 * it is a minute after the last one (the cache lives 60 s).
 */
export async function isattachedRows(bench: ArmBench, sweeps: number): Promise<Row[]> {
  const { sim } = bench;
  sim.setUpdateLatency(0);
  const vms = Array.from({ length: 5 }, (_, i) => `sweep-vm-${i}`);
  const volumes = vms.flatMap((vm, v) =>
    Array.from({ length: 10 }, (_, lun) => {
      const disk = `sweep-disk-${v}-${lun}`;
      sim.addDisk({ name: disk, sizeGB: 32 });
      return { vm, disk, lun };
    }),
  );
  for (const vm of vms) sim.addVM({ name: vm });
  for (const { vm, disk, lun } of volumes) sim.attachDirectly(vm, disk, lun);

  const reads: number[] = [];
  const times: number[] = [];
  for (let sweep = 0; sweep < sweeps; sweep++) {
    expireVmCache(bench);
    const first = sim.requests.length;
    const started = process.hrtime.bigint();
    await Promise.all(vms.map((vm) => isattachedInTurn(bench, volumes.filter((volume) => volume.vm === vm))));
    times.push(elapsedMs(started));
    reads.push(requestsSince(sim, first).filter(isVmRead).length);
  }
  const group = 'isattached sweep: 50 volumes on 5 VMs';
  return [
    { group, figure: 'VM reads (ARM GET) per sweep', value: median(reads), unit: '', digits: 0, reference: 'one read per volume (no shared cache)', referenceValue: volumes.length },
    { group, figure: 'sweep wall time (5 nodes in parallel, 10 volumes each in turn)', value: median(times), unit: 'ms' },
    ...(await clusterRows(bench)),
  ];
}

const CLUSTER_VMS = 500;
const CLUSTER_VOLUMES_PER_VM = 10;
/** isattached calls measured of the cluster's 5,000 per minute; the rest find the same young cache. */
const CLUSTER_SAMPLE = 100;
const CLUSTER_PARALLEL = 10;
const SWEEPS_PER_HOUR = 60;

/**
 * 500 VMs with 10 volumes each, every volume checked once a minute. A minute's sweep is modelled
 * by CLUSTER_SAMPLE calls on as many VMs, starting with the cache expired (as it is once a minute):
 * the list of the resource group they trigger covers all 500 VMs, so the ARM requests of the
 * sample are those of a whole sweep. The sweep's other calls find that cache filled: their CPU is
 * measured by the same calls made again while it is still young. The sweep's CPU is the first
 * sample's plus the rest of its 5,000 calls at the second sample's mean (the fill is paid once a
 * sweep, not once a call).
 */
async function clusterRows(bench: ArmBench): Promise<Row[]> {
  const { sim } = bench;
  const volumes = Array.from({ length: CLUSTER_VMS }, (_, v) => {
    const vm = `cluster-vm-${String(v).padStart(3, '0')}`;
    sim.addVM({ name: vm });
    return Array.from({ length: CLUSTER_VOLUMES_PER_VM }, (_, lun) => {
      const disk = `cluster-disk-${v}-${lun}`;
      sim.addDisk({ name: disk, sizeGB: 32 });
      sim.attachDirectly(vm, disk, lun);
      return { vm, disk, lun };
    });
  });
  const sample = Array.from({ length: CLUSTER_SAMPLE }, (_, i) => volumes[Math.floor((i * CLUSTER_VMS) / CLUSTER_SAMPLE)]?.[i % CLUSTER_VOLUMES_PER_VM]).filter(
    (volume) => volume !== undefined,
  );
  expireVmCache(bench);
  const first = sim.requests.length;
  const cpuBefore = childrenCpuMs();
  const lanes = Array.from({ length: CLUSTER_PARALLEL }, (_, lane) => sample.filter((_, i) => i % CLUSTER_PARALLEL === lane));
  await Promise.all(lanes.map((lane) => isattachedInTurn(bench, lane)));
  const expiredCpuMs = childrenCpuMs() - cpuBefore;
  const requests = requestsSince(sim, first);
  const armPerSweep = requests.filter((request) => request.kind === 'arm').length;
  const cachedBefore = childrenCpuMs();
  const cachedFirst = sim.requests.length;
  await Promise.all(lanes.map((lane) => isattachedInTurn(bench, lane)));
  const cachedCpuPerCall = (childrenCpuMs() - cachedBefore) / sample.length;
  const cachedArm = requestsSince(sim, cachedFirst).filter((request) => request.kind === 'arm').length;
  if (cachedArm > 0) throw new Error(`the second sample sent ${cachedArm} ARM requests: the cache did not hold`);
  const callsPerSweep = CLUSTER_VMS * CLUSTER_VOLUMES_PER_VM;
  const sweepCpuMs = expiredCpuMs + (callsPerSweep - sample.length) * cachedCpuPerCall;
  const group = `isattached: ${CLUSTER_VMS} VMs, ${CLUSTER_VMS * CLUSTER_VOLUMES_PER_VM} volumes, each checked every minute (model)`;
  return [
    { group, figure: 'ARM requests per sweep (cache expired at its start)', value: armPerSweep, unit: '', digits: 0, reference: 'one VM read per VM', referenceValue: CLUSTER_VMS },
    { group, figure: 'ARM requests per hour', value: armPerSweep * SWEEPS_PER_HOUR, unit: '', digits: 0, reference: 'target', referenceValue: 1000 },
    { group, figure: 'token requests per sweep', value: requests.filter((request) => request.kind === 'token').length, unit: '', digits: 0 },
    { group, figure: `CPU per isattached call, the first ${sample.length} of a sweep (cache expired; mean)`, value: expiredCpuMs / sample.length, unit: 'ms' },
    { group, figure: 'CPU per isattached call answered from the filled cache (mean)', value: cachedCpuPerCall, unit: 'ms' },
    { group, figure: 'controller-manager CPU per hour for isattached', value: (sweepCpuMs * SWEEPS_PER_HOUR) / 1000, unit: 's', digits: 0, reference: 'one core', referenceValue: 3600 },
  ];
}

function expireVmCache(bench: ArmBench): void {
  fs.rmSync(path.join(bench.layout.env.FLEXVOLUME_STATE_DIR ?? '', 'azure', 'vms'), { recursive: true, force: true });
}

async function isattachedInTurn(bench: ArmBench, volumes: ReadonlyArray<{ vm: string; disk: string }>): Promise<void> {
  for (const { vm, disk } of volumes) {
    const reply = await azuredisk(bench, ['isattached', volumeOptions(bench, disk, `pv-${disk}`), vm]);
    if (reply.status !== 'Success' || reply.attached !== true) throw new Error(`isattached ${disk}: ${reply.output}`);
  }
}

/** A VM read: a GET of one VM or instance, or a page of a list of them. */
function isVmRead(request: LoggedRequest): boolean {
  return request.kind === 'arm' && request.method === 'GET' && /\/virtualMachines(\/|$)/i.test(request.path);
}

/** CPU (user + system) of this process's children that have ended, from /proc (clock ticks of 10 ms). */
function childrenCpuMs(): number {
  const stat = fs.readFileSync('/proc/self/stat', 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // cutime and cstime are fields 16 and 17 of the whole line, 14 and 15 after the command name.
  return (Number(fields[13]) + Number(fields[14])) * 10;
}
