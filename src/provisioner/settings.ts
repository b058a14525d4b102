// The provisioner's command line, parsed once with zod. Defaults are the sig-storage library's
// (docs/provisioner.md §4, §6); tests shorten the waits.
import * as os from 'node:os';
import { parseArgs } from 'node:util';
import * as z from 'zod';
import { DRIVER_NAMES } from '../flexvolume/driver.ts';

const ms = (fallback: number) => z.coerce.number().int().min(1).default(fallback);

const schema = z.object({
  kubeconfig: z.string().optional(),
  namespace: z.string().min(1),
  identity: z.string().min(1),
  'azure-config': z.string().min(1),
  drivers: z
    .string()
    .transform((list) => list.split(',').map((name) => name.trim()).filter((name) => name !== ''))
    .pipe(z.array(z.enum(DRIVER_NAMES, { error: `must list drivers among ${DRIVER_NAMES.join(', ')}` })).min(1)),
  listen: z
    .string()
    .regex(/^([^:]*):(\d{1,5})$/, 'must be host:port, such as :8080 or 127.0.0.1:0')
    .transform((text) => {
      const [, host = '', port = '0'] = /^([^:]*):(\d{1,5})$/.exec(text) ?? [];
      return { host: host === '' ? '0.0.0.0' : host, port: Number(port) };
    }),
  workers: z.coerce.number().int().min(1).max(64).default(4),
  'retry-base-ms': ms(15_000),
  'retry-max-ms': ms(1_000_000),
  'resync-ms': ms(15 * 60_000),
  'save-tries': z.coerce.number().int().min(1).default(5),
  'save-interval-ms': ms(10_000),
  'lease-duration-ms': ms(15_000),
  'renew-deadline-ms': ms(10_000),
  'retry-period-ms': ms(2_000),
  'operation-timeout-ms': ms(10 * 60_000),
  'state-dir': z.string().min(1),
  'mount-dir': z.string().min(1),
});

export type ProvisionerSettings = z.infer<typeof schema>;

export const USAGE = `Usage: flexvolume provisioner [options]

  --kubeconfig FILE          kubeconfig to use (default: the pod's in-cluster service account)
  --namespace NS             namespace of the Lease (default: $POD_NAMESPACE, else kube-system)
  --identity NAME            this replica's name in the Lease (default: $POD_NAME, else the host name)
  --azure-config FILE        azure.json (default: $AZURE_CREDENTIAL_FILE, else /etc/kubernetes/azure.json)
  --drivers LIST             drivers to serve (default: azuredisk,azurefile,nfs)
  --listen HOST:PORT         /healthz and /metrics (default: :8080)
  --workers N                claims worked on at once (default: 4)
  --retry-base-ms MS         first retry after a failure, doubling per failure (default: 15000)
  --retry-max-ms MS          longest wait between retries (default: 1000000)
  --resync-ms MS             every claim and volume looked at again (default: 900000)
  --lease-duration-ms MS, --renew-deadline-ms MS, --retry-period-ms MS
                             leader election (defaults: 15000, 10000, 2000)
  --mount-dir DIR            where nfs exports are mounted to make subdirectories (default: /tmp/azure-flexvolume-provisioner/mounts)
`;

export function parseProvisionerSettings(args: readonly string[], env: NodeJS.ProcessEnv = process.env): ProvisionerSettings | 'help' {
  const options = Object.fromEntries(Object.keys(schema.shape).map((name) => [name, { type: 'string' as const }]));
  const { values } = parseArgs({ args: [...args], options: { ...options, help: { type: 'boolean' } }, strict: true, allowPositionals: false });
  if (values['help'] === true) return 'help';
  const parsed = schema.safeParse({
    namespace: env.POD_NAMESPACE ?? 'kube-system',
    identity: env.POD_NAME ?? os.hostname(),
    'azure-config': env.AZURE_CREDENTIAL_FILE ?? '/etc/kubernetes/azure.json',
    drivers: DRIVER_NAMES.join(','),
    listen: ':8080',
    'state-dir': '/tmp/azure-flexvolume-provisioner',
    'mount-dir': '/tmp/azure-flexvolume-provisioner/mounts',
    ...values,
  });
  if (!parsed.success) {
    throw new Error(parsed.error.issues.map((issue) => `--${issue.path.join('.')}: ${issue.message}`).join('; '));
  }
  return parsed.data;
}
