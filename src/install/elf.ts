// Just enough of ELF (64-bit, little-endian) to read and rewrite in place what the dynamic loader
// looks at: the program interpreter, the library search path, the libraries a file needs and the
// name a library answers to. Only the headers are read, never the whole 100 MiB executable.
import * as fs from 'node:fs';
import { DriverError } from '../flexvolume/errors.ts';

const PT_LOAD = 1;
const PT_DYNAMIC = 2;
const PT_INTERP = 3;
const DT_NULL = 0n;
const DT_NEEDED = 1n;
const DT_STRTAB = 5n;
const DT_SONAME = 14n;
const DT_RUNPATH = 29n;

/** A NUL-terminated string inside the file that may be overwritten by one of at most `capacity` characters. */
export interface StringField {
  offset: number;
  capacity: number;
  value: string;
}

export interface ElfInfo {
  interpreter: StringField | undefined;
  runpath: StringField | undefined;
  soname: string | undefined;
  needed: string[];
}

/** The bytes to overlay on a file: a field rewritten to a new value of exactly its capacity. */
export interface Patch {
  offset: number;
  bytes: Buffer;
}

interface Segment {
  type: number;
  offset: number;
  vaddr: number;
  filesz: number;
}

function readAt(fd: number, position: number, length: number): Buffer {
  const buffer = Buffer.alloc(length);
  const read = fs.readSync(fd, buffer, 0, length, position);
  return buffer.subarray(0, read);
}

function readCString(fd: number, position: number): string {
  const chunk = readAt(fd, position, 4096);
  const end = chunk.indexOf(0);
  if (end < 0) throw new Error(`unterminated string at offset ${position}`);
  return chunk.toString('latin1', 0, end);
}

function readSegments(fd: number, file: string): Segment[] {
  const header = readAt(fd, 0, 64);
  if (header.length < 64 || header.readUInt32BE(0) !== 0x7f454c46) throw new DriverError(`${file} is not an ELF file`);
  if (header[4] !== 2 || header[5] !== 1) throw new DriverError(`${file} is not a 64-bit little-endian ELF file`);
  const phoff = Number(header.readBigUInt64LE(32));
  const phentsize = header.readUInt16LE(54);
  const phnum = header.readUInt16LE(56);
  const table = readAt(fd, phoff, phentsize * phnum);
  const segments: Segment[] = [];
  for (let i = 0; i < phnum; i++) {
    const at = i * phentsize;
    segments.push({
      type: table.readUInt32LE(at),
      offset: Number(table.readBigUInt64LE(at + 8)),
      vaddr: Number(table.readBigUInt64LE(at + 16)),
      filesz: Number(table.readBigUInt64LE(at + 32)),
    });
  }
  return segments;
}

function fileOffsetOf(segments: Segment[], vaddr: number, file: string): number {
  const load = segments.find((s) => s.type === PT_LOAD && vaddr >= s.vaddr && vaddr < s.vaddr + s.filesz);
  if (load === undefined) throw new DriverError(`${file}: address 0x${vaddr.toString(16)} is in no loaded segment`);
  return load.offset + (vaddr - load.vaddr);
}

export function readElf(file: string): ElfInfo {
  const fd = fs.openSync(file, 'r');
  try {
    const segments = readSegments(fd, file);
    const info: ElfInfo = { interpreter: undefined, runpath: undefined, soname: undefined, needed: [] };
    const interp = segments.find((s) => s.type === PT_INTERP);
    if (interp !== undefined) {
      info.interpreter = { offset: interp.offset, capacity: interp.filesz - 1, value: readCString(fd, interp.offset) };
    }
    const dynamicSegment = segments.find((s) => s.type === PT_DYNAMIC);
    if (dynamicSegment === undefined) return info;
    const dynamic = readAt(fd, dynamicSegment.offset, dynamicSegment.filesz);
    const entries: Array<[bigint, bigint]> = [];
    for (let at = 0; at + 16 <= dynamic.length; at += 16) {
      const tag = dynamic.readBigInt64LE(at);
      if (tag === DT_NULL) break;
      entries.push([tag, dynamic.readBigUInt64LE(at + 8)]);
    }
    const strtab = entries.find(([tag]) => tag === DT_STRTAB)?.[1];
    if (strtab === undefined) return info;
    const strings = fileOffsetOf(segments, Number(strtab), file);
    for (const [tag, value] of entries) {
      const offset = strings + Number(value);
      if (tag === DT_NEEDED) info.needed.push(readCString(fd, offset));
      else if (tag === DT_SONAME) info.soname = readCString(fd, offset);
      else if (tag === DT_RUNPATH) {
        const runpath = readCString(fd, offset);
        info.runpath = { offset, capacity: runpath.length, value: runpath };
      }
    }
    return info;
  } finally {
    fs.closeSync(fd);
  }
}

/** Overwrites a field with `value`, which the caller has already padded to the field's capacity. */
export function patchField(field: StringField, value: string): Patch {
  if (value.length !== field.capacity) throw new Error(`patch of ${value.length} characters for a field of ${field.capacity}`);
  return { offset: field.offset, bytes: Buffer.from(value, 'latin1') };
}

/** What a padded path names: the padding slashes collapsed. */
export function unpadPath(value: string): string {
  return value.replace(/\/{2,}/g, '/');
}
