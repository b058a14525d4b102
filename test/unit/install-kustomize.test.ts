// Every overlay under install/overlays rendered with `kubectl kustomize` (kustomize is built into
// kubectl), and what comes out validated strictly against the Kubernetes schema and checked for
// the platform it is for: which DaemonSets, which plugin directory in all three places, which
// azuredisk mode, which image, and nothing of the settings file itself.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseAllDocuments } from 'yaml';
import type { IDaemonSet } from 'kubernetes-models/apps/v1';
import { validateStrictly } from '../helpers/kubernetes-schema.ts';
import { PRESETS } from '../../src/install/presets.ts';

const INSTALL = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../../install');
const KUBECTL = ['/usr/bin/kubectl', '/usr/local/bin/kubectl'].find((file) => fs.existsSync(file));
const KUBELET_DEFAULT = '/usr/libexec/kubernetes/kubelet-plugins/volume/exec';

function render(overlay: string): Array<Record<string, any>> {
  const run = spawnSync(KUBECTL as string, ['kustomize', overlay], { encoding: 'utf8' });
  if (run.status !== 0) throw new Error(`kubectl kustomize ${overlay}: ${run.stderr}`);
  return parseAllDocuments(run.stdout).map((document) => document.toJS() as Record<string, any>);
}

interface Rendered {
  name: string;
  daemonSet: IDaemonSet;
  pluginDirs: { env: string | undefined; mountPath: string | undefined; hostPath: string | undefined };
  mode: string | undefined;
  image: string | undefined;
}

function describeDaemonSet(daemonSet: IDaemonSet): Rendered {
  const pod = daemonSet.spec?.template.spec;
  const container = pod?.containers.find((entry) => entry.name === 'install');
  const env = (name: string) => container?.env?.find((entry) => entry.name === name)?.value;
  return {
    name: daemonSet.metadata?.name ?? '',
    daemonSet,
    pluginDirs: {
      env: env('FLEXVOLUME_PLUGIN_DIR'),
      mountPath: container?.volumeMounts?.find((mount) => mount.name === 'plugin-dir')?.mountPath,
      hostPath: pod?.volumes?.find((volume) => volume.name === 'plugin-dir')?.hostPath?.path,
    },
    mode: env('FLEXVOLUME_AZUREDISK_MODE'),
    image: container?.image,
  };
}

const PLATFORMS = [
  { overlay: 'aks', pluginDir: PRESETS.aks?.pluginDir, mode: 'node', daemonSets: ['azure-flexvolume'] },
  { overlay: 'aks-engine', pluginDir: PRESETS['aks-engine']?.pluginDir, mode: 'controller', daemonSets: ['azure-flexvolume', 'azure-flexvolume-control-plane'] },
  { overlay: 'kubeadm', pluginDir: KUBELET_DEFAULT, mode: 'controller', daemonSets: ['azure-flexvolume', 'azure-flexvolume-control-plane'] },
  { overlay: 'generic', pluginDir: KUBELET_DEFAULT, mode: 'node', daemonSets: ['azure-flexvolume'] },
];

if (KUBECTL === undefined) {
  test.skip('SKIPPED: kubectl is not on this machine, so the overlays were not rendered (kubectl has kustomize built in; install it to run these)', () => undefined);
} else {
  test('every overlay directory is one this test knows', () => {
    expect(fs.readdirSync(path.join(INSTALL, 'overlays')).sort()).toEqual(PLATFORMS.map((platform) => platform.overlay).sort());
  });

  describe.each(PLATFORMS)('overlays/$overlay', ({ overlay, pluginDir, mode, daemonSets }) => {
    const objects = render(path.join(INSTALL, 'overlays', overlay));
    const rendered = objects.filter((object) => object.kind === 'DaemonSet').map((object) => describeDaemonSet(object as IDaemonSet));
    const settings = parseAllDocuments(fs.readFileSync(path.join(INSTALL, 'overlays', overlay, 'settings.yaml'), 'utf8'))[0]?.toJS() as {
      data: Record<string, string>;
    };

    test('renders only DaemonSets, each valid with no field the schema lacks, and not the settings file', () => {
      expect(objects.map((object) => object.kind)).toEqual(daemonSets.map(() => 'DaemonSet'));
      for (const object of objects) expect(() => validateStrictly(object, `${overlay}: ${object.metadata?.name}`)).not.toThrow();
    });

    test(`the DaemonSets for the platform: ${daemonSets.join(' and ')}, in kube-system`, () => {
      expect(rendered.map((entry) => entry.name).sort()).toEqual(daemonSets);
      expect(rendered.map((entry) => entry.daemonSet.metadata?.namespace)).toEqual(daemonSets.map(() => 'kube-system'));
    });

    test(`plugin directory ${pluginDir} in all three places, azuredisk in ${mode} mode, the settings' image`, () => {
      expect(settings.data).toMatchObject({ pluginDir, azurediskMode: mode });
      for (const entry of rendered) {
        expect(entry.pluginDirs).toEqual({ env: pluginDir, mountPath: pluginDir, hostPath: pluginDir });
        expect(entry.mode).toBe(mode);
        expect(entry.image).toBe(settings.data.image);
      }
    });
  });

  test('the aks overlay is what the aks preset implies: its directory and node mode', () => {
    expect(PRESETS.aks).toMatchObject({ pluginDir: '/etc/kubernetes/volumeplugins', azurediskMode: 'node' });
  });

  test('one settings file changes the image, the plugin directory and the mode everywhere', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flexvolume-overlay-'));
    try {
      fs.writeFileSync(
        path.join(dir, 'kustomization.yaml'),
        [
          'apiVersion: kustomize.config.k8s.io/v1beta1',
          'kind: Kustomization',
          'resources:',
          `  - ${path.relative(dir, path.join(INSTALL, 'base'))}`,
          '  - settings.yaml',
          'components:',
          `  - ${path.relative(dir, path.join(INSTALL, 'control-plane'))}`,
          `  - ${path.relative(dir, path.join(INSTALL, 'settings'))}`,
          '',
        ].join('\n'),
      );
      const settings = fs.readFileSync(path.join(INSTALL, 'overlays/kubeadm/settings.yaml'), 'utf8');
      fs.writeFileSync(
        path.join(dir, 'settings.yaml'),
        settings
          .replace(/^  image: .*$/m, '  image: registry.example/azure-flexvolume:0.1.0@sha256:0123')
          .replace(/^  pluginDir: .*$/m, '  pluginDir: /var/lib/kubelet/volumeplugins')
          .replace(/^  azurediskMode: .*$/m, '  azurediskMode: node'),
      );
      const rendered = render(dir).map((object) => describeDaemonSet(object as IDaemonSet));
      expect(rendered).toHaveLength(2);
      for (const entry of rendered) {
        const dirAt = '/var/lib/kubelet/volumeplugins';
        expect(entry).toMatchObject({ image: 'registry.example/azure-flexvolume:0.1.0@sha256:0123', mode: 'node' });
        expect(entry.pluginDirs).toEqual({ env: dirAt, mountPath: dirAt, hostPath: dirAt });
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
}
