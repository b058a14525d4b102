// Writing a machine's data disks: conditionally with the etag of the read the plan came from, or,
// when a read carried no etag, with attachDetachDataDisks, which names only the disks it changes.
// Against the ARM simulator through the real SDK client, since what goes on the wire is the point.
import * as fs from 'node:fs';
import { ClientSecretCredential } from '@azure/identity';
import { ComputeManagementClient } from '@azure/arm-compute';
import { startArmSimulator, type ArmSimulator } from '../arm-simulator/index.ts';
import { isPreconditionFailed } from '../../src/azure/arm-errors.ts';
import { planDataDisks, type DiskRequest } from '../../src/azure/data-disks.ts';
import { fetchMachine, updateDataDisks, type Machine, type MachineRef } from '../../src/azure/machines.ts';

let sim: ArmSimulator;
let client: ComputeManagementClient;
const signal = new AbortController().signal;
const ref: MachineRef = { kind: 'vm', resourceGroup: 'demo-rg', name: 'node-1' };
const OPTIONS = { removeOnDetach: false, machineName: 'node-1' };

beforeEach(async () => {
  sim = await startArmSimulator();
  const ca = fs.readFileSync(sim.caCertPath, 'utf8');
  const credential = new ClientSecretCredential(sim.tenantId, sim.clientId, sim.clientSecret, {
    authorityHost: sim.url,
    disableInstanceDiscovery: true,
    tlsOptions: { ca },
  });
  client = new ComputeManagementClient(credential, sim.subscriptionId, { endpoint: sim.url, credentials: { scopes: [`${sim.url}/.default`] }, tlsOptions: { ca } });
  sim.addVM({ name: 'node-1' });
  for (const name of ['theirs', 'mine', 'old']) sim.addDisk({ name, sizeGB: 8 });
});

afterEach(async () => {
  await sim.close();
});

const attach = (name: string): DiskRequest => ({ op: 'attach', diskUri: diskId(name), diskName: name, caching: 'None', writeAcceleratorEnabled: false });
const detach = (name: string, lun: number): DiskRequest => ({ op: 'detach', diskUri: diskId(name), lun });
const diskId = (name: string) => `/subscriptions/${sim.subscriptionId}/resourceGroups/${sim.resourceGroup}/providers/Microsoft.Compute/disks/${name}`;
const names = () => sim.getVM('node-1')?.properties.storageProfile.dataDisks.map((d) => `${d.lun}:${d.name}`).sort();

async function read(): Promise<Machine> {
  const machine = await fetchMachine(client, ref, signal);
  if (machine === undefined) throw new Error('no machine');
  return machine;
}

test('a write planned from a read another writer has since overtaken is refused (412), and drops nothing', async () => {
  const machine = await read();
  expect(machine.etag).toMatch(/^"\d+"$/);
  sim.attachDirectly('node-1', 'theirs', 0);
  const error = await updateDataDisks(client, machine, planDataDisks(machine.dataDisks, [attach('mine')], OPTIONS), signal).catch((e: unknown) => e);
  expect(isPreconditionFailed(error)).toBe(true);
  expect(names()).toEqual(['0:theirs']);
});

test('without an etag the change goes out as attachDetachDataDisks: another writer\'s disk stays', async () => {
  sim.attachDirectly('node-1', 'old', 2);
  const machine = { ...(await read()), etag: undefined };
  sim.attachDirectly('node-1', 'theirs', 5);
  const plan = planDataDisks(machine.dataDisks, [attach('mine'), detach('old', 2)], OPTIONS);
  const result = await updateDataDisks(client, machine, plan, signal);
  expect(names()).toEqual(['0:mine', '5:theirs']);
  expect(result.dataDisks.map((d) => `${d.lun}:${d.name}`).sort()).toEqual(['0:mine', '5:theirs']);
  expect(sim.count({ method: 'PUT' })).toBe(0);
  expect(sim.count({ method: 'POST', pathIncludes: '/attachDetachDataDisks' })).toBe(1);
});
