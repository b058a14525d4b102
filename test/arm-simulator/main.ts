// Runs the ARM simulator on its own, for a demo or manual poking:
//   node test/arm-simulator/main.ts [--port N] [--latency-ms N] [--vm NAME]... [--disk NAME:SIZE_GB]... [--local-vm NAME]
// Prints one JSON line (url, caCertPath, credentials) and serves until SIGTERM or SIGINT.
import { parseArgs } from 'node:util';
import { startArmSimulator } from './index.ts';

const { values } = parseArgs({
  options: {
    port: { type: 'string' },
    'latency-ms': { type: 'string' },
    vm: { type: 'string', multiple: true },
    disk: { type: 'string', multiple: true },
    'local-vm': { type: 'string' },
  },
});

const sim = await startArmSimulator({
  port: numberOption('port', values.port),
  updateLatencyMs: numberOption('latency-ms', values['latency-ms']),
});
for (const name of values.vm ?? []) sim.addVM({ name });
for (const spec of values.disk ?? []) {
  const [name = '', size] = spec.split(':');
  sim.addDisk({ name, sizeGB: numberOption('disk', size) ?? 8 });
}
if (values['local-vm'] !== undefined) sim.setLocalInstance({ vmName: values['local-vm'] });

console.log(
  JSON.stringify({
    url: sim.url,
    caCertPath: sim.caCertPath,
    tenantId: sim.tenantId,
    subscriptionId: sim.subscriptionId,
    resourceGroup: sim.resourceGroup,
    location: sim.location,
    clientId: sim.clientId,
    clientSecret: sim.clientSecret,
  }),
);

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    void sim.close().then(() => process.exit(0));
  });
}

function numberOption(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 0) throw new Error(`--${name}: expected a whole number, got '${value}'`);
  return parsed;
}
