import { CALLS } from '../../src/flexvolume/calls.ts';
import { dispatch } from '../../src/flexvolume/dispatch.ts';
import { CALL_NAMES, type Driver } from '../../src/flexvolume/driver.ts';
import { DriverError } from '../../src/flexvolume/errors.ts';
import { success } from '../../src/flexvolume/reply.ts';

const CAPABILITIES = { attach: true, selinuxRelabel: true, supportsMetrics: false, fsGroup: true, requiresFSResize: true };
const OPTIONS = '{"kubernetes.io/fsType":"","kubernetes.io/pvOrVolumeName":"pv-1","kubernetes.io/readwrite":"rw"}';

function fakeDriver(overrides: Partial<Driver> = {}): Driver {
  return { name: 'azuredisk', capabilities: () => CAPABILITIES, ...overrides };
}

describe('dispatch', () => {
  const logged: string[] = [];
  const log = (line: string) => logged.push(line);

  test('main.ts routes by CALL_NAMES: it names every call of the table, and nothing else', () => {
    expect([...CALL_NAMES].sort()).toEqual(Object.keys(CALLS).sort());
  });

  test('init answers the capabilities', async () => {
    expect(await dispatch(fakeDriver(), 'init', [], log)).toEqual({ status: 'Success', capabilities: CAPABILITIES });
  });

  test('a call the driver leaves out, and an unknown command, answer Not supported', async () => {
    expect(await dispatch(fakeDriver(), 'getvolumename', [OPTIONS], log)).toEqual({ status: 'Not supported' });
    expect(await dispatch(fakeDriver(), 'waitfordetach', ['/dev/sdc'], log)).toEqual({ status: 'Not supported' });
  });

  test('the driver receives typed arguments', async () => {
    let received: unknown;
    const driver = fakeDriver({
      attach: async (args) => {
        received = args;
        return success({ device: '0' });
      },
    });
    expect(await dispatch(driver, 'attach', [OPTIONS, 'node-1'], log)).toEqual({ status: 'Success', device: '0' });
    expect(received).toEqual({ options: { fsType: '', readOnly: false, volumeName: 'pv-1', user: {} }, nodeName: 'node-1' });
  });

  test('a wrong argument count is a Failure that shows the right shape, before the driver runs', async () => {
    let called = false;
    const driver = fakeDriver({ detach: async () => ((called = true), success()) });
    const reply = await dispatch(driver, 'detach', ['pv-1'], log);
    expect(reply.status).toBe('Failure');
    expect(reply.message).toMatch(/detach takes 2 argument\(s\) \(volume-name node-name\), got 1; example: azuredisk detach pv-data/);
    expect(called).toBe(false);
  });

  test("the argument-count Failure's example is the driver's own: its options, its paths", async () => {
    const nfs = fakeDriver({ name: 'nfs', mount: async () => success() });
    const mount = await dispatch(nfs, 'mount', ['/var/lib/kubelet/pods/u/volumes/azure~nfs/v'], log);
    expect(mount.message).toMatch(/^mount takes 2 argument\(s\) \(pod-volume-dir options-json\), got 1; example: nfs mount /);
    expect(mount.message).toContain('/var/lib/kubelet/pods/3f0c6d3e-5b1a-4c2e-9d7f-0a1b2c3d4e5f/volumes/azure~nfs/pv-data');
    expect(mount.message).toContain('"server":"10.0.0.5","share":"/exports/data"');
    const attach = await dispatch(fakeDriver({ attach: async () => success() }), 'attach', [OPTIONS], log);
    expect(attach.message).toMatch(/"diskName":"disk-data","diskURI":"\/subscriptions\/[^"]+\/disks\/disk-data"/);
  });

  test('an operator error keeps its message; a crash is reported with the call and logged with its stack', async () => {
    const failing = fakeDriver({
      detach: async () => {
        throw new DriverError('disk is owned by VM node-2');
      },
      isattached: async () => {
        throw new TypeError('x is undefined');
      },
    });
    expect(await dispatch(failing, 'detach', ['pv-1', 'node-1'], log)).toEqual({
      status: 'Failure',
      message: 'detach failed: disk is owned by VM node-2',
    });
    expect(await dispatch(failing, 'isattached', [OPTIONS, 'node-1'], log)).toEqual({
      status: 'Failure',
      message: 'isattached failed: x is undefined',
    });
    expect(logged.some((line) => line.startsWith('isattached crashed: TypeError: x is undefined'))).toBe(true);
  });
});
