// Where each distribution's kubelet looks for FlexVolume drivers (peers.md 3.4), and the checks
// that catch the classic mistakes before anything is written: a read-only target (/usr on
// container-optimised hosts) and a preset that is simply not the directory this kubelet uses.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { InvalidInput } from '../flexvolume/errors.ts';

export const KUBELET_DEFAULT_PLUGIN_DIR = '/usr/libexec/kubernetes/kubelet-plugins/volume/exec';

export type AzurediskMode = 'controller' | 'node';

export interface Preset {
  pluginDir: string;
  description: string;
  /** The mode the platform needs: on a managed control plane nobody would attach in controller mode. */
  azurediskMode?: AzurediskMode;
}

export const PRESETS: Readonly<Record<string, Preset>> = {
  default: { pluginDir: KUBELET_DEFAULT_PLUGIN_DIR, description: 'the kubelet default (kubeadm, most distributions)' },
  aks: { pluginDir: '/etc/kubernetes/volumeplugins', description: 'AKS, a managed control plane', azurediskMode: 'node' },
  'aks-engine': { pluginDir: '/etc/kubernetes/volumeplugins', description: 'aks-engine, self-managed Azure clusters' },
  gke: { pluginDir: '/home/kubernetes/flexvolume', description: 'GKE and GCE on Container-Optimized OS' },
  rke: { pluginDir: '/var/lib/kubelet/volumeplugins', description: 'RKE, Rancher, CoreOS/Flatcar, Typhoon' },
  rancher: { pluginDir: '/var/lib/kubelet/volumeplugins', description: 'same as rke' },
  kubespray: { pluginDir: '/var/lib/kubelet/volume-plugins', description: 'kubespray' },
  openshift: { pluginDir: '/etc/origin/kubelet-plugins/volume/exec', description: 'OpenShift 3.x on Atomic Host' },
};

export function describePresets(): string {
  return Object.entries(PRESETS)
    .map(([name, preset]) => {
      const mode = preset.azurediskMode === undefined ? '' : `; implies --azuredisk-mode=${preset.azurediskMode}`;
      return `  ${name.padEnd(11)} ${preset.pluginDir}  (${preset.description}${mode})`;
    })
    .join('\n');
}

export function resolvePluginDir(choice: { pluginDir?: string | undefined; preset?: string | undefined }): string {
  if (choice.pluginDir !== undefined && choice.preset !== undefined) {
    throw new InvalidInput('give either --plugin-dir or --preset, not both');
  }
  if (choice.preset !== undefined) {
    const preset = PRESETS[choice.preset];
    if (preset === undefined) {
      throw new InvalidInput(`unknown preset '${choice.preset}'; choose one of:\n${describePresets()}`);
    }
    return preset.pluginDir;
  }
  const dir = choice.pluginDir ?? KUBELET_DEFAULT_PLUGIN_DIR;
  if (!path.isAbsolute(dir)) throw new InvalidInput(`--plugin-dir must be an absolute path, not '${dir}'`);
  return path.resolve(dir);
}

/**
 * The azuredisk mode: the one given, else the preset's, else controller. A preset that needs node
 * mode refuses controller mode: on a managed control plane no kube-controller-manager runs the
 * driver, so no disk would ever be attached.
 */
export function resolveAzurediskMode(choice: { preset?: string | undefined; azurediskMode?: AzurediskMode | undefined }): AzurediskMode {
  const implied = choice.preset === undefined ? undefined : PRESETS[choice.preset]?.azurediskMode;
  if (implied !== undefined && choice.azurediskMode !== undefined && choice.azurediskMode !== implied) {
    throw new InvalidInput(
      `--preset ${choice.preset} needs --azuredisk-mode=${implied}: ${choice.azurediskMode} mode leaves attaching to a ` +
        `kube-controller-manager that ${choice.preset} does not let you install into, so no disk would ever attach; ` +
        `leave out --azuredisk-mode (the preset implies ${implied})`,
    );
  }
  return choice.azurediskMode ?? implied ?? 'controller';
}

function nearestExisting(dir: string): string {
  let current = dir;
  while (!fs.existsSync(current)) current = path.dirname(current);
  return current;
}

export function isReadOnly(dir: string): boolean {
  try {
    fs.accessSync(nearestExisting(dir), fs.constants.W_OK);
    return false;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EROFS';
  }
}

export interface WritableCheck {
  /** The directory cannot be used at all. */
  error?: string;
  warning?: string;
}

/**
 * `hostUsrReadOnly`: whether the host's /usr is read-only (COS, Flatcar, Fedora CoreOS, RHCOS),
 * where a plugin dir under /usr only works as a separate writable mount that may not survive.
 */
export function checkWritable(dir: string, hostUsrReadOnly: boolean): WritableCheck {
  const underUsr = dir === '/usr' || dir.startsWith('/usr/');
  if (isReadOnly(dir)) {
    return {
      error:
        `${dir} is on a read-only filesystem${underUsr ? ' (/usr is read-only on container-optimised hosts)' : ''}; ` +
        'start the kubelet (and kube-controller-manager) with --volume-plugin-dir / --flex-volume-plugin-dir set to a writable ' +
        `directory and install there with --plugin-dir, or use the matching preset:\n${describePresets()}`,
    };
  }
  if (underUsr && hostUsrReadOnly) {
    return {
      warning: `${dir} is under /usr, which is read-only on this host; the directory is writable only through a separate mount, make sure it survives a reboot`,
    };
  }
  return {};
}
