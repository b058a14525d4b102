// What the nfs and azurefile drivers share: validated mount-option lists, NFS sources, and an
// idempotent, bounded mount and unmount of a network share at a pod's volume directory.
import * as fs from 'node:fs';
import * as z from 'zod/mini';
import { DriverError } from '../flexvolume/errors.ts';
import { checkedString, lazily } from '../flexvolume/options.ts';
import { success, type Reply } from '../flexvolume/reply.ts';
import type { PodVolumeDir } from '../flexvolume/paths.ts';
import { entryPath } from '../system/entry-path.ts';
import { withLock } from '../system/lock.ts';
import { log } from '../system/log.ts';
import { cleanupMountPoint, ensureMountPoint, isMountHealthy, mount, unmount } from '../system/mount.ts';
import { findMount } from '../system/mount-table.ts';

/** One mount option: `name` or `name=value`, with nothing that could start a second option. */
const MOUNT_OPTION = /^[A-Za-z0-9_][A-Za-z0-9_.-]*(=[^,\s"'\\\x00-\x1f]*)?$/;

export interface MountOption {
  name: string;
  /** undefined for a flag such as `hard`. */
  value: string | undefined;
}

function parseMountOption(text: string): MountOption {
  const equals = text.indexOf('=');
  return equals < 0 ? { name: text, value: undefined } : { name: text.slice(0, equals), value: text.slice(equals + 1) };
}

export function formatMountOption(option: MountOption): string {
  return option.value === undefined ? option.name : `${option.name}=${option.value}`;
}

/** The user's `mountOptions`: a comma list, each entry checked so none can smuggle in another. */
export const mountOptionList = lazily(() =>
  z.pipe(
    z
      .pipe(
        z.string(),
        z.transform((text: string) => text.split(',').map((entry) => entry.trim()).filter((entry) => entry !== '')),
      )
      .check(
        z.refine((entries: string[]) => entries.every((entry) => MOUNT_OPTION.test(entry)), {
          message: 'must be a comma-separated list of name or name=value entries without spaces or quotes',
        }),
      ),
    z.transform((entries: string[]) => entries.map(parseMountOption)),
  ),
);

/**
 * Defaults first, then the user's options; a user option replaces a default of the same name (or
 * of a name listed as its alias), so every default can be overridden.
 */
export function mergeMountOptions(
  defaults: readonly MountOption[],
  user: readonly MountOption[],
  aliases: Readonly<Record<string, readonly string[]>> = {},
): MountOption[] {
  const userNames = new Set(user.flatMap((option) => [option.name.toLowerCase(), ...(aliases[option.name.toLowerCase()] ?? [])]));
  return [...defaults.filter((option) => !userNames.has(option.name.toLowerCase())), ...user];
}

/**
 * For mergeMountOptions with NFS defaults: a user's `vers` or `nfsvers` replaces the default
 * version and its minorversion (`vers=4.2,minorversion=1` would contradict itself), `resvport`
 * replaces `noresvport`, and `noac` replaces an attribute-cache timeout.
 */
export const NFS_OPTION_ALIASES: Readonly<Record<string, readonly string[]>> = {
  vers: ['nfsvers', 'minorversion'],
  nfsvers: ['vers', 'minorversion'],
  resvport: ['noresvport'],
  noresvport: ['resvport'],
  noac: ['actimeo'],
};

/** A read-only volume must mount read-only whatever the user's options say. */
export function applyReadOnly(options: readonly MountOption[], readOnly: boolean): MountOption[] {
  if (!readOnly) return [...options];
  return [...options.filter((option) => !['rw', 'ro'].includes(option.name.toLowerCase())), { name: 'ro', value: undefined }];
}

const HOSTNAME = /^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/;

/**
 * A server name or address; IPv6 may come bracketed or not. Every IPv4 address is also a valid
 * host name, so only what is neither goes to node:isIPv6, whose first use costs a mount ~3 ms
 * (V8 compiles its large pattern).
 */
export const serverName = lazily(() =>
  checkedString(
    (text) => text.trim().replace(/^\[(.*)\]$/, '$1'),
    (host) => HOSTNAME.test(host) || process.getBuiltinModule('node:net').isIPv6(host),
    'must be a host name, an IPv4 address or an IPv6 address',
  ),
);

/** An exported path: no commas, whitespace or control characters, never `..`. */
export const exportPath = lazily(() =>
  z
    .string()
    .check(
      z.regex(/^[^,\s\x00-\x1f\\]+$/, 'must be a path without commas, spaces or control characters'),
      z.refine((text: string) => !text.split('/').includes('..'), { message: "must not contain '..'" }),
    ),
);

/**
 * `server:/path`, with IPv6 addresses bracketed as mount.nfs requires. `server` is a serverName,
 * so a colon means an IPv6 address: no host name has one.
 */
export function nfsSource(server: string, path: string): string {
  const host = server.includes(':') ? `[${server}]` : server;
  return `${host}:${path.startsWith('/') ? path : `/${path}`}`;
}

/**
 * Serializes calls on one pod volume directory across processes (a call retried by hand while the
 * first still runs), so two mounts never stack on one directory.
 */
export interface ShareLock {
  dir: string;
  waitMs: number;
}

/** Long enough to outwait a holder that is itself waiting out a mount's time bound. */
export function shareLock(stateDir: string, mountTimeoutMs: number): ShareLock {
  return { dir: entryPath(stateDir, 'locks'), waitMs: mountTimeoutMs + 60_000 };
}

export interface ShareMount {
  podVolumeDir: PodVolumeDir;
  source: string;
  fsType: string;
  options: readonly MountOption[];
  timeoutMs: number;
  env?: Record<string, string>;
  lock: ShareLock;
}

/**
 * FNV-1a (64 bits) of a directory's path, for its lock's file name: two directories that shared
 * a name would only wait for each other, so it needs no node:crypto (4 ms to load on a hot call).
 */
function pathKey(text: string): string {
  let hash = 0xcbf29ce484222325n;
  for (const byte of Buffer.from(text)) hash = BigInt.asUintN(64, (hash ^ BigInt(byte)) * 0x100000001b3n);
  return hash.toString(16).padStart(16, '0');
}

function withShareLock<T>(podVolumeDir: PodVolumeDir, lock: ShareLock, work: () => Promise<T>): Promise<T> {
  const name = `share-${pathKey(podVolumeDir.path)}`;
  return withLock(name, { dir: lock.dir, timeoutMs: lock.waitMs }, work);
}

const withoutTrailingSlash = (text: string): string => text.replace(/\/+$/, '');

/** `server:/path` (the server bracketed when IPv6) split at the colon that ends the server. */
const NFS_SOURCE = /^(\[[^\]]*\]|[^:]*):(.*)$/;

/**
 * Whether a mounted source is the one asked for. Host names are case-insensitive everywhere; an
 * NFS export path is not (`/Export` and `/export` are different directories on the server), while
 * an SMB share and its path are (Azure Files matches them without regard to case).
 */
export function sameSource(fsType: string, mounted: string, wanted: string): boolean {
  const [a, b] = [withoutTrailingSlash(mounted), withoutTrailingSlash(wanted)];
  if (fsType !== 'nfs') return a.toLowerCase() === b.toLowerCase();
  const [mountedParts, wantedParts] = [NFS_SOURCE.exec(a), NFS_SOURCE.exec(b)];
  if (mountedParts === null || wantedParts === null) return a === b;
  return mountedParts[1]?.toLowerCase() === wantedParts[1]?.toLowerCase() && mountedParts[2] === wantedParts[2];
}

/**
 * Mounts a share at the pod's volume directory. Already mounted from the same source and healthy
 * is Success; a broken mount of the same source (ESTALE, ENOTCONN, a hang) is replaced; a mount
 * of anything else there is a Failure, left untouched.
 */
export async function mountShare(request: ShareMount): Promise<Reply> {
  return withShareLock(request.podVolumeDir, request.lock, () => mountShareLocked(request));
}

async function mountShareLocked(request: ShareMount): Promise<Reply> {
  const target = request.podVolumeDir.path;
  const existing = findMount(target);
  if (existing !== undefined) {
    if (!sameSource(request.fsType, existing.source, request.source)) {
      throw new DriverError(`${target} is already mounted from ${existing.source}, not ${request.source}; unmount it first`);
    }
    if (await isMountHealthy(existing, 5000)) {
      log(`${target} is already mounted from ${request.source}`);
      return success({ message: 'already mounted' });
    }
    log(`${target} is mounted from ${request.source} but broken; remounting`);
    await unmount(target, { timeoutMs: 30_000, networkShare: true });
  }
  const created = !fs.existsSync(target);
  ensureMountPoint(target);
  try {
    await mount({
      source: request.source,
      target,
      fsType: request.fsType,
      options: request.options.map(formatMountOption),
      timeoutMs: request.timeoutMs,
      ...(request.env ? { env: request.env } : {}),
      networkShare: true,
    });
  } catch (error) {
    if (created) fs.rmdirSync(target);
    throw error;
  }
  return success();
}

/** Unmounts a pod's share (however broken) and removes the directory; Success if nothing was mounted. */
export async function unmountShare(podVolumeDir: PodVolumeDir, lock: ShareLock): Promise<Reply> {
  return withShareLock(podVolumeDir, lock, async () => {
    await cleanupMountPoint(podVolumeDir.path, { timeoutMs: 30_000, networkShare: true });
    return success();
  });
}
