// Reads the driver log back into calls. Every line is `<ISO time> <driver> <call>[<pid>] <message>`
// (continuation lines indented by 4 spaces); a call opens with `call: <name> <JSON args…>` and
// closes with `reply: {…}`, and `init` (answered before the log is fully set up) has only its
// reply. Calls of concurrent processes interleave, so lines are grouped by driver, call and pid.
import * as fs from 'node:fs';
import { DRIVER_NAMES } from '../flexvolume/driver.ts';
import type { Reply } from '../flexvolume/reply.ts';

export interface LoggedCall {
  /** When the call started (its `call:` line), or answered for `init`. */
  time: string;
  driver: string;
  call: string;
  pid: number;
  /** The call's arguments as the kubelet passed them (secrets already redacted by the log). */
  args: string[];
  /** undefined: no reply was logged (killed at the kubelet's timeout, or still running). */
  reply: Reply | undefined;
  durationMs: number | undefined;
  /** The call's other log lines, first lines only: what it found and did. */
  notes: string[];
}

const LINE = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z) (\S+) (\S+)\[(\d+)\] (.*)$/;
const JSON_STRING = /"(?:[^"\\]|\\.)*"/y;

/** The arguments of a `call:` line: JSON strings separated by single spaces, then `(log …)`. */
function parseCallArgs(text: string): string[] {
  const args: string[] = [];
  let at = 0;
  while (text[at] === '"') {
    JSON_STRING.lastIndex = at;
    const match = JSON_STRING.exec(text);
    if (match === null) break;
    try {
      args.push(JSON.parse(match[0]) as string);
    } catch {
      break;
    }
    at = JSON_STRING.lastIndex + 1;
  }
  return args;
}

function parseReply(text: string): Reply | undefined {
  try {
    const reply = JSON.parse(text) as Reply;
    return typeof reply?.status === 'string' ? reply : undefined;
  } catch {
    return undefined;
  }
}

export function parseDriverLog(text: string): LoggedCall[] {
  const calls: LoggedCall[] = [];
  const open = new Map<string, LoggedCall>();
  for (const line of text.split('\n')) {
    if (line.startsWith('    ')) continue; // a continuation: child output, stack traces
    const match = LINE.exec(line);
    if (match === null) continue;
    const [, time = '', driver = '', call = '', pid = '', message = ''] = match;
    if (!(DRIVER_NAMES as readonly string[]).includes(driver)) continue;
    const key = `${driver} ${call} ${pid}`;
    if (message.startsWith('call: ')) {
      const rest = message.slice('call: '.length);
      const name = rest.split(' ', 1)[0] ?? call;
      const started: LoggedCall = { time, driver, call: name, pid: Number(pid), args: parseCallArgs(rest.slice(name.length + 1)), reply: undefined, durationMs: undefined, notes: [] };
      calls.push(started);
      open.set(key, started);
      continue;
    }
    let current = open.get(key);
    if (message.startsWith('reply: ')) {
      if (current === undefined) {
        current = { time, driver, call, pid: Number(pid), args: [], reply: undefined, durationMs: undefined, notes: [] };
        calls.push(current);
      }
      current.reply = parseReply(message.slice('reply: '.length));
      current.durationMs = Date.parse(time) - Date.parse(current.time);
      open.delete(key);
      continue;
    }
    current?.notes.push(message);
  }
  return calls;
}

/** The log and, before it, its rotated part: a volume's story may start before the rotation. */
export function readDriverLog(file: string): { text: string; files: string[] } {
  const files: string[] = [];
  let text = '';
  for (const candidate of [`${file}.1`, file]) {
    try {
      text += fs.readFileSync(candidate, 'utf8');
      files.push(candidate);
    } catch {
      // no rotated part yet, or no log at all
    }
  }
  return { text, files };
}
