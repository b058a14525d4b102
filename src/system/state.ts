// Small JSON records kept across calls (which disk a PV is, a cached VM read). Writes are atomic
// (temporary file, fsync, rename), so a crash leaves the old record or the new, never half of one.
// A cache may skip the fsync: a record a power loss leaves empty fails to parse, which reads as
// missing, and what is missing is read again.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { entryPath } from './entry-path.ts';

export interface RecordStoreOptions {
  /** fsync each record before it replaces the old one; false only for what can be read again. */
  durable?: boolean;
}

export class RecordStore<T> {
  readonly dir: string;
  private readonly durable: boolean;

  constructor(dir: string, options: RecordStoreOptions = {}) {
    this.dir = dir;
    this.durable = options.durable ?? true;
  }

  private file(key: string): string {
    return entryPath(this.dir, `${encodeURIComponent(key).replace(/\./g, '%2E')}.json`);
  }

  read(key: string): T | undefined {
    try {
      return JSON.parse(fs.readFileSync(this.file(key), 'utf8')) as T;
    } catch {
      return undefined;
    }
  }

  write(key: string, value: T): void {
    fs.mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    const target = this.file(key);
    const temporary = entryPath(this.dir, `.${path.basename(target)}.${process.pid}.tmp`);
    const fd = fs.openSync(temporary, 'w', 0o600);
    try {
      fs.writeSync(fd, JSON.stringify(value));
      if (this.durable) fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(temporary, target);
  }

  delete(key: string): void {
    fs.rmSync(this.file(key), { force: true });
  }

  keys(): string[] {
    try {
      return fs
        .readdirSync(this.dir)
        .filter((name) => name.endsWith('.json') && !name.startsWith('.'))
        .map((name) => decodeURIComponent(name.slice(0, -'.json'.length)));
    } catch {
      return [];
    }
  }
}
