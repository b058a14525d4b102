// The driver's log: a size-capped file, never stdout or stderr (the kubelet parses those as the
// reply). Secrets are redacted before a line is written, wherever it came from.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export const DEFAULT_LOG_FILE = '/var/log/azure-flexvolume.log';
const MAX_LOG_BYTES = 10 * 1024 * 1024;
const MAX_LINE_CHARS = 16 * 1024;

// Values of `key=value` pairs and JSON members that carry secrets, whatever wrote them. Each pattern
// runs only on a line that holds one of its hints (lower case): most lines hold none, and a
// pattern's first run costs V8 a compile (~0.2 ms of every call for the four).
const SECRET_PATTERNS: { hints: readonly string[]; pattern: RegExp }[] = [
  {
    hints: ['pass', 'accountkey', 'client_', 'aadclient'],
    pattern:
      /((?:password|passwd|accountkey|azurestorageaccountkey|client_secret|client_assertion|aadClientSecret|aadClientCertPassword)"?\s*[=:]\s*"?)[^,\s"&]+/gi,
  },
  { hints: ['kubernetes.io/secret/'], pattern: /("kubernetes\.io\/secret\/[^"]+"\s*:\s*")[^"]*/g },
  // The same member inside a JSON string, as the call line logs the options argument.
  { hints: ['kubernetes.io/secret/'], pattern: /(\\"kubernetes\.io\/secret\/[^"\\]+\\"\s*:\s*\\")[^"\\]*/g },
  { hints: ['bearer'], pattern: /(Bearer\s+)[A-Za-z0-9._~+/=-]+/g },
];

interface LogState {
  file: string | undefined;
  toStdout: boolean;
  mirrorToStderr: boolean;
  prefix: string;
  secrets: Set<string>;
}

const state: LogState = { file: undefined, toStdout: false, mirrorToStderr: false, prefix: `[${process.pid}]`, secrets: new Set() };

export interface LogSetup {
  file?: string;
  /** For a person at a terminal (`--verbose`); never set when the kubelet calls. */
  mirrorToStderr?: boolean;
  /** Names the driver and call on every line so one file can serve all drivers. */
  prefix?: string;
  /** A pod's main process (the provisioner) logs to stdout, never a driver call. */
  toStdout?: boolean;
}

export function configureLog(setup: LogSetup): void {
  if (setup.file !== undefined) state.file = setup.file;
  if (setup.mirrorToStderr !== undefined) state.mirrorToStderr = setup.mirrorToStderr;
  if (setup.prefix !== undefined) state.prefix = `${setup.prefix}[${process.pid}]`;
  if (setup.toStdout !== undefined) state.toStdout = setup.toStdout;
}

export function logFile(): string {
  return state.file ?? process.env.FLEXVOLUME_LOG_FILE ?? DEFAULT_LOG_FILE;
}

/** Registers a value (a storage key, a client secret) that must never appear in the log or a reply. */
export function redactValue(secret: string): void {
  if (secret !== '') state.secrets.add(secret);
}

/**
 * A value this short would, as plain text, also match inside unrelated words: it is redacted
 * where it stands as a token of its own.
 */
const SHORT_SECRET_CHARS = 4;
const escapeRegExp = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

export function redact(text: string): string {
  let out = text;
  for (const secret of state.secrets) {
    out =
      secret.length >= SHORT_SECRET_CHARS
        ? out.split(secret).join('***')
        : out.replace(new RegExp(`(?<![A-Za-z0-9+/=_-])${escapeRegExp(secret)}(?![A-Za-z0-9+/=_-])`, 'g'), '***');
  }
  // A replacement only puts *** where a value was: it never brings a hint into the line.
  const lower = out.toLowerCase();
  for (const { hints, pattern } of SECRET_PATTERNS) {
    if (hints.some((hint) => lower.includes(hint))) out = out.replace(pattern, '$1***');
  }
  return out;
}

export function log(message: string): void {
  let text = redact(message);
  if (text.length > MAX_LINE_CHARS) text = `${text.slice(0, MAX_LINE_CHARS)}… (${text.length} chars)`;
  const line = `${timestamp(new Date())} ${state.prefix} ${text.replace(/\n(?!$)/g, '\n    ')}\n`;
  if (state.toStdout) writeLine(1, line);
  else appendCapped(line);
  if (state.mirrorToStderr) writeLine(2, line);
}

const pad = (value: number, width = 2): string => String(value).padStart(width, '0');

/**
 * What toISOString() gives, built from the UTC fields: toISOString's first use loads the local
 * time zone (~0.2 ms of every call) for a string that never shows it.
 */
export function timestamp(date: Date): string {
  const day = `${date.getUTCFullYear()}-${pad(date.getUTCMonth() + 1)}-${pad(date.getUTCDate())}`;
  return `${day}T${pad(date.getUTCHours())}:${pad(date.getUTCMinutes())}:${pad(date.getUTCSeconds())}.${pad(date.getUTCMilliseconds(), 3)}Z`;
}

function writeLine(fd: number, line: string): void {
  try {
    fs.writeSync(fd, line);
  } catch {
    // A closed stream must not turn into a crash.
  }
}

let fallbackChosen = false;
let open: { file: string; fd: number } | undefined;

/**
 * Opened once per process (and rotated then, if full): each call writes a few lines at most.
 * Never through a symlink: one planted where the log goes would have a root process append to
 * whatever file it names.
 */
function descriptorFor(file: string): number {
  if (open?.file === file) return open.fd;
  if (open) fs.closeSync(open.fd);
  rotateIfFull(file);
  const { O_WRONLY, O_APPEND, O_CREAT, O_NOFOLLOW } = fs.constants;
  open = { file, fd: fs.openSync(file, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW, 0o600) };
  return open.fd;
}

function appendCapped(line: string): void {
  const file = logFile();
  try {
    fs.writeSync(descriptorFor(file), line);
  } catch {
    // An unwritable log (not root, read-only /var/log) falls back to a file in a directory of the
    // user's own; a log that cannot be written at all is dropped rather than printed.
    if (fallbackChosen) return;
    fallbackChosen = true;
    const dir = privateFallbackDir();
    if (dir === undefined) return;
    state.file = path.join(dir, 'azure-flexvolume.log');
    appendCapped(line);
  }
}

/**
 * `<tmp>/azure-flexvolume-<uid>`, only when it is a real directory this user owns and nobody
 * else can write to: in a world-writable temp dir anyone may have made it first.
 */
function privateFallbackDir(): string | undefined {
  const uid = process.getuid?.() ?? 0;
  const dir = path.join(os.tmpdir(), `azure-flexvolume-${uid}`);
  try {
    fs.mkdirSync(dir, { mode: 0o700 });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') return undefined;
  }
  try {
    const stat = fs.lstatSync(dir);
    return stat.isDirectory() && stat.uid === uid && (stat.mode & 0o077) === 0 ? dir : undefined;
  } catch {
    return undefined;
  }
}

function rotateIfFull(file: string): void {
  let size: number;
  try {
    size = fs.lstatSync(file).size;
  } catch {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    return;
  }
  if (size > MAX_LOG_BYTES) fs.renameSync(file, `${file}.1`);
}
