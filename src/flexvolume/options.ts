// The options JSON, parsed once at the edge. The kubelet builds it with Go's json.Marshal from a
// map[string]string: reserved keys under kubernetes.io/, then the user's flexVolume.options.
import * as z from 'zod/mini';
import en from 'zod/v4/locales/en.js';
import { InvalidInput } from './errors.ts';

// The drivers' schemas use zod/mini: a driver call is one short process, and zod's classic API
// builds its every method on every schema and evaluates all of them at load (~2 ms of each call,
// measured side by side with `node -e 0`); mini builds what is used. Its messages need the locale.
// A call parses one document and exits, so zod's just-in-time object parsers (compiled with new
// Function on a schema's first use) cost more to build than they save. This is the drivers' own
// copy of zod (src/cli-loader.ts COPIED_PACKAGES); the long-running provisioner keeps its JIT.
z.config({ ...en(), jitless: true });

/** Far above any real options document, well below Linux's 128 KiB cap on one argv string. */
export const MAX_OPTIONS_BYTES = 64 * 1024;

const KEY = {
  fsType: 'kubernetes.io/fsType',
  readWrite: 'kubernetes.io/readwrite',
  volumeName: 'kubernetes.io/pvOrVolumeName',
  podName: 'kubernetes.io/pod.name',
  podNamespace: 'kubernetes.io/pod.namespace',
  podUid: 'kubernetes.io/pod.uid',
  serviceAccount: 'kubernetes.io/serviceAccount.name',
  fsGroup: 'kubernetes.io/mounterArgs.FsGroup',
  legacyFsGroup: 'kubernetes.io/fsGroup',
  secretPrefix: 'kubernetes.io/secret/',
} as const;

const RESERVED_NAMESPACE = /^([^/]*\.)?(kubernetes\.io|k8s\.io)\//;

/**
 * A schema built on first use and kept: building zod schemas is most of what loading the
 * drivers costs, and a call uses few of them (unmount none).
 */
export function lazily<T>(build: () => T): () => T {
  let built: T | undefined;
  return () => (built ??= build());
}

/**
 * One of Azure's names (a SKU, a caching mode), accepted in any letter case and given back as
 * Azure spells it: `readonly` is `ReadOnly`. `what` names the kind for the error.
 */
export function caselessEnum<T extends readonly [string, ...string[]]>(values: T, what: string) {
  return z.pipe(
    normalizedString((text) => values.find((value) => value.toLowerCase() === text.trim().toLowerCase()) ?? text),
    z.enum(values, { error: `must be ${what}: ${values.join(', ')}` }),
  );
}

/** A string as `normalize` gives it back (trimmed, lower-cased, unbracketed). */
export function normalizedString(normalize: (text: string) => string) {
  return z.pipe(z.string(), z.transform(normalize));
}

/** A string normalized, then checked by `valid`; `message` says what it must be. */
export function checkedString(normalize: (text: string) => string, valid: (text: string) => boolean, message: string) {
  return normalizedString(normalize).check(z.refine(valid, { message }));
}

const baseOptions = lazily(() =>
  z.object({
    [KEY.fsType]: z._default(z.string(), ''),
    [KEY.readWrite]: z._default(z.enum(['rw', 'ro'], { error: `'${KEY.readWrite}' must be "rw" or "ro"` }), 'rw'),
    [KEY.volumeName]: z._default(
      z.string().check(z.regex(/^[^/\x00-\x1f]{0,253}$/, `'${KEY.volumeName}' must be a PV or volume name without '/'`)),
      '',
    ),
  }),
);

const decimalId = (key: string) =>
  z.optional(z.pipe(z.string().check(z.regex(/^\d{1,10}$/, `'${key}' must be a decimal group id`)), z.transform(Number)));

const mountExtras = lazily(() =>
  z.object({
    [KEY.podName]: z.optional(z.string()),
    [KEY.podNamespace]: z.optional(z.string()),
    [KEY.podUid]: z.optional(z.string()),
    [KEY.serviceAccount]: z.optional(z.string()),
    [KEY.fsGroup]: decimalId(KEY.fsGroup),
    [KEY.legacyFsGroup]: decimalId(KEY.legacyFsGroup),
  }),
);

/** What every call with a JSON argument receives. */
export interface VolumeOptions {
  /** `""` when the PV left fsType empty; each driver applies its own default. */
  fsType: string;
  readOnly: boolean;
  /** The PV name, or the pod's volume name for inline volumes. */
  volumeName: string;
  /** The user's own flexVolume.options, all strings, reserved keys removed. */
  user: Record<string, string>;
}

export interface PodInfo {
  name: string;
  namespace: string;
  uid: string;
  serviceAccount: string;
}

/** What `mount` receives on top: the pod, its Secret (decoded) and its fsGroup. */
export interface MountOptions extends VolumeOptions {
  pod: PodInfo | undefined;
  /** Secret keys to decoded values, trimmed of whitespace and carriage returns. */
  secrets: Record<string, string>;
  fsGroup: number | undefined;
}

function formatIssues(error: z.core.$ZodError): string {
  return error.issues.map((issue) => issue.message).join('; ');
}

function parseDocument(text: string): Record<string, string> {
  if (Buffer.byteLength(text) > MAX_OPTIONS_BYTES) {
    throw new InvalidInput(`the options argument is ${Buffer.byteLength(text)} bytes; at most ${MAX_OPTIONS_BYTES} are accepted`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new InvalidInput(`the options argument is not valid JSON (${(error as Error).message}): ${text.slice(0, 80)}`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new InvalidInput('the options argument must be a JSON object of strings, as the kubelet passes it');
  }
  for (const [key, member] of Object.entries(value)) {
    if (typeof member !== 'string') {
      throw new InvalidInput(`option '${key}' must be a string (the kubelet passes every option as a string)`);
    }
  }
  return value as Record<string, string>;
}

function userOptionsOf(document: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(document).filter(([key]) => !RESERVED_NAMESPACE.test(key)));
}

export function parseVolumeOptions(text: string): VolumeOptions {
  const document = parseDocument(text);
  const base = baseOptions().safeParse(document);
  if (!base.success) throw new InvalidInput(formatIssues(base.error));
  return {
    fsType: base.data[KEY.fsType],
    readOnly: base.data[KEY.readWrite] === 'ro',
    volumeName: base.data[KEY.volumeName],
    user: userOptionsOf(document),
  };
}

export function parseMountOptions(text: string): MountOptions {
  const volume = parseVolumeOptions(text);
  const document = JSON.parse(text) as Record<string, string>;
  const extras = mountExtras().safeParse(document);
  if (!extras.success) throw new InvalidInput(formatIssues(extras.error));
  const podName = extras.data[KEY.podName];
  return {
    ...volume,
    pod:
      podName === undefined
        ? undefined
        : {
            name: podName,
            namespace: extras.data[KEY.podNamespace] ?? '',
            uid: extras.data[KEY.podUid] ?? '',
            serviceAccount: extras.data[KEY.serviceAccount] ?? '',
          },
    secrets: decodeSecrets(document),
    fsGroup: extras.data[KEY.fsGroup] ?? extras.data[KEY.legacyFsGroup],
  };
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

function decodeSecrets(document: Record<string, string>): Record<string, string> {
  const secrets: Record<string, string> = {};
  for (const [key, encoded] of Object.entries(document)) {
    if (!key.startsWith(KEY.secretPrefix)) continue;
    const name = key.slice(KEY.secretPrefix.length);
    const compact = encoded.replace(/\s+/g, '');
    if (!BASE64.test(compact) || compact.length % 4 === 1) {
      throw new InvalidInput(`secret key '${name}' is not base64 as the kubelet sends it; check the Secret's data`);
    }
    secrets[name] = Buffer.from(compact, 'base64').toString('utf8').replace(/^[\s\r\n]+|[\s\r\n]+$/g, '');
  }
  return secrets;
}

/**
 * Parses a driver's own options (the user's flexVolume.options). Keys match case-insensitively
 * (`sharename` is `shareName`), and an unknown key is an error rather than silently ignored, so a
 * typo shows up in `kubectl describe` instead of as a wrong mount. The provisioner's own schemas
 * (zod classic) go through here as well.
 */
export function parseDriverOptions<Schema extends z.core.$ZodObject>(schemaOf: () => Schema, user: Record<string, string>): z.output<Schema> {
  const schema = schemaOf();
  const known = Object.keys(schema._zod.def.shape);
  const canonical = new Map(known.map((key) => [key.toLowerCase(), key]));
  const input: Record<string, string> = {};
  for (const [key, value] of Object.entries(user)) {
    const name = canonical.get(key.toLowerCase());
    if (name === undefined) {
      throw new InvalidInput(`unknown option '${key}'; this driver takes: ${known.join(', ')}`);
    }
    input[name] = value;
  }
  const parsed = z.safeParse(schema, input);
  if (!parsed.success) {
    throw new InvalidInput(
      parsed.error.issues
        .map((issue) => {
          const key = issue.path.join('.');
          return issue.code === 'invalid_type' && input[key] === undefined
            ? `option '${key}' is required`
            : `option '${key}': ${issue.message}`;
        })
        .join('; '),
    );
  }
  return parsed.data;
}
