// Runs the stand-in API server on its own, for the demo or manual poking with kubectl:
//   node test/kube-apiserver/main.ts [--port N] [--token T] [--no-binder] [--kubeconfig PATH]
// Prints one JSON line (url, token, kubeconfigPath, caCertPath) and serves until SIGTERM or SIGINT.
// With --kubeconfig the kubeconfig is also copied there (and left behind, for the next command).
import * as fs from 'node:fs';
import { parseArgs } from 'node:util';
import { CA_CERT_PATH, startKubeApiServer } from './index.ts';

const { values } = parseArgs({
  options: {
    port: { type: 'string' },
    token: { type: 'string' },
    'no-binder': { type: 'boolean' },
    kubeconfig: { type: 'string' },
  },
});

const port = values.port === undefined ? undefined : Number(values.port);
if (port !== undefined && (!Number.isInteger(port) || port < 0)) throw new Error(`--port: expected a whole number, got '${values.port}'`);
const api = await startKubeApiServer({ port, token: values.token, binder: !values['no-binder'] });
if (values.kubeconfig !== undefined) fs.copyFileSync(api.kubeconfigPath, values.kubeconfig);

console.log(JSON.stringify({ url: api.url, token: api.token, kubeconfigPath: values.kubeconfig ?? api.kubeconfigPath, caCertPath: CA_CERT_PATH }));

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    void api.close().then(() => process.exit(0));
  });
}
