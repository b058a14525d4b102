// `tail -F` of the driver's log for the installer's pod, so `kubectl logs` shows what the kubelet's
// calls did on that node. Polling (not inotify) survives the log's rotation to `<file>.1`, a file
// that does not exist yet, and hostPath mounts where events do not cross.
import * as fs from 'node:fs';

export interface FollowOptions {
  file: string;
  write(text: string): void;
  signal: AbortSignal;
  pollMs?: number;
  /** Lines of history shown when the file is first opened. */
  historyLines?: number;
  /** Lines not to show (the installer's own, already printed). */
  skipLine?: (line: string) => boolean;
}

interface Opened {
  fd: number;
  ino: number;
  position: number;
}

const HISTORY_BYTES = 64 * 1024;
const READ_BYTES = 256 * 1024;

export async function followLog(options: FollowOptions): Promise<void> {
  const pollMs = options.pollMs ?? 500;
  let opened: Opened | undefined;
  let partial = '';
  let first = true;

  const emit = (text: string): void => {
    const lines = (partial + text).split('\n');
    partial = lines.pop() ?? '';
    const shown = lines.filter((line) => !(options.skipLine?.(line) ?? false));
    if (shown.length > 0) options.write(`${shown.join('\n')}\n`);
  };

  const drain = (current: Opened): void => {
    const size = fs.fstatSync(current.fd).size;
    // Truncated in place: start over from its beginning.
    if (size < current.position) current.position = 0;
    while (current.position < size) {
      const buffer = Buffer.alloc(Math.min(READ_BYTES, size - current.position));
      const read = fs.readSync(current.fd, buffer, 0, buffer.length, current.position);
      if (read === 0) break;
      current.position += read;
      emit(buffer.toString('utf8', 0, read));
    }
  };

  const open = (): Opened | undefined => {
    const atStart = first;
    first = false;
    let fd: number;
    try {
      fd = fs.openSync(options.file, 'r');
    } catch {
      // A file created later is read from its beginning.
      return undefined;
    }
    const stat = fs.fstatSync(fd);
    let position = 0;
    if (atStart) {
      position = stat.size;
      const history = options.historyLines ?? 20;
      if (history > 0 && stat.size > 0) {
        const start = Math.max(0, stat.size - HISTORY_BYTES);
        const buffer = Buffer.alloc(stat.size - start);
        fs.readSync(fd, buffer, 0, buffer.length, start);
        const lines = buffer.toString('utf8').split('\n');
        lines.pop();
        if (start > 0) lines.shift();
        emit(lines.slice(-history).map((line) => `${line}\n`).join(''));
      }
    }
    return { fd, ino: stat.ino, position };
  };

  try {
    while (!options.signal.aborted) {
      opened ??= open();
      if (opened !== undefined) {
        drain(opened);
        let currentIno: number | undefined;
        try {
          currentIno = fs.statSync(options.file).ino;
        } catch {
          currentIno = undefined;
        }
        if (currentIno !== opened.ino) {
          // Rotated or removed: what is left in the old file was read above; follow the new one.
          fs.closeSync(opened.fd);
          opened = undefined;
          if (currentIno !== undefined) continue;
        }
      }
      await sleep(pollMs, options.signal);
    }
    if (opened !== undefined) drain(opened);
    if (partial !== '') emit('\n');
  } finally {
    if (opened !== undefined) fs.closeSync(opened.fd);
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
  });
}
