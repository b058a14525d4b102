// The linux/arm64 standalone binary (npm run build:arm64), run under qemu-aarch64-static on the
// arm64 glibc of scripts/build-arm64-sysroot.sh, called as the kubelet calls it: init, --version,
// an nfs mount lifecycle through the mount stand-in, and a blank-disk mountdevice on a real loop
// device. The emulator runs the guest only; the tools the driver starts (mount, mkfs) are the
// host's own.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { baseOptions, goJson, mountOptions } from '../helpers/kubelet.ts';
import { createLoopPool, MiB, probe } from '../helpers/loop-devices.ts';
import { createSandbox, mountsUnder, ROOT, type Sandbox } from '../helpers/sandbox.ts';
import { CONTROLLER, createScsiFixture, type ScsiFixture } from '../helpers/scsi-fixture.ts';
import { ARM64_SYSROOT, PLATFORMS } from '../../scripts/build-image.ts';

const QEMU = '/usr/bin/qemu-aarch64-static';
const ARM64 = PLATFORMS.find((platform) => platform.arch === 'arm64')?.executable as string;
const EM_AARCH64 = 183;
const VERSION = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')).version as string;
const NFS = { server: '10.0.0.5', share: '/exports/data' };
const DISK = {
  diskName: 'pv-data',
  diskURI: '/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/Microsoft.Compute/disks/pv-data',
};

let dir: string;
let emulated: string;

beforeAll(() => {
  for (const [file, how] of [
    [ARM64, 'npm run build:arm64'],
    [QEMU, 'scripts/setup.sh (qemu-user-static)'],
    [path.join(ARM64_SYSROOT, 'lib/ld-linux-aarch64.so.1'), 'scripts/build-arm64-sysroot.sh'],
  ] as const) {
    if (!fs.existsSync(file)) throw new Error(`${file} is missing: run ${how}`);
  }
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flexvolume-arm64-'));
  // What the kubelet execs: the emulator, keeping the name it was started under as the guest's argv[0].
  emulated = path.join(dir, 'flexvolume-arm64');
  fs.writeFileSync(emulated, `#!/bin/sh\nexec ${QEMU} -L ${ARM64_SYSROOT} -0 "$0" ${ARM64} "$@"\n`, { mode: 0o755 });
});
afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

test('the binary is an aarch64 executable and reports the driver and Node versions', () => {
  const header = Buffer.alloc(20);
  const fd = fs.openSync(ARM64, 'r');
  fs.readSync(fd, header, 0, 20, 0);
  fs.closeSync(fd);
  expect(header.readUInt16LE(18)).toBe(EM_AARCH64);
  const version = spawnSync(QEMU, ['-L', ARM64_SYSROOT, ARM64, '--version'], { encoding: 'utf8', env: {} });
  expect({ stdout: version.stdout, stderr: version.stderr, status: version.status }).toEqual({ stdout: `${VERSION} (node v24.21.0)\n`, stderr: '', status: 0 });
});

describe('called as the kubelet calls it', () => {
  let sandbox: Sandbox;
  let fixture: ScsiFixture;
  const pool = createLoopPool();

  beforeEach(() => {
    fixture = createScsiFixture(fs.mkdtempSync(path.join(os.tmpdir(), 'azuredisk-fixture-')));
    sandbox = createSandbox(emulated, fixture.env);
  });
  afterEach(async () => {
    await sandbox.cleanup();
    pool.detachAll();
    fixture.cleanup();
  });

  test('init of each driver: its capabilities and nothing else on the output', async () => {
    const nfs = await sandbox.call('nfs', ['init']);
    expect(nfs.output).toBe('{"status":"Success","capabilities":{"attach":false,"selinuxRelabel":false,"supportsMetrics":true,"fsGroup":false,"requiresFSResize":true}}\n');
    expect((await sandbox.call('azuredisk', ['init'])).capabilities?.attach).toBe(true);
  }, 60_000);

  test('nfs: mount, mount again, unmount through the mount stand-in', async () => {
    const podDir = sandbox.podVolumeDir('nfs', 'pv-nfs');
    fs.mkdirSync(podDir, { recursive: true, mode: 0o750 });
    const options = goJson(mountOptions(NFS));
    expect((await sandbox.call('nfs', ['mount', podDir, options])).status).toBe('Success');
    expect((await sandbox.call('nfs', ['mount', podDir, options])).status).toBe('Success');
    expect(sandbox.mountRecords()).toEqual([expect.objectContaining({ fsType: 'nfs', source: '10.0.0.5:/exports/data', target: podDir })]);
    expect(mountsUnder(sandbox.dir)).toEqual([podDir]);
    expect((await sandbox.call('nfs', ['unmount', podDir])).status).toBe('Success');
    expect(mountsUnder(sandbox.dir)).toEqual([]);
  }, 120_000);

  test('azuredisk: mountdevice formats a blank loop device (ext4) and mounts it; unmountdevice unmounts it', async () => {
    const loop = pool.create('lun0', 64 * MiB);
    fixture.addDisk({ address: '1:0:0:0', controller: CONTROLLER.scsi1, device: loop.path, links: ['disk/azure/scsi1/lun0'] });
    const volume = goJson({ ...baseOptions({ volumeName: 'pv-data' }), ...DISK });
    const attached = await sandbox.call('azuredisk', ['waitforattach', '0', volume]);
    expect(attached.status).toBe('Success');
    const globalPath = sandbox.deviceMountPath('azuredisk', 'pv-data');
    fs.mkdirSync(globalPath, { recursive: true, mode: 0o750 });
    expect(await sandbox.call('azuredisk', ['mountdevice', globalPath, attached.device ?? '', volume])).toMatchObject({ status: 'Success' });
    expect(probe(loop.path).TYPE).toBe('ext4');
    expect(mountsUnder(sandbox.dir)).toEqual([globalPath]);
    expect((await sandbox.call('azuredisk', ['unmountdevice', globalPath])).status).toBe('Success');
    expect(mountsUnder(sandbox.dir)).toEqual([]);
  }, 180_000);
});
