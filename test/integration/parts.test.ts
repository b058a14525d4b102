// The kubelet's hot calls load only the parts they need: with the commander part (help, doctor,
// install) and the Azure SDK part taken away, they still answer as before, while a person's
// --help, which does need commander, cannot. Run on the bundle, whose parts are files.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { partBundle, partCodeCache, PART_FILES, type PartName } from '../../src/cli-loader.ts';
import { baseOptions, goJson, mountOptions } from '../helpers/kubelet.ts';
import { createLoopPool, MiB, sh } from '../helpers/loop-devices.ts';
import { CONTROLLER, createScsiFixture, type ScsiFixture } from '../helpers/scsi-fixture.ts';
import { BUNDLE, createSandbox, mountsUnder, type Sandbox } from '../helpers/sandbox.ts';

const LEFT_OUT: readonly PartName[] = ['cli', 'azure'];
const DISK = { diskName: 'disk-data', diskURI: '/subscriptions/s/resourceGroups/g/providers/Microsoft.Compute/disks/disk-data' };

const pool = createLoopPool();
afterAll(() => pool.detachAll());

describe('hot calls without the cli and azure parts', () => {
  let bin: string;
  let fixture: ScsiFixture;
  let sandbox: Sandbox;

  beforeEach(() => {
    bin = fs.mkdtempSync(path.join(os.tmpdir(), 'flexvolume-parts-'));
    const leftOut = LEFT_OUT.flatMap((part) => [partBundle(part), partCodeCache(part)]);
    for (const file of ['flexvolume.cjs', ...PART_FILES.filter((file) => !leftOut.includes(file))]) {
      fs.copyFileSync(path.join(path.dirname(BUNDLE), file), path.join(bin, file));
    }
    fs.chmodSync(path.join(bin, 'flexvolume.cjs'), 0o755);
    fixture = createScsiFixture(fs.mkdtempSync(path.join(os.tmpdir(), 'parts-fixture-')));
    sandbox = createSandbox(path.join(bin, 'flexvolume.cjs'), fixture.env);
  });
  afterEach(async () => {
    await sandbox.cleanup();
    pool.detachAll();
    fixture.cleanup();
    fs.rmSync(bin, { recursive: true, force: true });
  });

  test('nfs mount and unmount answer as always', async () => {
    const dir = sandbox.podVolumeDir('nfs', 'pv-nfs');
    fs.mkdirSync(dir, { recursive: true, mode: 0o750 });
    const mounted = await sandbox.call('nfs', ['mount', dir, goJson(mountOptions({ server: '10.0.0.5', share: '/exports/data' }))]);
    expect(mounted.output).toBe('{"status":"Success"}\n');
    expect(mountsUnder(sandbox.dir)).toContain(dir);
    const unmounted = await sandbox.call('nfs', ['unmount', dir]);
    expect(unmounted.output).toBe('{"status":"Success"}\n');
    expect(mountsUnder(sandbox.dir)).not.toContain(dir);
  });

  test('azuredisk waitforattach of a present LUN, mountdevice and unmountdevice answer as always', async () => {
    const loop = pool.create('lun0', 16 * MiB);
    fixture.addDisk({ address: '1:0:0:0', controller: CONTROLLER.scsi1, device: loop.path, links: ['disk/azure/scsi1/lun0'] });
    sh('mkfs.ext4', ['-F', '-q', loop.path]);
    const options = goJson({ ...baseOptions({ fsType: 'ext4', volumeName: 'pv-data' }), ...DISK });
    const found = await sandbox.call('azuredisk', ['waitforattach', '0', options]);
    expect(found.status).toBe('Success');
    expect(found.device).toBe(path.join(fixture.devRoot, 'disk/azure/scsi1/lun0'));
    const global = sandbox.deviceMountPath('azuredisk', 'pv-data');
    fs.mkdirSync(global, { recursive: true });
    expect((await sandbox.call('azuredisk', ['mountdevice', global, found.device ?? '', options])).output).toBe('{"status":"Success"}\n');
    expect(mountsUnder(sandbox.dir)).toContain(global);
    expect((await sandbox.call('azuredisk', ['unmountdevice', global])).output).toBe('{"status":"Success"}\n');
    expect(mountsUnder(sandbox.dir)).not.toContain(global);
  });

  test('calls that start no child never load node:child_process, node:crypto or node:net', async () => {
    // Each costs a call 4-7 ms of the ~25 ms a bare Node start takes (BENCHMARKS.md).
    const loadedFile = path.join(bin, 'builtins-loaded.txt');
    const preload = path.join(bin, 'record-builtins.cjs');
    fs.writeFileSync(
      preload,
      `const fs = require('node:fs'); const before = new Set(process.moduleLoadList);
process.on('exit', () => fs.writeFileSync(${JSON.stringify(loadedFile)}, process.moduleLoadList.filter((m) => !before.has(m)).join('\\n')));`,
    );
    const loop = pool.create('lun0', 16 * MiB);
    fixture.addDisk({ address: '1:0:0:0', controller: CONTROLLER.scsi1, device: loop.path, links: ['disk/azure/scsi1/lun0'] });
    const options = goJson({ ...baseOptions({ fsType: 'ext4', volumeName: 'pv-data' }), ...DISK });
    const recorded = { NODE_OPTIONS: `--require ${preload}` };
    const loadedBy = async (driver: string, args: string[]): Promise<string[]> => {
      fs.rmSync(loadedFile, { force: true });
      const reply = await sandbox.call(driver, args, recorded);
      expect(reply.status).not.toBe('Failure');
      return fs.readFileSync(loadedFile, 'utf8').split('\n');
    };
    const heavy = ['NativeModule child_process', 'NativeModule crypto', 'NativeModule net'];
    for (const args of [['waitforattach', '0', options], ['getvolumename', options]]) {
      const loaded = await loadedBy('azuredisk', args);
      expect(loaded).toContain('NativeModule vm');
      for (const module of heavy) expect(loaded).not.toContain(module);
    }
    // The recording itself is real: a call that mounts does load child_process.
    const dir = sandbox.podVolumeDir('nfs', 'pv-nfs');
    fs.mkdirSync(dir, { recursive: true, mode: 0o750 });
    expect(await loadedBy('nfs', ['mount', dir, goJson(mountOptions({ server: '10.0.0.5', share: '/exports/data' }))])).toContain('NativeModule child_process');
    await sandbox.call('nfs', ['unmount', dir]);
  });

  test("the part every kubelet call loads builds the drivers' schemas with zod/mini, not zod's classic API", () => {
    // Classic zod was three quarters of this part and ~2 ms of every call (BENCHMARKS.md); a
    // driver module importing 'zod' instead of 'zod/mini' would bring it back unnoticed.
    const core = fs.readFileSync(path.join(bin, partBundle('core')), 'utf8');
    expect(core).toContain('"ZodMiniObject"');
    expect(core).not.toContain('"ZodObject"');
    expect(fs.readFileSync(path.join(path.dirname(BUNDLE), partBundle('provisioner')), 'utf8')).toContain('"ZodObject"');
  });

  test('what needs commander does not work without it: the left-out parts are really left out', async () => {
    const help = await sandbox.call('nfs', ['mount', '--help']);
    expect(help.status).toBe('Failure');
    expect(help.message).toContain(`${partBundle('cli')} is missing`);
  });
});
