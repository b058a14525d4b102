// The azurefile driver: mounts an Azure Files share into a pod, over SMB 3 with the storage account
// key from the pod's Secret, or over NFS 4.1 (no key; the network is the access control). No
// attach, no device: `mount` does everything.
import * as z from 'zod/mini';
import { cloudEndpoints, readCloudName } from '../azure/clouds.ts';
import type { CallArgs, Driver } from '../flexvolume/driver.ts';
import { InvalidInput, describeError } from '../flexvolume/errors.ts';
import { checkedString, lazily, normalizedString, parseDriverOptions } from '../flexvolume/options.ts';
import type { PodVolumeDir } from '../flexvolume/paths.ts';
import { success, type Reply } from '../flexvolume/reply.ts';
import type { Settings } from '../settings.ts';
import { redactValue } from '../system/log.ts';
import { capabilitiesOf } from './identity.ts';
import {
  NFS_OPTION_ALIASES,
  applyReadOnly,
  exportPath,
  mergeMountOptions,
  mountOptionList,
  mountShare,
  nfsSource,
  serverName,
  shareLock,
  unmountShare,
  type MountOption,
} from './network-mount.ts';

/** Azure's rule for file share names: 3-63 characters, lower case, digits and single hyphens. */
const SHARE_NAME = /^(?=.{3,63}$)[a-z0-9]+(-[a-z0-9]+)*$/;
/** Azure's rule for storage account names; host names are case-insensitive, so any case is accepted. */
const ACCOUNT_NAME = /^[a-z0-9]{3,24}$/;
const DNS_SUFFIX = /^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)+$/;

/**
 * mount.cifs options that carry an identity. The driver alone sets it, from the Secret: `user=`
 * also accepts `domain/user%password`, and a domain has no meaning for storage-account-key
 * authentication, where the account name is the whole identity.
 */
const IDENTITY_OPTIONS = ['username', 'user', 'password', 'pass', 'password2', 'credentials', 'cred', 'domain', 'dom', 'workgroup'];

/** SMB dialects Azure Files speaks (2.1 only from inside the account's region, without encryption). */
const AZURE_SMB_VERSIONS = ['2.1', '3', '3.0', '3.02', '3.0.2', '3.1.1', '3.11', 'default'];

/**
 * Names of flags the kernel cannot negate, accepted so that every default can be switched off:
 * they remove the default and are not passed on.
 */
const DEFAULT_REMOVERS: Readonly<Record<string, string>> = { nomfsymlinks: 'mfsymlinks', sharesock: 'nosharesock' };

const SMB_OPTION_ALIASES: Readonly<Record<string, readonly string[]>> = {
  dirmode: ['dir_mode'],
  noserverino: ['serverino'],
  ...Object.fromEntries(Object.entries(DEFAULT_REMOVERS).map(([remover, flag]) => [remover, [flag]])),
};

const SECRET_KEYS = {
  accountName: ['azurestorageaccountname', 'accountname'],
  accountKey: ['azurestorageaccountkey', 'accountkey'],
} as const;

const lowerCase = (text: string) => text.trim().toLowerCase();

const accountName = lazily(() =>
  checkedString(lowerCase, (name) => ACCOUNT_NAME.test(name), 'must be a storage account name: 3 to 24 letters and digits'),
);

const userMountOptions = () =>
  mountOptionList().check(
    z.refine((options: MountOption[]) => !options.some((option) => IDENTITY_OPTIONS.includes(option.name.toLowerCase())), {
      message: `must not set ${IDENTITY_OPTIONS.join(', ')}: the driver authenticates with the account name and key from the Secret`,
    }),
  );

export const azurefileOptions = lazily(() =>
  z.object({
    shareName: checkedString(
      (text) => text.trim(),
      (name) => SHARE_NAME.test(name),
      'must be an Azure file share name: 3 to 63 lower-case letters, digits and single hyphens, starting and ending with a letter or digit',
    ),
    subDir: z.optional(z.pipe(exportPath(), z.transform((dir: string) => dir.split('/').filter((part) => part !== '').join('/')))),
    server: z.optional(serverName()),
    storageEndpointSuffix: z.optional(
      checkedString((text) => lowerCase(text).replace(/^\./, ''), (suffix) => DNS_SUFFIX.test(suffix), 'must be a DNS suffix such as core.windows.net'),
    ),
    storageAccount: z.optional(accountName()),
    protocol: z._default(z.pipe(normalizedString(lowerCase), z.enum(['smb', 'nfs'], { error: 'must be smb or nfs' })), 'smb'),
    mountOptions: z.optional(userMountOptions()),
    mountTimeoutSeconds: z.optional(
      z
        .pipe(z.string().check(z.regex(/^\s*\d{1,4}\s*$/, 'must be a whole number of seconds')), z.transform(Number))
        .check(z.refine((seconds: number) => seconds >= 1 && seconds <= 3600, { message: 'must be between 1 and 3600 seconds' })),
    ),
  }),
);

type AzurefileOptions = z.infer<ReturnType<typeof azurefileOptions>>;

/** Options with an empty value count as not given, as templated manifests often leave them. */
function givenOptions(user: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(user).filter(([, value]) => value.trim() !== ''));
}

/** Refuses an SMB dialect Azure Files would refuse, with a message better than mount error(95). */
function checkSmbVersion(options: readonly MountOption[]): void {
  const version = options.findLast((option) => option.name.toLowerCase() === 'vers');
  if (version !== undefined && !AZURE_SMB_VERSIONS.includes(version.value ?? '')) {
    throw new InvalidInput(
      `option 'mountOptions': vers=${version.value ?? ''} is not an SMB dialect Azure Files speaks; use one of ${AZURE_SMB_VERSIONS.join(', ')}`,
    );
  }
}

export interface SmbMountSettings {
  account: string;
  user: readonly MountOption[];
  fsGroup: number | undefined;
  readOnly: boolean;
}

/**
 * The options for mount.cifs: the identity first, then the defaults users of Azure Files need
 * (0777 modes because chmod and chown are impossible on the share, a 30 s attribute cache for
 * metadata-heavy work, a socket of its own per mount against reconnect races, symlinks the
 * share can store), then the user's own, each of which replaces the default of that name.
 *
 * fsGroup becomes `gid` only: it is a group, and the kubelet adds it to every container's groups,
 * so with 0777 modes any user of the pod can write. Setting `uid` to a group id would make files
 * look owned by an unrelated user; an application that checks its files' owner sets `uid` itself.
 */
export function smbMountOptions(settings: SmbMountSettings): MountOption[] {
  const flag = (name: string): MountOption => ({ name, value: undefined });
  const defaults: MountOption[] = [
    { name: 'vers', value: '3.0' },
    { name: 'dir_mode', value: '0777' },
    { name: 'file_mode', value: '0777' },
    { name: 'actimeo', value: '30' },
    flag('mfsymlinks'),
    flag('nosharesock'),
    { name: 'cache', value: 'strict' },
    flag('serverino'),
  ];
  if (settings.fsGroup !== undefined) defaults.push({ name: 'gid', value: String(settings.fsGroup) });
  const merged = mergeMountOptions(defaults, settings.user, SMB_OPTION_ALIASES).filter(
    (option) => !Object.hasOwn(DEFAULT_REMOVERS, option.name.toLowerCase()),
  );
  return applyReadOnly([{ name: 'username', value: settings.account }, ...merged], settings.readOnly);
}

/** The options for an NFS Azure Files share, as Azure documents them; the user's replace them by name. */
export function nfsMountOptions(user: readonly MountOption[], readOnly: boolean): MountOption[] {
  const defaults: MountOption[] = [
    { name: 'vers', value: '4' },
    { name: 'minorversion', value: '1' },
    { name: 'sec', value: 'sys' },
    { name: 'noresvport', value: undefined },
    { name: 'actimeo', value: '30' },
  ];
  return applyReadOnly(mergeMountOptions(defaults, user, NFS_OPTION_ALIASES), readOnly);
}

/** What the kubelet requires of the Secret: its type must be `<vendor>/<driver>`. */
function secretHelp(podVolumeDir: PodVolumeDir): string {
  const type = `${podVolumeDir.vendor}/azurefile`;
  return (
    `the PV's flexVolume.secretRef must name a Secret of type ${type} with keys ${SECRET_KEYS.accountName[0]} and ` +
    `${SECRET_KEYS.accountKey[0]} (or ${SECRET_KEYS.accountName[1]} and ${SECRET_KEYS.accountKey[1]}), e.g. ` +
    `kubectl create secret generic azurefile-secret --type=${type} --from-literal=${SECRET_KEYS.accountName[0]}=<account> ` +
    `--from-literal=${SECRET_KEYS.accountKey[0]}=<key>`
  );
}

/** One Secret value under either spelling; undefined when neither is there. */
function secretValue(secrets: Record<string, string>, names: readonly [string, string]): string | undefined {
  const [long, short] = names;
  const values = [secrets[long], secrets[short]].filter((value): value is string => value !== undefined);
  if (values.length === 2 && values[0] !== values[1]) {
    throw new InvalidInput(`the Secret has both ${long} and ${short} with different values; keep one of them`);
  }
  return values[0];
}

function requiredSecret(secrets: Record<string, string>, names: readonly [string, string], podVolumeDir: PodVolumeDir): string {
  const value = secretValue(secrets, names);
  if (value === undefined || value === '') {
    const problem =
      Object.keys(secrets).length === 0
        ? 'no Secret reached the driver'
        : value === undefined
          ? `the Secret has no ${names[0]} (nor ${names[1]})`
          : `the Secret's ${names[0]} is empty`;
    throw new InvalidInput(`${problem}; ${secretHelp(podVolumeDir)}`);
  }
  return value;
}

/**
 * The storage account: from the Secret, else from the `storageAccount` option (an NFS share needs
 * no Secret at all). Both given and different is a contradiction, not a choice.
 */
function storageAccountOf(volume: AzurefileOptions, secrets: Record<string, string>, podVolumeDir: PodVolumeDir): string {
  const fromSecret = secretValue(secrets, SECRET_KEYS.accountName);
  if (fromSecret === undefined || fromSecret === '') {
    if (volume.storageAccount !== undefined) return volume.storageAccount;
    if (volume.protocol === 'nfs') {
      throw new InvalidInput(`an NFS share needs its storage account: set the storageAccount option, or ${secretHelp(podVolumeDir)}`);
    }
    return requiredSecret(secrets, SECRET_KEYS.accountName, podVolumeDir);
  }
  const parsed = accountName().safeParse(fromSecret);
  if (!parsed.success) throw new InvalidInput(`the Secret's account name ${parsed.error.issues[0]?.message ?? 'is invalid'}`);
  if (volume.storageAccount !== undefined && volume.storageAccount !== parsed.data) {
    throw new InvalidInput(
      `the storageAccount option (${volume.storageAccount}) and the Secret's account name (${parsed.data}) differ; remove one`,
    );
  }
  return parsed.data;
}

/** The option, else the cloud named in azure.json, else (no azure.json, or no cloud in it) the public cloud. */
function storageEndpointSuffixOf(volume: AzurefileOptions, settings: Settings): string {
  if (volume.storageEndpointSuffix !== undefined) return volume.storageEndpointSuffix;
  const file = settings.azureCredentialFile;
  try {
    return cloudEndpoints(readCloudName(file)).storageEndpointSuffix;
  } catch (error) {
    throw new InvalidInput(`${describeError(error)}; fix ${file}, or set the storageEndpointSuffix option of the volume`);
  }
}

function shareHost(volume: AzurefileOptions, account: string, settings: Settings): string {
  return volume.server ?? `${account}.file.${storageEndpointSuffixOf(volume, settings)}`;
}

const withSubDir = (share: string, subDir: string | undefined): string => (subDir ? `${share}/${subDir}` : share);

export function createAzurefileDriver(settings: Settings): Driver {
  return {
    name: 'azurefile',
    capabilities: () => capabilitiesOf('azurefile', settings),

    async mount({ podVolumeDir, options }: CallArgs['mount']): Promise<Reply> {
      const volume = parseDriverOptions(azurefileOptions, givenOptions(options.user));
      const timeoutMs = volume.mountTimeoutSeconds === undefined ? settings.mountTimeoutMs : volume.mountTimeoutSeconds * 1000;
      const account = storageAccountOf(volume, options.secrets, podVolumeDir);
      const share = { podVolumeDir, timeoutMs, lock: shareLock(settings.stateDir, timeoutMs) };

      if (volume.protocol === 'nfs') {
        return mountShare({
          ...share,
          source: nfsSource(shareHost(volume, account, settings), `/${account}/${withSubDir(volume.shareName, volume.subDir)}`),
          fsType: 'nfs',
          options: nfsMountOptions(volume.mountOptions ?? [], options.readOnly),
        });
      }

      checkSmbVersion(volume.mountOptions ?? []);
      const key = requiredSecret(options.secrets, SECRET_KEYS.accountKey, podVolumeDir);
      redactValue(key);
      return mountShare({
        ...share,
        source: `//${shareHost(volume, account, settings)}/${withSubDir(volume.shareName, volume.subDir)}`,
        fsType: 'cifs',
        options: smbMountOptions({ account, user: volume.mountOptions ?? [], fsGroup: options.fsGroup, readOnly: options.readOnly }),
        // mount.cifs reads PASSWD itself: any character survives, and nothing shows in argv or ps.
        env: { PASSWD: key },
      });
    },

    async unmount({ podVolumeDir }: CallArgs['unmount']): Promise<Reply> {
      return unmountShare(podVolumeDir, shareLock(settings.stateDir, settings.mountTimeoutMs));
    },

    // The share's quota is Azure's business; Success lets the PVC resize complete.
    async expandfs(): Promise<Reply> {
      return success();
    },
  };
}
