// Calls the built executable exactly as the kubelet's DriverCall does: argv built from the call's
// arguments, options JSON bytes as Go's json.Marshal writes them, stdin /dev/null, stdout and
// stderr merged into ONE pipe (CombinedOutput), and the result decoded as strictly as Go's
// json.Unmarshal into DriverStatus.
import { spawn } from 'node:child_process';

/** Go's json.Marshal of a map[string]string: sorted keys, no spaces, HTML characters escaped. */
export function goJson(options: Record<string, string>): string {
  const sorted = Object.keys(options).sort((a, b) => (Buffer.compare(Buffer.from(a), Buffer.from(b))));
  const body = sorted.map((key) => `${JSON.stringify(key)}:${JSON.stringify(options[key])}`).join(',');
  return `{${body}}`
    .replace(/</g, '\\u003c')
    .replace(/>/g, '\\u003e')
    .replace(/&/g, '\\u0026')
    .replace(/\u2028/g, '\\u2028')
    .replace(/\u2029/g, '\\u2029');
}

/** The options the kubelet sends with every JSON-carrying call (protocol doc 3.1). */
export function baseOptions(fields: { fsType?: string; readOnly?: boolean; volumeName?: string } = {}): Record<string, string> {
  return {
    'kubernetes.io/fsType': fields.fsType ?? '',
    'kubernetes.io/pvOrVolumeName': fields.volumeName ?? 'pv-test',
    'kubernetes.io/readwrite': fields.readOnly ? 'ro' : 'rw',
  };
}

/** What `mount` adds: pod info, secrets (base64) and fsGroup (protocol doc 3.2). */
export function mountOptions(
  user: Record<string, string>,
  extra: { readOnly?: boolean; volumeName?: string; secrets?: Record<string, string>; fsGroup?: number } = {},
): Record<string, string> {
  const options: Record<string, string> = {
    ...baseOptions(extra),
    'kubernetes.io/pod.name': 'web-0',
    'kubernetes.io/pod.namespace': 'default',
    'kubernetes.io/pod.uid': '7f0c6d3e-1111-4a4a-9c9c-000000000001',
    'kubernetes.io/serviceAccount.name': 'default',
  };
  for (const [key, value] of Object.entries(extra.secrets ?? {})) {
    options[`kubernetes.io/secret/${key}`] = Buffer.from(value, 'utf8').toString('base64');
  }
  if (extra.fsGroup !== undefined) options['kubernetes.io/mounterArgs.FsGroup'] = String(extra.fsGroup);
  return { ...options, ...user };
}

export interface DriverStatus {
  status: string;
  message?: string;
  device?: string;
  volumeName?: string;
  attached?: boolean;
  capabilities?: Record<string, boolean>;
}

export interface CallResult extends DriverStatus {
  exitCode: number | null;
  output: string;
  durationMs: number;
}

const FIELD_TYPES: Record<string, string> = {
  status: 'string',
  message: 'string',
  device: 'string',
  volumeName: 'string',
  attached: 'boolean',
  capabilities: 'object',
  volumeNewSize: 'number',
};

const CAPABILITIES = ['attach', 'selinuxRelabel', 'supportsMetrics', 'fsGroup', 'requiresFSResize'];

/** Decodes like Go would, but stricter about what our driver must never do (unknown keys, null). */
export function decodeDriverStatus(output: string, exitCode: number | null): DriverStatus {
  if (output.charCodeAt(0) === 0xfeff) throw new Error('output starts with a BOM');
  const parsed: unknown = JSON.parse(output);
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error(`not a JSON object: ${output}`);
  for (const [key, value] of Object.entries(parsed)) {
    const expected = FIELD_TYPES[key];
    if (expected === undefined) throw new Error(`unknown field ${key} in ${output}`);
    if (value === null || typeof value !== expected) throw new Error(`field ${key} is ${JSON.stringify(value)}, not a ${expected}`);
  }
  const status = parsed as DriverStatus;
  if (status.capabilities !== undefined) {
    for (const [key, value] of Object.entries(status.capabilities)) {
      if (!CAPABILITIES.includes(key) || typeof value !== 'boolean') throw new Error(`capability ${key}=${JSON.stringify(value)}`);
    }
  }
  if (status.status === 'Success' && exitCode !== 0) throw new Error(`driver bug: Success with exit code ${exitCode}`);
  if (status.status === 'Not supported' && exitCode !== 0) throw new Error(`Not supported with exit code ${exitCode}`);
  return status;
}

export interface CallOptions {
  env?: NodeJS.ProcessEnv;
  timeoutMs?: number;
}

/** Runs `<executable> <command> <args...>` and returns the decoded reply. */
export async function callDriver(executable: string, args: readonly string[], options: CallOptions = {}): Promise<CallResult> {
  const started = Date.now();
  // sh merges stderr into the stdout pipe, then execs the driver with argv untouched: one buffer
  // in write order, closed only when every holder of the pipe is gone, as CombinedOutput does.
  const child = spawn('/bin/sh', ['-c', 'exec "$@" 2>&1', 'sh', executable, ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: options.env ?? process.env,
  });
  const chunks: Buffer[] = [];
  child.stdout.on('data', (chunk: Buffer) => chunks.push(chunk));
  const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 120_000);
  const exitCode = await new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  clearTimeout(timer);
  const output = Buffer.concat(chunks).toString('utf8');
  let status: DriverStatus;
  try {
    status = decodeDriverStatus(output.trim(), exitCode);
  } catch (error) {
    throw new Error(`${args[0]} reply is not what the kubelet accepts: ${(error as Error).message}\n--- output ---\n${output}`);
  }
  return { ...status, exitCode, output, durationMs: Date.now() - started };
}
