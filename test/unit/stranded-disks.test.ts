import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { success, type Reply } from '../../src/flexvolume/reply.ts';
import { bootTimeMs } from '../../src/system/boot-time.ts';
import { tryAcquireLock } from '../../src/system/lock.ts';
import { nodeAttachments, sweepStrandedDisks, volumeLockName, type NodeAttachment, type SweepOptions } from '../../src/drivers/azuredisk/stranded-disks.ts';

describe('sweepStrandedDisks', () => {
  let dir: string;
  let detached: string[];
  let options: SweepOptions;

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sweep-'));
    detached = [];
    options = {
      stateDir: path.join(dir, 'state'),
      lockDir: path.join(dir, 'locks'),
      roots: { sysRoot: path.join(dir, 'sys'), devRoot: path.join(dir, 'dev') },
      graceMs: 60_000,
      budgetMs: 1000,
      except: 'pv-current',
      detach: async (volumeName: string): Promise<Reply> => {
        detached.push(volumeName);
        return success();
      },
    };
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  /** A record as a call that began `ageMs` ago left it, staged under the sandbox's kubelet root. */
  function record(volumeName: string, ageMs: number): void {
    const attachment: NodeAttachment = {
      diskUri: `/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/disks/${volumeName}`,
      globalPath: path.join(dir, 'kubelet/plugins/kubernetes.io/flexvolume/azure/azuredisk/mounts', volumeName),
      podsDir: path.join(dir, 'kubelet/pods'),
      pluginDirName: 'azure~azuredisk',
      since: Date.now() - ageMs,
    };
    nodeAttachments(options.stateDir).write(volumeName, attachment);
  }

  test('detaches only what is past the grace period, unlocked, and not the current call\'s volume', async () => {
    record('pv-old', 120_000);
    record('pv-young', 1000);
    record('pv-current', 120_000);
    record('pv-locked', 120_000);
    const held = tryAcquireLock(volumeLockName('pv-locked'), options.lockDir);
    await sweepStrandedDisks(options);
    held?.release();
    expect(detached).toEqual(['pv-old']);
    expect(nodeAttachments(options.stateDir).keys().sort()).toEqual(['pv-current', 'pv-locked', 'pv-young']);
  });

  test('a failed detach keeps the record for a later call', async () => {
    record('pv-old', 120_000);
    await sweepStrandedDisks({ ...options, detach: async () => ({ status: 'Failure', message: 'ARM said no' }) });
    expect(nodeAttachments(options.stateDir).keys()).toEqual(['pv-old']);
  });

  test('ends within its budget while a detach hangs, and keeps that volume locked until the call ends', async () => {
    record('pv-slow', 120_000);
    record('pv-next', 120_000);
    const started = Date.now();
    await sweepStrandedDisks({ ...options, budgetMs: 300, detach: (volumeName) => { detached.push(volumeName); return new Promise<Reply>(() => undefined); } });
    expect(Date.now() - started).toBeLessThan(1500);
    expect(detached).toHaveLength(1);
    const slow = detached[0] ?? '';
    expect(tryAcquireLock(volumeLockName(slow), options.lockDir)).toBeUndefined();
    expect(nodeAttachments(options.stateDir).keys()).toContain(slow);
  });

  test('skipped while another process sweeps', async () => {
    record('pv-old', 120_000);
    const other = tryAcquireLock('azuredisk-node-sweep', options.lockDir);
    // The same process holds it here; a live holder is what counts.
    await sweepStrandedDisks(options);
    other?.release();
    expect(detached).toEqual([]);
    await sweepStrandedDisks(options);
    expect(detached).toEqual(['pv-old']);
  });

  test('the grace period of a record from before the last boot runs from the boot', async () => {
    const boot = bootTimeMs() ?? 0;
    expect(Math.abs(boot - (Date.now() - os.uptime() * 1000))).toBeLessThan(2000);
    // Written an hour before this boot; the grace period is a minute longer than the uptime.
    record('pv-before-boot', Date.now() - boot + 3_600_000);
    await sweepStrandedDisks({ ...options, graceMs: Date.now() - boot + 60_000 });
    expect(detached).toEqual([]);
    await sweepStrandedDisks({ ...options, graceMs: Date.now() - boot - 1000 });
    expect(detached).toEqual(['pv-before-boot']);
  });
});
