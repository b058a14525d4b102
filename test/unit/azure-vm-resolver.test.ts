import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Machine, MachineRef } from '../../src/azure/machines.ts';
import { parseScaleSetComputerName, scaleSetComputerName, VmResolver, type ResolverConfig } from '../../src/azure/vm-resolver.ts';
import { retryAfterMs, ThrottleGate, requestClassOf } from '../../src/azure/throttle-gate.ts';
import { configureLog } from '../../src/system/log.ts';

describe('scale-set computer names', () => {
  test.each([
    ['aks-nodepool1-12345678-vmss000000', 'aks-nodepool1-12345678-vmss', '0'],
    ['aks-nodepool1-12345678-vmss00000a', 'aks-nodepool1-12345678-vmss', '10'],
    ['k8s-agentpool-vmss000016', 'k8s-agentpool-vmss', '42'],
    ['pool00001Z', 'pool', String(36 + 35)],
  ])('%s is instance %s of %s', (name, prefix, instanceId) => {
    expect(parseScaleSetComputerName(name)).toEqual({ prefix, instanceId });
    expect(scaleSetComputerName(prefix, instanceId)).toBe(name.toLowerCase());
  });

  test('names too short or with other characters are not scale-set names', () => {
    expect(parseScaleSetComputerName('node-1')).toBeUndefined();
    expect(parseScaleSetComputerName('000000')).toBeUndefined();
    expect(parseScaleSetComputerName('vm-00000.')).toBeUndefined();
  });
});

describe('VmResolver', () => {
  let dir: string;
  let gets: MachineRef[];
  let lists: string[];
  const machines: Machine[] = [];
  const machine = (ref: MachineRef, computerName: string): Machine => ({ ref, id: JSON.stringify(ref), location: 'x', provisioningState: 'Succeeded', computerName, dataDisks: [], etag: undefined });
  const sameRef = (a: MachineRef, b: MachineRef) => JSON.stringify(a).toLowerCase() === JSON.stringify(b).toLowerCase();

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'resolver-'));
    configureLog({ file: path.join(dir, 'log') });
    gets = [];
    lists = [];
    machines.length = 0;
    machines.push(
      machine({ kind: 'vm', resourceGroup: 'rg', name: 'node-1' }, 'node-1'),
      machine({ kind: 'vmss', resourceGroup: 'rg', scaleSet: 'aks-pool-vmss', instanceId: '3' }, 'aks-pool-vmss000003'),
      machine({ kind: 'vmss', resourceGroup: 'rg', scaleSet: 'pool-b', instanceId: '7' }, 'nodeb000007'),
    );
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  const resolver = (config: Partial<ResolverConfig>) =>
    new VmResolver({
      dir,
      config: { vmType: 'standard', resourceGroup: 'rg', primaryScaleSetName: undefined, ...config },
      reader: {
        get: async (ref) => {
          gets.push(ref);
          return machines.find((m) => sameRef(m.ref, ref));
        },
        listScaleSet: async (_group, scaleSet) => {
          lists.push(scaleSet);
          return machines.filter((m) => m.ref.kind === 'vmss' && m.ref.scaleSet === scaleSet);
        },
      },
    });

  test('standard: the node name is the VM name', async () => {
    expect((await resolver({}).resolve('node-1'))?.ref).toEqual({ kind: 'vm', resourceGroup: 'rg', name: 'node-1' });
    expect(await resolver({}).resolve('aks-pool-vmss000003')).toBeUndefined();
  });

  test('vmss: prefix and base-36 instance id, remembered afterwards', async () => {
    const found = await resolver({ vmType: 'vmss' }).resolve('aks-pool-vmss000003');
    expect(found?.ref).toEqual({ kind: 'vmss', resourceGroup: 'rg', scaleSet: 'aks-pool-vmss', instanceId: '3' });
    expect(gets).toHaveLength(1);
    await resolver({ vmType: 'vmss' }).resolve('AKS-POOL-VMSS000003');
    expect(gets).toHaveLength(2);
    expect(gets[1]).toEqual(found?.ref);
  });

  test('vmss: a prefix unlike the scale set name is tried with primaryScaleSetName, then its instances are listed', async () => {
    const found = await resolver({ vmType: 'vmss', primaryScaleSetName: 'pool-b' }).resolve('nodeb000007');
    expect(found?.ref).toMatchObject({ scaleSet: 'pool-b', instanceId: '7' });
    expect(gets.map((ref) => (ref.kind === 'vmss' ? ref.scaleSet : ref.name))).toEqual(['nodeb', 'pool-b']);
    expect(lists).toEqual([]);
    machines.push(machine({ kind: 'vmss', resourceGroup: 'rg', scaleSet: 'pool-b', instanceId: '9' }, 'custom-name'));
    expect((await resolver({ vmType: 'vmss', primaryScaleSetName: 'pool-b' }).resolve('custom-name'))?.ref).toMatchObject({ instanceId: '9' });
    expect(lists).toEqual(['pool-b']);
  });

  test('vmss: standalone VMs in the same cluster are found too', async () => {
    expect((await resolver({ vmType: 'vmss' }).resolve('node-1'))?.ref).toMatchObject({ kind: 'vm', name: 'node-1' });
  });

  test('a remembered mapping whose instance is gone is resolved again', async () => {
    await resolver({ vmType: 'vmss' }).resolve('aks-pool-vmss000003');
    machines.splice(1, 1);
    expect(await resolver({ vmType: 'vmss' }).resolve('aks-pool-vmss000003')).toBeUndefined();
    expect(fs.readdirSync(dir).filter((name) => name.endsWith('.json'))).toEqual([]);
  });
});

describe('throttle gate', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gate-'));
    configureLog({ file: path.join(dir, 'log') });
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('Retry-After as retry-after-ms, seconds or an HTTP date', () => {
    const headers = (values: Record<string, string>) => (name: string) => values[name];
    const now = Date.parse('2026-01-01T00:00:00Z');
    expect(retryAfterMs(headers({ 'retry-after-ms': '250', 'retry-after': '9' }), now)).toBe(250);
    expect(retryAfterMs(headers({ 'x-ms-retry-after-ms': '40' }), now)).toBe(40);
    expect(retryAfterMs(headers({ 'retry-after': '30' }), now)).toBe(30_000);
    expect(retryAfterMs(headers({ 'retry-after': 'Thu, 01 Jan 2026 00:01:00 GMT' }), now)).toBe(60_000);
    expect(retryAfterMs(headers({}), now)).toBeUndefined();
    expect(retryAfterMs(headers({ 'retry-after': 'soon' }), now)).toBeUndefined();
  });

  test('reads and writes have separate gates; a gate only ever extends, and opens when it expires', () => {
    const gate = new ThrottleGate(dir);
    const now = 1_000_000;
    gate.close('write', 30_000, 'PUT /vm', now);
    expect(() => gate.check('write', now + 1000)).toThrow(/throttling writes from this host \(429 on PUT \/vm\).*29 s from now/);
    expect(() => gate.check('read', now + 1000)).not.toThrow();
    gate.close('write', 1000, 'PUT /other', now);
    expect(() => new ThrottleGate(dir).check('write', now + 20_000)).toThrow(/PUT \/vm/);
    expect(() => gate.check('write', now + 30_000)).not.toThrow();
    expect(requestClassOf('GET')).toBe('read');
    expect(requestClassOf('PATCH')).toBe('write');
  });
});
