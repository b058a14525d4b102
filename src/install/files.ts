// File operations that the kubelet's plugin watcher can never catch half done: everything is
// written under a dot-prefixed temporary name (the prober ignores those), synced, given its mode,
// and only then renamed onto the name the prober acts on. Reads and comparisons never modify.
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Patch } from './elf.ts';

const CHUNK_BYTES = 1 << 20;

/**
 * Bytes to install, produced chunk by chunk so a 100 MiB executable is never held in memory. A
 * chunk is only valid until the next one is asked for: consumers use it synchronously.
 */
export interface Content {
  size: number;
  chunks(): Iterable<Buffer>;
}

export function bufferContent(buffer: Buffer): Content {
  return { size: buffer.length, chunks: () => [buffer] };
}

/** A file's bytes with patches laid over them. */
export function patchedFileContent(file: string, patches: readonly Patch[]): Content {
  return {
    size: fs.statSync(file).size,
    *chunks(): Iterable<Buffer> {
      const fd = fs.openSync(file, 'r');
      const chunk = Buffer.alloc(CHUNK_BYTES);
      try {
        for (let position = 0; ; ) {
          const read = fs.readSync(fd, chunk, 0, CHUNK_BYTES, position);
          if (read === 0) return;
          for (const patch of patches) overlay(chunk, position, patch);
          yield chunk.subarray(0, read);
          position += read;
        }
      } finally {
        fs.closeSync(fd);
      }
    },
  };
}

function overlay(chunk: Buffer, chunkStart: number, patch: Patch): void {
  const start = Math.max(patch.offset, chunkStart);
  const end = Math.min(patch.offset + patch.bytes.length, chunkStart + chunk.length);
  if (start < end) patch.bytes.copy(chunk, start - chunkStart, start - patch.offset, end - patch.offset);
}

/** The name a file is prepared under before it is renamed onto `target`. */
export function temporaryNameFor(target: string): string {
  return path.join(path.dirname(target), `.${path.basename(target)}.tmp-${crypto.randomBytes(4).toString('hex')}`);
}

/** Leftovers of an interrupted run, recognised by exactly the pattern temporaryNameFor makes. */
export function isTemporaryName(name: string, of: (original: string) => boolean): boolean {
  const match = /^\.(.+)\.tmp-[0-9a-f]{8}$/.exec(name);
  return match !== null && of(match[1] as string);
}

export function fileMatches(file: string, content: Content, mode: number): boolean {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(file);
  } catch {
    return false;
  }
  if (!stat.isFile() || stat.size !== content.size || (stat.mode & 0o7777) !== mode) return false;
  const fd = fs.openSync(file, 'r');
  const buffer = Buffer.alloc(CHUNK_BYTES);
  try {
    let position = 0;
    for (const expected of content.chunks()) {
      const actual = expected.length <= buffer.length ? buffer.subarray(0, expected.length) : Buffer.alloc(expected.length);
      if (fs.readSync(fd, actual, 0, expected.length, position) !== expected.length || !actual.equals(expected)) return false;
      position += expected.length;
    }
    return true;
  } finally {
    fs.closeSync(fd);
  }
}

/** Writes `content` to a temporary name beside `target`, synced and with its final mode; returns that name. */
export function writeTemporary(target: string, content: Content, mode: number): string {
  const temporary = temporaryNameFor(target);
  const fd = fs.openSync(temporary, 'wx', 0o600);
  try {
    for (const chunk of content.chunks()) {
      for (let written = 0; written < chunk.length; ) written += fs.writeSync(fd, chunk, written);
    }
    fs.fsyncSync(fd);
    fs.fchmodSync(fd, mode);
  } catch (error) {
    fs.closeSync(fd);
    fs.rmSync(temporary, { force: true });
    throw error;
  }
  fs.closeSync(fd);
  return temporary;
}

/** Renames a prepared file onto `target` and makes the rename itself durable. */
export function publish(temporary: string, target: string): void {
  fs.renameSync(temporary, target);
  syncDirectory(path.dirname(target));
}

export function writeFileAtomically(target: string, content: Content, mode: number): void {
  publish(writeTemporary(target, content, mode), target);
}

/** Makes `target` another name of `existing`'s inode, replacing whatever `target` was in one step. */
export function linkAtomically(existing: string, target: string): void {
  const temporary = temporaryNameFor(target);
  fs.linkSync(existing, temporary);
  // rename() between two names of one inode does nothing and leaves both; drop the spare name.
  publish(temporary, target);
  fs.rmSync(temporary, { force: true });
}

export function sameInode(a: string, b: string): boolean {
  try {
    const [first, second] = [fs.statSync(a), fs.statSync(b)];
    return first.dev === second.dev && first.ino === second.ino;
  } catch {
    return false;
  }
}

export function syncDirectory(dir: string): void {
  const fd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}
