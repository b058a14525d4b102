// The hot calls (issue 15 item 1), each as the kubelet or the controller-manager calls it, next to
// what it cannot avoid: a bare start of the same Node plus the child processes the call must run,
// run by hand in the same interleaved loop. Wall and CPU time (user+sys, of the process and its
// children) come from bench/native/child-usage.c. The bash peers, the static C floor and the
// in-tree and CSI models are measured in the same run.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { baseOptions, callDriver, goJson, mountOptions } from '../test/helpers/kubelet.ts';
import { createLoopPool, MiB } from '../test/helpers/loop-devices.ts';
import { CONTROLLER, createScsiFixture } from '../test/helpers/scsi-fixture.ts';
import { volumeOptions, type ArmBench } from './arm.ts';
import { childrenLoggedSince, describeChildren, logSize, runByHand, runThroughNode, type LoggedChild } from './children.ts';
import { NODE, type Layout } from './layout.ts';
import { addUsage, elapsedMs, interleave, isMounted, median, medianUsage, NO_USAGE, run, tracked, unmountAllUnder, usageRun, type Row, type Usage, type UsageRun } from './measure.ts';
import type { Native } from './native.ts';

const PEERS = fileURLToPath(new URL('./peers/', import.meta.url));
const POD = '7f0c6d3e-1111-4a4a-9c9c-000000000002';
const CSI_ROUND_TRIPS = 200;

interface HotCall {
  name: string;
  /** Untimed, before every run of the call, its children by hand and its peer. */
  prepare: () => void;
  driver: UsageRun;
  /** The tools the call must run; whatever else it runs counts as its own cost. */
  required: readonly string[];
  /** Real mounts or loop devices, which need root. */
  needsRoot?: boolean;
  /** The environment its children run in by hand (the same PATH as the driver's). */
  env: NodeJS.ProcessEnv;
  peer?: { name: string; run: UsageRun };
}

/** One hot call's medians; `reference` is `node -e 0` plus its children by hand, round by round. */
export interface HotFigures {
  name: string;
  children: string;
  extras: string;
  driver: Usage;
  byHand: Usage;
  reference: Usage;
  /** The same Node running the same children through node:child_process; undefined without children. */
  nodeSpawning?: Usage;
  floorPlusChildren: Usage;
  peer?: { name: string; usage: Usage };
  /** undefined: nothing left to time in process (no child, nothing to read). */
  inTree?: number;
  csi?: number;
}

export interface HotResult {
  rows: Row[];
  calls: HotFigures[];
  node: Usage;
  floor: Usage;
  csiRoundTripMs: number;
}

const succeeded = (stdout: string): void => {
  const reply = JSON.parse(stdout) as { status?: string };
  if (reply.status !== 'Success') throw new Error(`driver call failed: ${stdout}`);
};

/** A pod's share, mounted for real (tmpfs named like the share) so that unmount has work to do. */
function mountShareStandIn(source: string, target: string): void {
  fs.mkdirSync(target, { recursive: true, mode: 0o750 });
  if (!isMounted(target)) run('mount', ['-t', 'tmpfs', '-o', 'size=1m', source, target]);
}

function podDir(layout: Layout, driver: string, volume: string): string {
  const dir = path.join(layout.kubeletRoot, 'pods', POD, 'volumes', `azure~${driver}`, volume);
  fs.mkdirSync(dir, { recursive: true, mode: 0o750 });
  return dir;
}

function shareCalls(layout: Layout): HotCall[] {
  const env = { ...layout.fakeMountEnv, PEER_LOG: path.join(layout.dir, 'peer.log') };
  const realEnv = { ...layout.env, PEER_LOG: env.PEER_LOG };
  const nfsOptions = goJson(mountOptions({ server: '10.0.0.5', share: '/exports', mountOptions: 'nfsvers=4.1,hard' }, { volumeName: 'pv-hot' }));
  const secrets = { azurestorageaccountname: 'benchaccount', azurestorageaccountkey: Buffer.alloc(64, 7).toString('base64') };
  const fileOptions = goJson(mountOptions({ shareName: 'reports' }, { volumeName: 'pv-hot', fsGroup: 2000, secrets }));
  const calls: HotCall[] = [];
  for (const [driver, options, peer, source] of [
    ['nfs', nfsOptions, 'nfs.sh', '10.0.0.5:/exports'],
    ['azurefile', fileOptions, 'azurefile-smb.sh', '//benchaccount.file.core.windows.net/reports'],
  ] as const) {
    const mountDir = podDir(layout, driver, 'pv-hot');
    const unmountDir = podDir(layout, driver, 'pv-hot-unmount');
    const peerName = driver === 'nfs' ? 'bash + jq peer (kubernetes/examples nfs)' : 'sh + jq peer (Azure smb flexvolume)';
    calls.push(
      {
        name: `${driver} \`mount\``,
        prepare: () => fs.mkdirSync(mountDir, { recursive: true, mode: 0o750 }),
        driver: { command: layout.executable('sea', driver), args: ['mount', mountDir, options], env, check: succeeded },
        required: ['mount'],
        env,
        peer: { name: peerName, run: { command: path.join(PEERS, peer), args: ['mount', mountDir, options], env } },
      },
      {
        name: `${driver} \`unmount\``,
        prepare: () => mountShareStandIn(source, unmountDir),
        driver: { command: layout.executable('sea', driver), args: ['unmount', unmountDir], env: realEnv, check: succeeded },
        required: ['umount'],
        needsRoot: true,
        env: realEnv,
        peer: { name: peerName, run: { command: path.join(PEERS, peer), args: ['unmount', unmountDir], env: realEnv } },
      },
    );
  }
  return calls;
}

/** waitforattach of a LUN already present, and unmountdevice of a mounted disk (loop devices). */
function diskCalls(layout: Layout, onCleanup: (step: () => void) => void): HotCall[] {
  const pool = createLoopPool();
  onCleanup(() => pool.detachAll());
  const fixture = createScsiFixture(fs.mkdtempSync(path.join(layout.dir, 'scsi-')));
  const data = pool.create('hot-lun0', 64 * MiB);
  fixture.addDisk({ address: '1:0:0:0', controller: CONTROLLER.scsi1, device: data.path, links: ['disk/azure/scsi1/lun0'] });
  run('mkfs.ext4', ['-F', '-q', '-m0', data.path]);
  const options = goJson({
    ...baseOptions({ volumeName: 'pv-hot', fsType: 'ext4' }),
    diskName: 'disk-hot',
    diskURI: '/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/disks/disk-hot',
  });
  const env = { ...layout.env, ...fixture.env };
  const globalPath = path.join(layout.kubeletRoot, 'plugins/kubernetes.io/flexvolume/azure/azuredisk/mounts/pv-hot');
  const azuredisk = layout.executable('sea', 'azuredisk');
  return [
    {
      name: 'azuredisk `waitforattach` of a present LUN',
      prepare: () => {},
      driver: { command: azuredisk, args: ['waitforattach', '0', options], env, check: succeeded },
      required: [],
      env,
    },
    {
      name: 'azuredisk `unmountdevice` of a mounted disk',
      prepare: () => {
        fs.mkdirSync(globalPath, { recursive: true, mode: 0o750 });
        if (!isMounted(globalPath)) run('mount', ['-t', 'ext4', data.path, globalPath]);
      },
      driver: { command: azuredisk, args: ['unmountdevice', globalPath], env, check: succeeded },
      required: ['umount'],
      env,
    },
  ];
}

/**
 * isattached answered from the host's VM cache: before each round the cache is emptied and filled
 * by one untimed call against the simulator, so every timed call finds it young (it lives 15 s).
 * A timed call that went to ARM would block on this very process and fail after a minute; one that
 * reached the simulator anyway fails the next warm-up.
 */
function isattachedCall(bench: ArmBench): { call: HotCall; warm: () => Promise<void>; cacheDir: string } {
  const { sim } = bench;
  sim.setUpdateLatency(0);
  sim.addVM({ name: 'hot-vm' });
  sim.addDisk({ name: 'hot-disk', sizeGB: 32 });
  sim.attachDirectly('hot-vm', 'hot-disk', 0);
  const args = ['isattached', volumeOptions(bench, 'hot-disk', 'pv-hot-disk'), 'hot-vm'];
  const azuredisk = bench.layout.executable('sea', 'azuredisk');
  const cacheDir = path.join(bench.layout.env.FLEXVOLUME_STATE_DIR ?? '', 'azure', 'vms');
  const attached = (stdout: string) => {
    const reply = JSON.parse(stdout) as { status?: string; attached?: boolean };
    if (reply.status !== 'Success' || reply.attached !== true) throw new Error(`isattached: ${stdout}`);
  };
  // Every request the simulator saw since the last warm-up came from a timed call: there must be none.
  let seen: number | undefined;
  const warm = async () => {
    if (seen !== undefined && sim.requests.length !== seen) {
      throw new Error(`timed calls sent ${sim.requests.length - seen} requests to the simulator: isattached was not answered from the VM cache`);
    }
    fs.rmSync(cacheDir, { recursive: true, force: true });
    const reply = await tracked(() => callDriver(azuredisk, args, { env: bench.env }));
    if (reply.status !== 'Success') throw new Error(`warming the VM cache: ${reply.output}`);
    seen = sim.requests.length;
  };
  return {
    call: { name: 'azuredisk `isattached` from the VM cache', prepare: () => {}, driver: { command: azuredisk, args, env: bench.env, check: attached }, required: [], env: bench.env },
    warm,
    cacheDir,
  };
}

/** The in-tree model of isattached: the same cache entry read and parsed in a running process. */
function readCacheInProcess(cacheDir: string): number {
  const started = process.hrtime.bigint();
  for (const file of fs.readdirSync(cacheDir, { recursive: true, withFileTypes: true })) {
    if (file.isFile() && file.name.endsWith('.json')) JSON.parse(fs.readFileSync(path.join(file.parentPath, file.name), 'utf8'));
  }
  return elapsedMs(started);
}

/** What a call ran, from the log of one untimed call. */
function discoverChildren(layout: Layout, call: HotCall, childUsage: string, report: string): LoggedChild[] {
  const logFile = layout.env.FLEXVOLUME_LOG_FILE ?? '';
  call.prepare();
  const offset = logSize(logFile);
  usageRun(childUsage, report, call.driver);
  return childrenLoggedSince(logFile, offset);
}

/**
 * The CSI model's per-call cost beyond its children: a resident plugin answering over a unix
 * socket (a Node HTTP server here; gRPC over HTTP/2 is no cheaper), one request at a time.
 */
async function csiRoundTripMs(dir: string): Promise<number> {
  const socket = path.join(dir, 'csi.sock');
  const server = spawn(NODE, ['-e', `require('node:http').createServer((q, s) => s.end('{}')).listen(${JSON.stringify(socket)}, () => console.log('up'))`], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  try {
    await new Promise<void>((resolve, reject) => {
      server.stdout.once('data', () => resolve());
      server.once('exit', (code) => reject(new Error(`the CSI model's server exited (${code})`)));
    });
    const request = () =>
      new Promise<void>((resolve, reject) => {
        const req = http.request({ socketPath: socket, path: '/csi.v1.Node/NodeUnpublishVolume', method: 'POST' }, (res) => {
          res.resume();
          res.on('end', resolve);
        });
        req.on('error', reject);
        req.end('{}');
      });
    const samples: number[] = [];
    for (let i = 0; i < CSI_ROUND_TRIPS; i++) {
      const started = process.hrtime.bigint();
      await request();
      samples.push(elapsedMs(started));
    }
    return median(samples);
  } finally {
    server.kill();
  }
}

export async function hotCallRows(layout: Layout, bench: ArmBench, native: Native, runs: number, onCleanup: (step: () => void) => void): Promise<HotResult> {
  const report = path.join(layout.dir, 'child-usage.txt');
  const cached = isattachedCall(bench);
  const root = process.getuid?.() === 0;
  const calls = [cached.call, ...(root ? diskCalls(layout, onCleanup) : []), ...shareCalls(layout).filter((call) => root || !call.needsRoot)];
  onCleanup(() => unmountAllUnder(layout.dir));
  await cached.warm();
  const childrenOf = calls.map((call) => discoverChildren(layout, call, native.childUsage, report));
  const requiredOf = childrenOf.map((children, i) => children.filter((child) => calls[i]?.required.includes(child.argv[0] ?? '')));

  const measure = (spec: UsageRun) => () => usageRun(native.childUsage, report, spec);
  const candidates: Array<() => Usage> = [
    measure({ command: NODE, args: ['-e', '0'], env: layout.env }),
    measure({ command: native.floor, args: [], env: layout.env }),
  ];
  const index = calls.map((call, i) => {
    const driver = candidates.push(() => (call.prepare(), usageRun(native.childUsage, report, call.driver))) - 1;
    const byHand = candidates.push(() => (call.prepare(), runByHand(native.childUsage, report, requiredOf[i] ?? [], call.env))) - 1;
    const children = requiredOf[i] ?? [];
    const throughNode = children.length > 0 ? candidates.push(() => (call.prepare(), runThroughNode(native.childUsage, report, children, call.env))) - 1 : undefined;
    const peerRun = call.peer?.run;
    const peer = peerRun ? candidates.push(() => (call.prepare(), usageRun(native.childUsage, report, peerRun))) - 1 : undefined;
    return { driver, byHand, throughNode, peer };
  });
  const samples = await interleave(candidates, runs, () => {}, cached.warm);
  const [nodeSamples = [], floorSamples = []] = samples;
  const perRound = (of: number, plus: readonly Usage[]) => (samples[of] ?? []).map((sample, round) => addUsage(sample, plus[round] ?? NO_USAGE));
  const inTreeCache = median(Array.from({ length: runs }, () => readCacheInProcess(cached.cacheDir)));
  const csi = await csiRoundTripMs(layout.dir);

  const figures: HotFigures[] = calls.map((call, i) => {
    const at = index[i] ?? { driver: 0, byHand: 0, throughNode: undefined, peer: undefined };
    const byHand = medianUsage(samples[at.byHand] ?? []);
    const children = requiredOf[i] ?? [];
    const extras = (childrenOf[i] ?? []).filter((child) => !call.required.includes(child.argv[0] ?? ''));
    return {
      name: call.name,
      children: describeChildren(children),
      extras: extras.length === 0 ? '' : describeChildren(extras),
      driver: medianUsage(samples[at.driver] ?? []),
      byHand,
      reference: medianUsage(perRound(at.byHand, nodeSamples)),
      ...(at.throughNode !== undefined ? { nodeSpawning: medianUsage(samples[at.throughNode] ?? []) } : {}),
      floorPlusChildren: medianUsage(perRound(at.byHand, floorSamples)),
      ...(call.peer && at.peer !== undefined ? { peer: { name: call.peer.name, usage: medianUsage(samples[at.peer] ?? []) } } : {}),
      // In-tree, the call is a function of the running kubelet or controller-manager: only its children remain.
      ...(call === cached.call ? { inTree: inTreeCache } : children.length > 0 ? { inTree: byHand.wallMs } : {}),
      // CSI has no isattached (the attacher watches VolumeAttachment objects) and waitforattach is the plugin's own loop.
      ...(call.required.length > 0 ? { csi: csi + byHand.wallMs } : {}),
    };
  });
  const node = medianUsage(nodeSamples);
  const floor = medianUsage(floorSamples);
  return { rows: hotRows(figures, node, floor), calls: figures, node, floor, csiRoundTripMs: csi };
}

function hotRows(figures: readonly HotFigures[], node: Usage, floor: Usage): Row[] {
  const group = 'Hot calls (wall and CPU time, user+sys with children)';
  const rows: Row[] = [
    { group, figure: 'static C program (the floor), wall', value: floor.wallMs, unit: 'ms', digits: 2 },
    { group, figure: 'static C program (the floor), CPU', value: floor.cpuMs, unit: 'ms', digits: 2 },
    { group, figure: '`node -e 0`, wall', value: node.wallMs, unit: 'ms', reference: 'static C program', referenceValue: floor.wallMs },
    { group, figure: '`node -e 0`, CPU', value: node.cpuMs, unit: 'ms', reference: 'static C program', referenceValue: floor.cpuMs },
  ];
  for (const call of figures) {
    const reference = `\`node -e 0\` + ${call.children} by hand`;
    rows.push(
      { group, figure: `${call.name}, wall`, value: call.driver.wallMs, unit: 'ms', reference, referenceValue: call.reference.wallMs },
      { group, figure: `${call.name}, CPU`, value: call.driver.cpuMs, unit: 'ms', reference, referenceValue: call.reference.cpuMs },
    );
    if (call.nodeSpawning) {
      const reference = `the same Node running ${call.children} through node:child_process`;
      rows.push(
        { group, figure: `${call.name}, wall, next to Node spawning its children`, value: call.driver.wallMs, unit: 'ms', reference, referenceValue: call.nodeSpawning.wallMs },
        { group, figure: `${call.name}, CPU, next to Node spawning its children`, value: call.driver.cpuMs, unit: 'ms', reference, referenceValue: call.nodeSpawning.cpuMs },
      );
    }
    if (call.peer) rows.push({ group, figure: `${call.name}, wall, next to the peer`, value: call.driver.wallMs, unit: 'ms', reference: call.peer.name, referenceValue: call.peer.usage.wallMs });
  }
  return rows;
}
