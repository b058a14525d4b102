// Per-call cost: how fast the answer-only calls are next to a bare start of the same Node, and what
// a network mount costs besides the mount itself next to the shell drivers this one replaces.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { baseOptions, goJson, mountOptions } from '../test/helpers/kubelet.ts';
import { NODE, type Layout } from './layout.ts';
import { interleave, median, timeRun, type Command, type Row } from './measure.ts';
import { ARM64_SYSROOT, PLATFORMS } from '../scripts/build-image.ts';

const PEERS = fileURLToPath(new URL('./peers/', import.meta.url));
const DISK_URI = '/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg/providers/Microsoft.Compute/disks/disk-1';

async function medians(commands: Command[], runs: number): Promise<number[]> {
  return (await interleave(commands.map((command) => () => timeRun(command)), runs)).map(median);
}

export async function startupRows(layout: Layout, runs: number): Promise<Row[]> {
  const bare: Command = { command: NODE, args: ['-e', '0'], env: layout.env };
  const reference = 'bare `node -e 0`, same Node';
  const group = 'Answer-only calls (latency)';
  const getvolumename = ['getvolumename', goJson({ ...baseOptions({ volumeName: 'pv-1', fsType: 'ext4' }), diskName: 'disk-1', diskURI: DISK_URI })];
  const [seaInit = 0, bundleInit = 0, seaName = 0, bundleName = 0, bareNode = 0] = await medians(
    [
      { command: layout.executable('sea', 'azuredisk'), args: ['init'], env: layout.env },
      { command: layout.executable('bundle', 'azuredisk'), args: ['init'], env: layout.env },
      { command: layout.executable('sea', 'azuredisk'), args: getvolumename, env: layout.env },
      { command: layout.executable('bundle', 'azuredisk'), args: getvolumename, env: layout.env },
      bare,
    ],
    runs,
  );
  return [
    { group, figure: '`init`, standalone binary', value: seaInit, unit: 'ms', reference, referenceValue: bareNode },
    { group, figure: '`init`, bundle on Node', value: bundleInit, unit: 'ms', reference, referenceValue: bareNode },
    { group, figure: '`getvolumename`, standalone binary', value: seaName, unit: 'ms', reference, referenceValue: bareNode },
    { group, figure: '`getvolumename`, bundle on Node', value: bundleName, unit: 'ms', reference, referenceValue: bareNode },
  ];
}

const QEMU = '/usr/bin/qemu-aarch64-static';
const ARM64 = PLATFORMS.find((platform) => platform.arch === 'arm64')?.executable as string;

/** Whether the arm64 binary and its emulator are here; if not, why. */
export function arm64Missing(): string | undefined {
  if (!fs.existsSync(ARM64)) return 'arm64 `init` under qemu (needs npm run build:arm64)';
  if (!fs.existsSync(QEMU)) return 'arm64 `init` under qemu (needs qemu-user-static: scripts/setup.sh)';
  return undefined;
}

/** A smoke figure only: emulation says nothing of a real arm64 node's speed, only that the fast path holds there too. */
export async function arm64InitRows(layout: Layout, runs: number): Promise<Row[]> {
  const [emulated = 0, native = 0] = await medians(
    [
      { command: QEMU, args: ['-L', ARM64_SYSROOT, '-0', 'azuredisk', ARM64, 'init'], env: layout.env },
      { command: layout.executable('sea', 'azuredisk'), args: ['init'], env: layout.env },
    ],
    runs,
  );
  return [
    { group: 'arm64 (smoke figure: emulated by qemu-aarch64-static)', figure: '`init`, arm64 standalone binary under qemu', value: emulated, unit: 'ms', reference: 'x64 standalone binary, native', referenceValue: native },
  ];
}

export async function mountOverheadRows(layout: Layout, runs: number): Promise<Row[]> {
  const group = 'Network mount overhead (mount itself replaced by true(1))';
  const env = { ...layout.fakeMountEnv, PEER_LOG: path.join(layout.dir, 'peer.log') };
  const podDir = (driver: string) => {
    const dir = path.join(layout.kubeletRoot, 'pods/7f0c6d3e-1111-4a4a-9c9c-000000000001/volumes', `azure~${driver}`, 'pv-1');
    fs.mkdirSync(dir, { recursive: true, mode: 0o750 });
    return dir;
  };
  const nfsDir = podDir('nfs');
  const nfsOptions = goJson(mountOptions({ server: '10.0.0.5', share: '/exports', mountOptions: 'nfsvers=4.1,hard' }, { volumeName: 'pv-1' }));
  const [seaNfs = 0, bundleNfs = 0, peerNfs = 0] = await medians(
    [
      { command: layout.executable('sea', 'nfs'), args: ['mount', nfsDir, nfsOptions], env },
      { command: layout.executable('bundle', 'nfs'), args: ['mount', nfsDir, nfsOptions], env },
      { command: path.join(PEERS, 'nfs.sh'), args: ['mount', nfsDir, nfsOptions], env },
    ],
    runs,
  );
  const fileDir = podDir('azurefile');
  const secrets = { azurestorageaccountname: 'benchaccount', azurestorageaccountkey: Buffer.alloc(64, 7).toString('base64') };
  const fileOptions = goJson(mountOptions({ shareName: 'reports' }, { volumeName: 'pv-1', fsGroup: 2000, secrets }));
  const [seaFile = 0, bundleFile = 0, peerFile = 0] = await medians(
    [
      { command: layout.executable('sea', 'azurefile'), args: ['mount', fileDir, fileOptions], env },
      { command: layout.executable('bundle', 'azurefile'), args: ['mount', fileDir, fileOptions], env },
      { command: path.join(PEERS, 'azurefile-smb.sh'), args: ['mount', fileDir, fileOptions], env },
    ],
    runs,
  );
  const nfsPeer = 'bash + jq peer (kubernetes/examples nfs)';
  const smbPeer = 'sh + jq peer (Azure smb flexvolume)';
  return [
    { group, figure: 'nfs `mount`, standalone binary', value: seaNfs, unit: 'ms', reference: nfsPeer, referenceValue: peerNfs },
    { group, figure: 'nfs `mount`, bundle on Node', value: bundleNfs, unit: 'ms', reference: nfsPeer, referenceValue: peerNfs },
    { group, figure: 'azurefile `mount`, standalone binary', value: seaFile, unit: 'ms', reference: smbPeer, referenceValue: peerFile },
    { group, figure: 'azurefile `mount`, bundle on Node', value: bundleFile, unit: 'ms', reference: smbPeer, referenceValue: peerFile },
  ];
}
