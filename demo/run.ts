// The local demonstration: the drivers' lifecycles through the built standalone binary, called
// exactly as the kubelet calls it, on this machine, with nothing to configure. Each call and its
// JSON reply is printed with its duration; everything it creates is removed, even on Ctrl-C.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { goJson, mountOptions } from '../test/helpers/kubelet.ts';
import { createSandbox, SEA, type Sandbox } from '../test/helpers/sandbox.ts';

const isRoot = process.getuid?.() === 0;
const cleanups: Array<() => Promise<void> | void> = [];

function heading(text: string): void {
  process.stdout.write(`\n\x1b[1m== ${text}\x1b[0m\n`);
}

function note(text: string): void {
  process.stdout.write(`   ${text}\n`);
}

async function call(sandbox: Sandbox, driver: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<void> {
  const shown = args.map((arg) => (arg.startsWith('{') ? `'${arg.length > 90 ? `${arg.slice(0, 87)}…` : arg}'` : arg)).join(' ');
  const reply = await sandbox.call(driver, args, env);
  const status = reply.status === 'Failure' ? '\x1b[31mFailure\x1b[0m' : `\x1b[32m${reply.status}\x1b[0m`;
  process.stdout.write(`  $ ${driver} ${shown}\n    ${status} ${reply.output.trim()}  (${reply.durationMs} ms)\n`);
}

async function nfsScene(sandbox: Sandbox): Promise<void> {
  heading('nfs: a pod mounts server 10.0.0.5, share /exports/data (mount stand-in, real overlay mount)');
  const dir = sandbox.podVolumeDir('nfs', 'pv-nfs');
  const options = goJson(mountOptions({ server: '10.0.0.5', share: '/exports/data', mountOptions: 'nfsvers=4.1' }));
  await call(sandbox, 'nfs', ['init']);
  if (!isRoot) {
    note('skipped mount and unmount: mounting needs root (run the demo as root to see them)');
    return;
  }
  fs.mkdirSync(dir, { recursive: true, mode: 0o750 });
  await call(sandbox, 'nfs', ['mount', dir, options]);
  fs.writeFileSync(path.join(dir, 'index.html'), 'hello from the nfs share\n');
  note(`pod wrote ${path.join(dir, 'index.html')}`);
  await call(sandbox, 'nfs', ['mount', dir, options]);
  note('second mount of the same volume: Success, nothing mounted twice');
  await call(sandbox, 'nfs', ['unmount', dir]);
  await call(sandbox, 'nfs', ['unmount', dir]);
  const record = sandbox.mountRecords()[0];
  note(`mount.nfs was asked for: mount ${record?.argv.join(' ')}`);
}

async function main(): Promise<void> {
  if (!fs.existsSync(SEA)) throw new Error('bin/flexvolume is missing; run `npm run build` first');
  const sandbox = createSandbox(SEA);
  cleanups.push(() => sandbox.cleanup());
  process.stdout.write(`Driver: ${SEA}\nPlugin dir: ${sandbox.pluginDir}\nDriver log: ${sandbox.logFile}\n`);
  await nfsScene(sandbox);
  heading('done');
}

async function cleanup(): Promise<void> {
  for (const step of cleanups.reverse()) await step();
  cleanups.length = 0;
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    process.stdout.write(`\n${signal}: cleaning up\n`);
    void cleanup().finally(() => process.exit(130));
  });
}

main()
  .catch((error: unknown) => {
    process.stderr.write(`demo failed: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  })
  .finally(cleanup);
