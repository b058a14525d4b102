// The installer image as a cluster runs it. Built by `npm run image`'s code twice (reproducible:
// same binaries and commit, same digests), unpacked by umoci as a container runtime would, and its
// entrypoint run in a root of its own: new mount and pid namespaces, chroot into the image's files
// and nothing of the host's libraries, with the mounts base/daemonset.yaml declares (the host
// plugin dir at the manifest's path, the host /proc at /host/proc, /var/log). The "host" is a mount
// namespace where that path is the test's directory. There, the installed driver answers `init`
// and mounts an nfs share through the mount stand-in. The image's mount and mount.nfs (for the
// provisioner) run in that root too. arm64 runs the same way under qemu-aarch64-static, the
// emulator copied into the root.
import { spawn, spawnSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseAllDocuments } from 'yaml';
import type { IDaemonSet } from 'kubernetes-models/apps/v1';
import { callDriver, goJson, mountOptions } from '../helpers/kubelet.ts';
import { installMountStandin } from '../helpers/mount-standin.ts';
import { mountsUnder, ROOT } from '../helpers/sandbox.ts';
import { buildImage, IMAGE_NAME, type BuiltImage } from '../../scripts/build-image.ts';
import { readElf, unpadPath } from '../../src/install/elf.ts';

const VERSION = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')).version as string;
const QEMU = '/usr/bin/qemu-aarch64-static';
const NFS = { server: '10.0.0.5', share: '/exports/data' };
const POD_UID = '7f0c6d3e-1111-4a4a-9c9c-000000000001';

let work: string;
let image: BuiltImage;
let again: BuiltImage;

const SOURCE = 'https://git.example/azure-flexvolume';

beforeAll(() => {
  // This checkout has no remote to take the source label from.
  process.env.IMAGE_SOURCE = SOURCE;
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'flexvolume-image-'));
  image = buildImage(path.join(work, 'first'), ['amd64', 'arm64']);
  again = buildImage(path.join(work, 'second'), ['amd64', 'arm64']);
}, 300_000);

afterAll(() => {
  delete process.env.IMAGE_SOURCE;
  for (let round = 0; round < 5 && mountsUnder(work).length > 0; round++) {
    for (const mountPoint of mountsUnder(work)) spawnSync('umount', ['-l', mountPoint]);
  }
  if (mountsUnder(work).length > 0) throw new Error(`still mounted under ${work}: ${mountsUnder(work).join(', ')}`);
  fs.rmSync(work, { recursive: true, force: true });
});

const readJson = (file: string): any => JSON.parse(fs.readFileSync(file, 'utf8'));
const blob = (layout: string, digest: string): string => path.join(layout, 'blobs/sha256', digest.replace(/^sha256:/, ''));
const sha256 = (file: string): string => crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');
const run = (file: string, args: readonly string[]): string => {
  const result = spawnSync(file, args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (result.status !== 0) throw new Error(`${file} ${args.join(' ')}: ${result.stderr}`);
  return result.stdout;
};

test('the same binaries and commit give the same image: index, manifests and docker archives', () => {
  expect(again.index).toBe(image.index);
  expect(again.manifests).toEqual(image.manifests);
  for (const arch of ['amd64', 'arm64']) expect(sha256(again.archives[arch] as string)).toBe(sha256(image.archives[arch] as string));
});

test('a multi-arch index of linux/amd64 and linux/arm64, with the OCI labels', () => {
  const layoutIndex = readJson(path.join(image.layout, 'index.json'));
  expect(layoutIndex.manifests[0]).toMatchObject({ digest: image.index, annotations: { 'org.opencontainers.image.ref.name': VERSION } });
  const index = readJson(blob(image.layout, image.index));
  expect(index.mediaType).toBe('application/vnd.oci.image.index.v1+json');
  expect(index.manifests.map((entry: any) => [entry.platform, entry.digest])).toEqual([
    [{ architecture: 'amd64', os: 'linux' }, image.manifests.amd64],
    [{ architecture: 'arm64', os: 'linux' }, image.manifests.arm64],
  ]);
  const revision = run('git', ['-C', ROOT, 'rev-parse', 'HEAD']).trim();
  const commitTime = new Date(Number(run('git', ['-C', ROOT, 'log', '-1', '--format=%ct'])) * 1000).toISOString();
  for (const arch of ['amd64', 'arm64']) {
    const manifest = readJson(blob(image.layout, image.manifests[arch] as string));
    const config = readJson(blob(image.layout, manifest.config.digest));
    expect(config).toMatchObject({ architecture: arch, os: 'linux', created: commitTime, config: { Entrypoint: ['/flexvolume'], Cmd: ['install'] } });
    for (const labels of [manifest.annotations, config.config.Labels]) {
      expect(labels).toMatchObject({
        'org.opencontainers.image.version': VERSION,
        'org.opencontainers.image.revision': expect.stringMatching(new RegExp(`^${revision}(-dirty)?$`)),
        'org.opencontainers.image.licenses': 'MIT',
        'org.opencontainers.image.source': SOURCE,
        'org.opencontainers.image.created': commitTime,
      });
    }
  }
});

test('skopeo copies the whole index (as a push does) and the digest to pin stays the same', () => {
  const copy = path.join(work, 'copied');
  run('skopeo', ['--insecure-policy', 'copy', '--all', '--quiet', `oci:${image.layout}:${VERSION}`, `oci:${copy}:${VERSION}`]);
  for (const arch of ['amd64', 'arm64']) {
    const inspected = JSON.parse(run('skopeo', ['inspect', '--override-arch', arch, `oci:${copy}:${VERSION}`]));
    expect(inspected).toMatchObject({ Digest: image.index, Architecture: arch, Os: 'linux' });
  }
});

test.each([
  ['amd64', 'x86_64-linux-gnu', 'lib64/', 'lib64/ld-linux-x86-64.so.2 -> ../lib/x86_64-linux-gnu/ld-linux-x86-64.so.2'],
  ['arm64', 'aarch64-linux-gnu', 'lib/ld-linux-aarch64.so.1 -> aarch64-linux-gnu/ld-linux-aarch64.so.1', undefined],
])('%s: one layer of the binary, its loader and libraries, all owned by 0:0 at the commit time', (arch, triplet, loaderEntry, symlink) => {
  const manifest = readJson(blob(image.layout, image.manifests[arch] as string));
  expect(manifest.layers).toHaveLength(1);
  const listing = run('tar', ['--list', '--verbose', '--numeric-owner', '--full-time', '--utc', '-zf', blob(image.layout, manifest.layers[0].digest)])
    .trim()
    .split('\n')
    .map((line) => line.split(/\s+/));
  const epoch = Number(run('git', ['-C', ROOT, 'log', '-1', '--format=%ct']));
  const time = new Date(epoch * 1000).toISOString().replace('T', ' ').slice(0, 19);
  for (const fields of listing) {
    expect(fields[1]).toBe('0/0');
    expect(`${fields[3]} ${fields[4]}`).toBe(time);
  }
  const names = listing.map((fields) => fields.slice(5).join(' '));
  const libraries = ['ld-linux-*', 'libc.so.6', 'libdl.so.2', 'libgcc_s.so.1', 'libm.so.6', 'libpthread.so.0', 'libstdc++.so.6'];
  // What mount and mount.nfs need beyond the binary's glibc: libmount, libtirpc and theirs.
  const mountLibraries = [
    'libblkid.so.1', 'libcom_err.so.2', 'libgssapi_krb5.so.2', 'libk5crypto.so.3', 'libkeyutils.so.1', 'libkrb5.so.3', 'libkrb5support.so.0',
    'libmount.so.1', 'libpcre2-8.so.0', 'libresolv.so.2', 'libselinux.so.1', 'libtirpc.so.3',
  ];
  expect(names).toEqual(
    [
      'etc/',
      'etc/netconfig',
      'flexvolume',
      'lib/',
      `lib/${triplet}/`,
      ...libraries.map((library) => `lib/${triplet}/${library.replace('ld-linux-*', arch === 'amd64' ? 'ld-linux-x86-64.so.2' : 'ld-linux-aarch64.so.1')}`),
      loaderEntry,
      ...(symlink === undefined ? [] : [symlink]),
      'sbin/',
      'sbin/mount.nfs',
      'sbin/mount.nfs4 -> mount.nfs',
      'usr/',
      'usr/bin/',
      'usr/bin/mount',
      'usr/lib/',
      `usr/lib/${triplet}/`,
      ...mountLibraries.map((library) => `usr/lib/${triplet}/${library}`),
    ].sort(),
  );
});

test.each(['amd64', 'arm64'])('%s: the docker archive holds azure-flexvolume:<version> for its architecture', (arch) => {
  const archive = image.archives[arch] as string;
  const [entry] = JSON.parse(run('tar', ['-xOf', archive, 'manifest.json']));
  // What `docker load` lists as azure-flexvolume:<version>.
  expect(entry.RepoTags).toEqual([`docker.io/library/${IMAGE_NAME}:${VERSION}`]);
  expect(JSON.parse(run('tar', ['-xOf', archive, entry.Config])).architecture).toBe(arch);
});

interface Mount {
  from: string;
  to: string;
  readOnly: boolean;
}

const quote = (text: string): string => `'${text.replace(/'/g, `'\\''`)}'`;

function nearestExisting(dir: string): string {
  let current = dir;
  while (!fs.existsSync(current)) current = path.dirname(current);
  return current;
}

/**
 * A host whose `hostDir` (the manifest's plugin dir, which this machine lacks) is the test's
 * `pluginDir`: a process in a mount namespace of its own, where the nearest existing parent of
 * `hostDir` is overlaid (writes go to the test's directory) and `pluginDir` is bound at `hostDir`.
 * Everything "on the host" runs in that namespace (nsenter); it all goes away with the process.
 */
async function startHost(work: string, hostDir: string, pluginDir: string): Promise<{ pid: number; enter: string[]; stop(): Promise<void> }> {
  const parent = nearestExisting(hostDir);
  const upper = path.join(work, 'overlay/upper');
  const scratch = path.join(work, 'overlay/work');
  fs.mkdirSync(upper, { recursive: true });
  fs.mkdirSync(scratch, { recursive: true });
  const script = [
    'set -eu',
    ...(parent === hostDir ? [] : [`mount -t overlay overlay -o ${quote(`lowerdir=${parent},upperdir=${upper},workdir=${scratch}`)} ${quote(parent)}`, `mkdir -p ${quote(hostDir)}`]),
    `mount --bind ${quote(pluginDir)} ${quote(hostDir)}`,
    'echo ready',
    'exec sleep 100000',
  ].join('\n');
  const holder = spawn('/usr/bin/unshare', ['--mount', '--propagation', 'private', '/bin/sh', '-c', script], { stdio: ['ignore', 'pipe', 'pipe'] });
  const closed = new Promise((resolve) => holder.on('close', resolve));
  let output = '';
  holder.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  holder.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  for (let i = 0; i < 100 && !output.includes('ready'); i++) await new Promise((resolve) => setTimeout(resolve, 50));
  if (!output.includes('ready')) throw new Error(`the host namespace did not start: ${output}`);
  // sleep is the holder itself (exec), so its pid names the namespace.
  const pid = holder.pid as number;
  return {
    pid,
    enter: ['/usr/bin/nsenter', '-t', String(pid), '-m', '--'],
    async stop() {
      holder.kill('SIGKILL');
      await closed;
    },
  };
}

/**
 * What a container runtime does with a bundle: new mount and pid namespaces, a /proc of its own,
 * the host's /dev (the pod is privileged), the pod's hostPath mounts, then exec in the root.
 */
function runContainer(enter: readonly string[], rootfs: string, argv: readonly string[], mounts: readonly Mount[], env: NodeJS.ProcessEnv) {
  const script = [
    'set -eu',
    `root=${quote(rootfs)}`,
    'mkdir -p "$root/proc" "$root/dev"',
    'mount -t proc proc "$root/proc"',
    'mount --rbind /dev "$root/dev"',
    ...mounts.flatMap((mount) => [
      `mkdir -p "$root"${quote(mount.to)}`,
      `mount --rbind ${quote(mount.from)} "$root"${quote(mount.to)}`,
      ...(mount.readOnly ? [`mount -o remount,bind,ro "$root"${quote(mount.to)}`] : []),
    ]),
    `exec /usr/sbin/chroot "$root" ${argv.map(quote).join(' ')}`,
  ].join('\n');
  const [command, ...prefix] = enter;
  return spawnSync(command as string, [...prefix, '/usr/bin/unshare', '--mount', '--pid', '--fork', '--propagation', 'private', '/bin/sh', '-c', script], {
    encoding: 'utf8',
    env,
    timeout: 180_000,
  });
}

function loadDaemonSet(): IDaemonSet {
  return parseAllDocuments(fs.readFileSync(path.join(ROOT, 'install/base/daemonset.yaml'), 'utf8'))[0]?.toJS() as IDaemonSet;
}

describe.each([
  { arch: 'amd64', emulator: undefined, loader: 'ld-linux-x86-64.so.2' },
  { arch: 'arm64', emulator: QEMU, loader: 'ld-linux-aarch64.so.1' },
])('$arch: the entrypoint, run as a container runtime would', ({ arch, emulator, loader }) => {
  let dir: string;
  let bundle: string;

  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(work, `host-${arch}-`));
    bundle = path.join(dir, 'bundle');
    run('umoci', ['unpack', '--image', `${image.layout}:${VERSION}-${arch}`, bundle]);
  }, 120_000);

  test('installs into the host plugin dir at the manifest\'s path; the installed driver answers init and mounts nfs on the host', async () => {
    const pluginDir = path.join(dir, 'volumeplugins');
    const logDir = path.join(dir, 'var-log');
    fs.mkdirSync(pluginDir);
    fs.mkdirSync(logDir);
    const daemonSet = loadDaemonSet();
    const pod = daemonSet.spec?.template.spec;
    const container = pod?.containers[0];
    const hostDir = container?.env?.find((entry) => entry.name === 'FLEXVOLUME_PLUGIN_DIR')?.value as string;
    expect(hostDir).toBe('/usr/libexec/kubernetes/kubelet-plugins/volume/exec');
    // The pod's mounts as the manifest declares them; the host's /var/log is the test's.
    const mounts = (container?.volumeMounts ?? []).map((mount) => {
      const hostPath = pod?.volumes?.find((volume) => volume.name === mount.name)?.hostPath?.path as string;
      return { from: hostPath === '/var/log' ? logDir : hostPath, to: mount.mountPath, readOnly: mount.readOnly === true };
    });
    expect(mounts.map((mount) => [mount.from, mount.to])).toEqual([
      [hostDir, hostDir],
      [logDir, '/var/log'],
      ['/proc', '/host/proc'],
    ]);

    const config = readJson(path.join(bundle, 'config.json'));
    const rootfs = path.join(bundle, config.root.path);
    expect(fs.readdirSync(rootfs).sort()).toEqual(arch === 'amd64' ? ['etc', 'flexvolume', 'lib', 'lib64', 'sbin', 'usr'] : ['etc', 'flexvolume', 'lib', 'sbin', 'usr']);
    if (emulator !== undefined) fs.copyFileSync(emulator, path.join(rootfs, 'qemu-aarch64-static'));
    const argv = [
      ...(emulator === undefined ? [] : ['/qemu-aarch64-static']),
      ...config.process.args.slice(0, 1),
      ...(container?.args ?? []),
      '--no-follow',
    ];
    expect(argv.slice(-4)).toEqual(['/flexvolume', 'install', '--host-proc=/host/proc', '--no-follow']);
    const env = {
      PATH: config.process.env.find((entry: string) => entry.startsWith('PATH=')).slice('PATH='.length),
      ...Object.fromEntries((container?.env ?? []).filter((entry) => entry.value !== undefined).map((entry) => [entry.name, entry.value])),
      NODE_NAME: 'aks-nodepool1-0',
    };

    const host = await startHost(dir, hostDir, pluginDir);
    try {
      const installed = runContainer(host.enter, rootfs, argv, mounts, env);
      expect({ status: installed.status, stderr: installed.stderr }).toEqual({ status: 0, stderr: '' });
      expect(installed.stdout).toContain(`installed version ${VERSION} (node v24.21.0) into ${hostDir}, azuredisk in node mode:`);
      expect(fs.readFileSync(path.join(logDir, 'azure-flexvolume.log'), 'utf8')).toContain(`installed version ${VERSION} into ${hostDir}`);

      // The driver points at the libraries the installer brought from the image, not the host's.
      const inPluginDir = (driver: string): string => path.join(pluginDir, `azure~${driver}`, driver);
      const interpreter = unpadPath(readElf(inPluginDir('nfs')).interpreter?.value ?? '');
      expect(path.dirname(path.dirname(interpreter))).toBe(path.join(hostDir, 'azure~azuredisk'));
      expect(path.basename(interpreter)).toBe(loader);
      const triplet = arch === 'amd64' ? 'x86_64-linux-gnu' : 'aarch64-linux-gnu';
      const shipped = path.join(pluginDir, path.relative(hostDir, path.dirname(interpreter)));
      for (const library of fs.readdirSync(path.join(rootfs, 'lib', triplet))) {
        expect(sha256(path.join(shipped, library))).toBe(sha256(path.join(rootfs, 'lib', triplet, library)));
      }

      const standinDir = path.join(dir, 'standin');
      const standin = installMountStandin(standinDir);
      const driverEnv = {
        PATH: `${standinDir}:/usr/sbin:/usr/bin:/sbin:/bin`,
        FLEXVOLUME_LOG_FILE: path.join(dir, 'driver.log'),
        FLEXVOLUME_STATE_DIR: path.join(dir, 'state'),
      };
      // As the host's kubelet runs it: at the manifest's path, in the host's namespace.
      const [command, ...prefix] = host.enter;
      const call = (driver: string, args: readonly string[]) =>
        callDriver(command as string, [...prefix, ...(emulator === undefined ? [] : [emulator]), path.join(hostDir, `azure~${driver}`, driver), ...args], { env: driverEnv });
      expect(await call('nfs', ['init'])).toMatchObject({ status: 'Success', capabilities: { attach: false } });
      expect((await call('azuredisk', ['init'])).capabilities?.attach).toBe(false);
      const podDir = path.join(dir, `var/lib/kubelet/pods/${POD_UID}/volumes/azure~nfs/pv-image`);
      const hostMounts = () => mountsUnder(dir, `/proc/${host.pid}/mountinfo`);
      expect(await call('nfs', ['mount', podDir, goJson(mountOptions(NFS, { volumeName: 'pv-image' }))])).toMatchObject({ status: 'Success' });
      expect(standin.readRecords()[0]).toMatchObject({ fsType: 'nfs', source: '10.0.0.5:/exports/data' });
      expect(hostMounts()).toContain(podDir);
      expect((await call('nfs', ['unmount', podDir])).status).toBe('Success');
      expect(hostMounts()).not.toContain(podDir);
    } finally {
      await host.stop();
    }
    expect(fs.existsSync(hostDir)).toBe(false);
  }, 300_000);
});

// What the provisioner's azure/nfs runs in its pod (src/provisioner/nfs.ts): `mount -t nfs`, found
// on the image's PATH, which execs mount.nfs from /sbin. There is no kernel NFS client here, so no
// export is really mounted: `-f` (fake) takes mount.nfs through its option parsing, its libtirpc
// and /etc/netconfig up to the mount(2) it then skips. arm64 under qemu cannot exec the helper
// from mount (no binfmt_misc here), so mount.nfs is run there directly.
describe.each([
  { arch: 'amd64', emulator: undefined },
  { arch: 'arm64', emulator: QEMU },
])('$arch: mount and mount.nfs run in the image\'s own root', ({ arch, emulator }) => {
  let rootfs: string;
  let PATH: string;

  beforeAll(() => {
    const bundle = path.join(work, `tools-${arch}`);
    run('umoci', ['unpack', '--image', `${image.layout}:${VERSION}-${arch}`, bundle]);
    const config = readJson(path.join(bundle, 'config.json'));
    rootfs = path.join(bundle, config.root.path);
    PATH = config.process.env.find((entry: string) => entry.startsWith('PATH=')).slice('PATH='.length);
    if (emulator !== undefined) fs.copyFileSync(emulator, path.join(rootfs, 'qemu-aarch64-static'));
  }, 120_000);

  const inRoot = (argv: readonly string[]) => {
    const result = runContainer(['/usr/bin/env'], rootfs, [...(emulator === undefined ? [] : ['/qemu-aarch64-static']), ...argv], [], { PATH });
    return { status: result.status, output: `${result.stdout}${result.stderr}` };
  };
  const onPath = (name: string) => PATH.split(':').map((dir) => path.posix.join(dir, name)).find((file) => fs.existsSync(path.join(rootfs, file)));

  test('mount is on the image\'s PATH and mount.nfs where libmount looks for helpers; both run on the image\'s libraries', () => {
    expect([onPath('mount'), onPath('mount.nfs')]).toEqual(['/usr/bin/mount', '/sbin/mount.nfs']);
    // Natively by name, so the lookup on the image's PATH is chroot's execvp inside the root.
    const mount = emulator === undefined ? 'mount' : '/usr/bin/mount';
    expect(inRoot([mount, '--version'])).toEqual({ status: 0, output: expect.stringMatching(/^mount from util-linux \d+\.\d+/) });
    expect(inRoot(['/sbin/mount.nfs', '-V'])).toEqual({ status: 0, output: expect.stringMatching(/^mount\.nfs: \(linux nfs-utils \d+\.\d+/) });
  }, 120_000);

  test('mount -t nfs gets through mount.nfs to the mount(2) call (faked: no kernel NFS client here)', () => {
    const source = '127.0.0.1:/exports/data';
    const argv = emulator === undefined ? ['mount', '-f', '-v', '-t', 'nfs', '-o', 'vers=4.1', source, '/etc'] : ['/sbin/mount.nfs', source, '/etc', '-f', '-v', '-o', 'vers=4.1'];
    expect(inRoot(argv)).toEqual({ status: 0, output: expect.stringContaining("mount.nfs: trying text-based options 'vers=4.1,addr=127.0.0.1") });
  }, 120_000);
});
