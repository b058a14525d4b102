// `npm run image`: the installer image, assembled here without Docker or a daemon: FROM scratch
// plus the built standalone binary, its dynamic loader and exactly the libraries it needs (the
// installer copies those into the plugin directory, see docs/install.md), and mount and mount.nfs
// from Debian with theirs (the provisioner mounts NFS exports), for linux/amd64 and
// linux/arm64, written as one OCI image layout with a multi-arch index and one `docker load`-able
// archive per architecture (skopeo). Nothing in it depends on when or where it is built: file
// times are the commit's, owners are 0:0, entries are sorted, so the same binaries and commit give
// the same digests.
//
//   node scripts/build-image.ts [--out dist] [--arch amd64,arm64]
//   SOURCE_DATE_EPOCH, IMAGE_REVISION, IMAGE_SOURCE override the commit time, commit and source URL.
import { execFileSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import * as zlib from 'node:zlib';
import { readElf } from '../src/install/elf.ts';
import { librariesIn, neededLibraries } from '../src/install/libraries.ts';
import { SYSTEM_INTERPRETERS } from '../src/install/reserved-paths.ts';

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
export const IMAGE_NAME = 'azure-flexvolume';
/** Debian's arm64 libc6, libstdc++6 and libgcc-s1, unpacked by scripts/build-arm64-sysroot.sh. */
export const ARM64_SYSROOT = path.join(ROOT, 'node_modules/.cache/sysroot-arm64');
/** Debian's mount, nfs-common and their libraries per architecture, unpacked by scripts/fetch-mount-tools.sh. */
const mountToolsOf = (arch: string): string => path.join(ROOT, 'node_modules/.cache', `mount-tools-${arch}`);
/**
 * What the provisioner runs to mount an NFS export (docs/provisioner.md): mount(8) on the PATH
 * below and mount.nfs where libmount looks for helpers (/sbin), from their Debian paths.
 */
const MOUNT_TOOLS = [
  { from: 'bin/mount', to: 'usr/bin/mount' },
  { from: 'sbin/mount.nfs', to: 'sbin/mount.nfs' },
] as const;
/** The PATH of the container, as runtimes default it: the provisioner's children find mount there. */
const IMAGE_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const MEDIA = {
  index: 'application/vnd.oci.image.index.v1+json',
  manifest: 'application/vnd.oci.image.manifest.v1+json',
  config: 'application/vnd.oci.image.config.v1+json',
  layer: 'application/vnd.oci.image.layer.v1.tar+gzip',
} as const;

export interface Platform {
  /** The OCI (GOARCH) name. */
  arch: 'amd64' | 'arm64';
  /** Node's name, which keys SYSTEM_INTERPRETERS. */
  nodeArch: 'x64' | 'arm64';
  executable: string;
  /** Debian's multiarch directory name. */
  triplet: string;
  /** Where that architecture's libraries are found on this machine. */
  sysroot: string;
  /** The command that builds `executable`. */
  build: string;
}

export const PLATFORMS: readonly Platform[] = [
  { arch: 'amd64', nodeArch: 'x64', executable: path.join(ROOT, 'bin/flexvolume'), triplet: 'x86_64-linux-gnu', sysroot: '/', build: 'npm run build' },
  {
    arch: 'arm64',
    nodeArch: 'arm64',
    executable: path.join(ROOT, 'bin/linux-arm64/flexvolume'),
    triplet: 'aarch64-linux-gnu',
    sysroot: ARM64_SYSROOT,
    build: 'npm run build:arm64 (and scripts/build-arm64-sysroot.sh)',
  },
];

interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
}

interface Provenance {
  version: string;
  revision: string;
  source: string | undefined;
  /** Seconds since the epoch: every file time and the `created` of the image. */
  epoch: number;
}

function git(args: readonly string[]): string {
  return execFileSync('git', ['-C', ROOT, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
}

function provenance(): Provenance {
  const version = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')).version as string;
  let revision = process.env.IMAGE_REVISION;
  let epoch = process.env.SOURCE_DATE_EPOCH;
  let source = process.env.IMAGE_SOURCE;
  try {
    revision ??= `${git(['rev-parse', 'HEAD'])}${git(['status', '--porcelain', '--untracked-files=no']) === '' ? '' : '-dirty'}`;
    epoch ??= git(['log', '-1', '--format=%ct']);
    source ??= git(['config', '--get', 'remote.origin.url']) || undefined;
  } catch {
    // Not a git checkout, or no remote: the variables must say what git cannot.
  }
  if (revision === undefined || epoch === undefined || !/^\d+$/.test(epoch)) {
    throw new Error('not a git checkout: set IMAGE_REVISION and SOURCE_DATE_EPOCH (seconds) for the image labels and file times');
  }
  return { version, revision, source, epoch: Number(epoch) };
}

/** The OCI annotations (image-spec annotations.md), also the config's labels. */
function annotationsOf(p: Provenance): Record<string, string> {
  return {
    'org.opencontainers.image.title': IMAGE_NAME,
    'org.opencontainers.image.description': 'Installer of the azuredisk, azurefile and nfs FlexVolume drivers',
    'org.opencontainers.image.version': p.version,
    'org.opencontainers.image.revision': p.revision,
    ...(p.source === undefined ? {} : { 'org.opencontainers.image.source': p.source }),
    'org.opencontainers.image.licenses': 'MIT',
    'org.opencontainers.image.created': new Date(p.epoch * 1000).toISOString(),
  };
}

function writeBlob(layout: string, mediaType: string, content: Buffer): Descriptor {
  const hex = crypto.createHash('sha256').update(content).digest('hex');
  const file = path.join(layout, 'blobs/sha256', hex);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, content);
  return { mediaType, digest: `sha256:${hex}`, size: content.length };
}

const json = (value: unknown): Buffer => Buffer.from(JSON.stringify(value));

function copyInto(rootfs: string, inImage: string, from: string, mode: number): void {
  const to = path.join(rootfs, inImage);
  fs.mkdirSync(path.dirname(to), { recursive: true });
  fs.copyFileSync(from, to);
  fs.chmodSync(to, mode);
}

/**
 * mount, mount.nfs (and mount.nfs4, its link) and /etc/netconfig, with the libraries they need
 * beyond `shipped` in /usr/lib/<triplet>: /lib/<triplet> stays exactly what the installer copies.
 */
function stageMountTools(platform: Platform, rootfs: string, shipped: readonly string[]): void {
  const tools = mountToolsOf(platform.arch);
  const fetch = 'run scripts/fetch-mount-tools.sh';
  if (!fs.existsSync(path.join(tools, 'sbin/mount.nfs'))) throw new Error(`${tools} has no mount.nfs: ${fetch}`);
  const dirs = [tools, platform.sysroot].flatMap((root) => [path.join(root, 'lib', platform.triplet), path.join(root, 'usr/lib', platform.triplet)]);
  const available = librariesIn(dirs);
  const interpreter = SYSTEM_INTERPRETERS[platform.nodeArch] as string;
  const extra = new Map<string, string>();
  for (const tool of MOUNT_TOOLS) {
    const from = path.join(tools, tool.from);
    if (readElf(from).interpreter?.value !== interpreter) throw new Error(`${from} does not use ${interpreter}`);
    for (const library of neededLibraries(from, available, `which is in none of ${dirs.join(', ')}; ${fetch}`)) {
      if (!shipped.includes(library.soname)) extra.set(library.soname, library.path);
    }
    copyInto(rootfs, tool.to, from, 0o755);
  }
  for (const [soname, from] of extra) copyInto(rootfs, path.join('usr/lib', platform.triplet, soname), from, 0o644);
  fs.symlinkSync('mount.nfs', path.join(rootfs, 'sbin/mount.nfs4'));
  copyInto(rootfs, 'etc/netconfig', path.join(tools, 'etc/netconfig'), 0o644);
}

/** Every directory 0755, whatever the umask: the layer must not depend on who builds it. */
function normalizeDirectories(dir: string): void {
  fs.chmodSync(dir, 0o755);
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) if (entry.isDirectory()) normalizeDirectories(path.join(dir, entry.name));
}

/**
 * The image's files: /flexvolume, /lib/<triplet>/<soname> and the loader at its ABI path, then
 * the mount tools (stageMountTools).
 */
export function stageRootfs(platform: Platform, rootfs: string): string[] {
  if (!fs.existsSync(platform.executable)) throw new Error(`${platform.executable} is missing: run ${platform.build}`);
  const libraryDirs = [path.join(platform.sysroot, 'lib', platform.triplet), path.join(platform.sysroot, 'usr/lib', platform.triplet)];
  const libraries = neededLibraries(platform.executable, librariesIn(libraryDirs), `which is in none of ${libraryDirs.join(', ')}; run ${platform.build}`);
  copyInto(rootfs, 'flexvolume', platform.executable, 0o755);
  for (const library of libraries) copyInto(rootfs, path.join('lib', platform.triplet, library.soname), library.path, 0o755);
  const interpreter = SYSTEM_INTERPRETERS[platform.nodeArch] as string;
  const loader = path.join('/lib', platform.triplet, path.basename(interpreter));
  if (!libraries.some((library) => library.soname === path.basename(interpreter))) throw new Error(`${platform.executable} does not use ${interpreter}`);
  if (interpreter !== loader) {
    fs.mkdirSync(path.join(rootfs, path.dirname(interpreter)), { recursive: true });
    fs.symlinkSync(path.relative(path.dirname(interpreter), loader), path.join(rootfs, interpreter));
  }
  const shipped = libraries.map((library) => library.soname);
  stageMountTools(platform, rootfs, shipped);
  normalizeDirectories(rootfs);
  return shipped;
}

/** One uncompressed layer: sorted entries, the commit's time, owner 0:0, no host names or ids. */
function layerTar(rootfs: string, epoch: number, file: string): void {
  execFileSync('tar', [
    '--create', `--file=${file}`, `--directory=${rootfs}`, '--format=ustar', '--sort=name', `--mtime=@${epoch}`,
    '--owner=0', '--group=0', '--numeric-owner', '--mode=go-w',
    ...fs.readdirSync(rootfs).sort(),
  ]);
}

function buildPlatform(platform: Platform, layout: string, p: Provenance, annotations: Record<string, string>): Descriptor {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), `image-${platform.arch}-`));
  try {
    const rootfs = path.join(work, 'rootfs');
    fs.mkdirSync(rootfs, { mode: 0o755 });
    stageRootfs(platform, rootfs);
    const tarFile = path.join(work, 'layer.tar');
    layerTar(rootfs, p.epoch, tarFile);
    const tar = fs.readFileSync(tarFile);
    const layer = writeBlob(layout, MEDIA.layer, zlib.gzipSync(tar, { level: 6 }));
    const created = annotations['org.opencontainers.image.created'];
    const config = writeBlob(
      layout,
      MEDIA.config,
      json({
        created,
        architecture: platform.arch,
        os: 'linux',
        config: { Env: [`PATH=${IMAGE_PATH}`], Entrypoint: ['/flexvolume'], Cmd: ['install'], Labels: annotations },
        rootfs: { type: 'layers', diff_ids: [`sha256:${crypto.createHash('sha256').update(tar).digest('hex')}`] },
        history: [{ created, created_by: 'npm run image (scripts/build-image.ts)' }],
      }),
    );
    return writeBlob(layout, MEDIA.manifest, json({ schemaVersion: 2, mediaType: MEDIA.manifest, config, layers: [layer], annotations }));
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

export interface BuiltImage {
  layout: string;
  /** The multi-arch index, `<layout>:<version>`. */
  index: string;
  manifests: Record<string, string>;
  archives: Record<string, string>;
  version: string;
}

export function buildImage(out: string, archs: readonly string[]): BuiltImage {
  const p = provenance();
  const annotations = annotationsOf(p);
  const platforms = archs.map((arch) => {
    const platform = PLATFORMS.find((candidate) => candidate.arch === arch);
    if (platform === undefined) throw new Error(`unknown architecture ${arch}; choose from ${PLATFORMS.map((c) => c.arch).join(', ')}`);
    return platform;
  });
  const layout = path.join(out, 'oci');
  fs.rmSync(layout, { recursive: true, force: true });
  fs.mkdirSync(layout, { recursive: true });
  const manifests = platforms.map((platform) => ({ platform, descriptor: buildPlatform(platform, layout, p, annotations) }));
  const platformOf = (platform: Platform) => ({ architecture: platform.arch, os: 'linux' });
  const index = writeBlob(
    layout,
    MEDIA.index,
    json({ schemaVersion: 2, mediaType: MEDIA.index, manifests: manifests.map((m) => ({ ...m.descriptor, platform: platformOf(m.platform) })), annotations }),
  );
  const refName = 'org.opencontainers.image.ref.name';
  fs.writeFileSync(path.join(layout, 'oci-layout'), json({ imageLayoutVersion: '1.0.0' }));
  // The index under the version; each architecture's manifest also under `<version>-<arch>`, for
  // tools that take one image (umoci, docker load).
  fs.writeFileSync(
    path.join(layout, 'index.json'),
    json({
      schemaVersion: 2,
      mediaType: MEDIA.index,
      manifests: [
        { ...index, annotations: { [refName]: p.version } },
        ...manifests.map((m) => ({ ...m.descriptor, platform: platformOf(m.platform), annotations: { [refName]: `${p.version}-${m.platform.arch}` } })),
      ],
    }),
  );
  const archives: Record<string, string> = {};
  for (const { platform } of manifests) {
    const archive = path.join(out, `${IMAGE_NAME}-${p.version}-${platform.arch}.docker.tar`);
    fs.rmSync(archive, { force: true });
    // Local files to a local file: no registry, so no signature policy to consult.
    execFileSync('skopeo', ['--insecure-policy', 'copy', '--quiet', `oci:${layout}:${p.version}-${platform.arch}`, `docker-archive:${archive}:${IMAGE_NAME}:${p.version}`], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    archives[platform.arch] = archive;
  }
  return {
    layout,
    index: index.digest,
    manifests: Object.fromEntries(manifests.map((m) => [m.platform.arch, m.descriptor.digest])),
    archives,
    version: p.version,
  };
}

function main(): void {
  const { values } = parseArgs({ options: { out: { type: 'string', default: path.join(ROOT, 'dist') }, arch: { type: 'string', default: 'amd64,arm64' } } });
  const started = Date.now();
  const image = buildImage(path.resolve(values.out), values.arch.split(','));
  const lines = [
    `${IMAGE_NAME} ${image.version} in ${((Date.now() - started) / 1000).toFixed(1)} s:`,
    `  OCI layout    ${image.layout}  (index ${image.index})`,
    ...Object.entries(image.manifests).map(([arch, digest]) => `  linux/${arch.padEnd(6)} ${digest}  docker load -i ${image.archives[arch]}`),
    'push the multi-arch index, then pin its digest in your overlay (docs/install.md):',
    `  skopeo copy --all oci:${image.layout}:${image.version} docker://<registry>/${IMAGE_NAME}:${image.version}`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}

if (process.argv[1] === new URL(import.meta.url).pathname) {
  try {
    main();
  } catch (error) {
    process.stderr.write(`npm run image: ${(error as Error).message}\n`);
    process.exit(1);
  }
}
