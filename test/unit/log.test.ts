import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { configureLog, log, redact, redactValue } from '../../src/system/log.ts';

describe('log', () => {
  test('redacts registered secrets and secret-shaped pairs wherever they appear', () => {
    redactValue('Zm9vYmFyc2VjcmV0');
    expect(redact('key is Zm9vYmFyc2VjcmV0 ok')).toBe('key is *** ok');
    expect(redact('mount -o username=acct,password=p@ss,vers=3.0')).toBe('mount -o username=acct,password=***,vers=3.0');
    expect(redact('{"kubernetes.io/secret/accountkey":"c2VjcmV0"}')).toBe('{"kubernetes.io/secret/accountkey":"***"}');
    expect(redact('"aadClientSecret": "hunter2"')).toBe('"aadClientSecret": "***"');
    expect(redact('Authorization: Bearer eyJ0eXAi.abc')).toBe('Authorization: Bearer ***');
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
});
