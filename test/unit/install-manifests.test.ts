// Every manifest under install/ against the Kubernetes API schema, strictly (unknown fields are
// errors), plus the properties the install story depends on: the plugin directory at the host's
// path, the log and host /proc mounts, scheduling on every node, the mode each DaemonSet ships with,
// uninstall on deletion, and examples wired PV → PVC → Pod. The overlays: install-kustomize.test.ts.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseAllDocuments } from 'yaml';
import type { IDaemonSet } from 'kubernetes-models/apps/v1';
import type { IPersistentVolume, IPersistentVolumeClaim, IPod, ISecret } from 'kubernetes-models/v1';
import { validateStrictly } from '../helpers/kubernetes-schema.ts';

const INSTALL = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../../install');

function load(file: string): Array<Record<string, unknown>> {
  const documents = parseAllDocuments(fs.readFileSync(path.join(INSTALL, file), 'utf8'));
  return documents.map((document) => {
    if (document.errors.length > 0) throw new Error(`${file}: ${document.errors.map((error) => error.message).join('; ')}`);
    return document.toJS() as Record<string, unknown>;
  });
}

function validated<T>(file: string, kind: string): T[] {
  return load(file)
    .filter((object) => object.kind === kind)
    .map((object) => {
      validateStrictly(object, file);
      return object as T;
    });
}

// Kustomizations are kustomize's own configuration, not API objects (install-kustomize.test.ts renders them).
const manifests = fs
  .readdirSync(INSTALL, { recursive: true })
  .map(String)
  .filter((file) => file.endsWith('.yaml') && path.basename(file) !== 'kustomization.yaml')
  .sort();

test('the manifests include the DaemonSets, the overlay settings and the examples', () => {
  expect(manifests).toEqual(
    expect.arrayContaining(['base/daemonset.yaml', 'control-plane/daemonset.yaml', 'examples/nfs.yaml', 'overlays/aks/settings.yaml', 'provisioner.yaml']),
  );
});

test.each(manifests)('%s: every document is a valid object of a known kind, with no field its schema lacks', (file) => {
  const objects = load(file);
  expect(objects.length).toBeGreaterThan(0);
  for (const object of objects) expect(() => validateStrictly(object, file)).not.toThrow();
});

describe('the validation can fail', () => {
  const [daemonSet] = load('base/daemonset.yaml');
  const container = (copy: Record<string, any>): Record<string, unknown> => copy.spec.template.spec.containers[0];

  test('a field of the wrong type', () => {
    const broken = structuredClone(daemonSet) as Record<string, any>;
    container(broken).securityContext = { privileged: 'yes' };
    expect(() => validateStrictly(broken, 'broken')).toThrow(/invalid DaemonSet at \/spec\/template\/spec\/containers\/0\/securityContext\/privileged/);
  });

  test('a misspelled field (volumeMount), anywhere', () => {
    const broken = structuredClone(daemonSet) as Record<string, any>;
    container(broken).volumeMount = container(broken).volumeMounts;
    broken.spec.template.spec.volumes[0].hostPath.tpye = 'Directory';
    expect(() => validateStrictly(broken, 'broken')).toThrow(
      'broken: fields DaemonSet does not have: /spec/template/spec/containers/0/volumeMount, /spec/template/spec/volumes/0/hostPath/tpye',
    );
  });
});

const envOf = (container: { env?: Array<{ name: string; value?: string }> } | undefined, name: string): string | undefined =>
  container?.env?.find((entry) => entry.name === name)?.value;

describe.each([
  { file: 'base/daemonset.yaml', mode: 'node' },
  { file: 'control-plane/daemonset.yaml', mode: 'controller' },
])('$file', ({ file, mode }) => {
  const [daemonSet] = validated<IDaemonSet>(file, 'DaemonSet');
  const pod = daemonSet?.spec?.template.spec;
  const container = pod?.containers[0];
  const args = container?.args ?? [];
  const flag = (name: string): string | undefined => args.find((arg) => arg.startsWith(`--${name}=`))?.slice(name.length + 3);
  const mountOf = (volume: string) => container?.volumeMounts?.find((mount) => mount.name === volume);
  const hostPathOf = (volume: string) => pod?.volumes?.find((entry) => entry.name === volume)?.hostPath;
  const text = fs.readFileSync(path.join(INSTALL, file), 'utf8');

  test('runs the installer, privileged, node-critical, with bounded resources and no API access', () => {
    expect(args[0]).toBe('install');
    expect(container?.command).toBeUndefined();
    expect(container?.securityContext?.privileged).toBe(true);
    expect(pod?.priorityClassName).toBe('system-node-critical');
    expect(pod?.automountServiceAccountToken).toBe(false);
    expect(container?.resources?.requests).toMatchObject({ cpu: expect.any(String), memory: expect.any(String) });
    expect(container?.resources?.limits?.memory).toBeDefined();
    expect(daemonSet?.spec?.selector.matchLabels).toEqual(daemonSet?.spec?.template.metadata?.labels);
  });

  test('mounts the host plugin directory at the path the host has, and that is FLEXVOLUME_PLUGIN_DIR', () => {
    const pluginDir = envOf(container, 'FLEXVOLUME_PLUGIN_DIR');
    expect(pluginDir).toBe('/usr/libexec/kubernetes/kubelet-plugins/volume/exec');
    expect(hostPathOf('plugin-dir')?.path).toBe(pluginDir);
    expect(mountOf('plugin-dir')?.mountPath).toBe(pluginDir);
    expect(mountOf('plugin-dir')?.readOnly).not.toBe(true);
    expect(flag('plugin-dir')).toBeUndefined();
  });

  test('sees the driver log and the host processes', () => {
    expect(hostPathOf('log')?.path).toBe('/var/log');
    expect(mountOf('log')?.mountPath).toBe('/var/log');
    expect(hostPathOf('host-proc')?.path).toBe('/proc');
    expect(mountOf('host-proc')).toMatchObject({ mountPath: flag('host-proc'), readOnly: true });
  });

  test(`ships with ${mode} mode, and its header says so and why`, () => {
    expect(envOf(container, 'FLEXVOLUME_AZUREDISK_MODE')).toBe(mode);
    expect(flag('azuredisk-mode')).toBeUndefined();
    const header = text.slice(0, text.indexOf('apiVersion:'));
    expect(header).toContain(`ships with ${mode.toUpperCase()} mode`);
    expect(header).toMatch(/because|the only one in which it is needed/);
  });

  test('uninstalls on deletion, but a rolling update starts the new pod first so it never does then', () => {
    expect(container?.lifecycle?.preStop?.exec?.command).toEqual(['/flexvolume', 'install', '--uninstall', '--unless-replaced', '--no-follow', `--host-proc=${flag('host-proc')}`]);
    expect(daemonSet?.spec?.updateStrategy?.rollingUpdate?.maxUnavailable).toBe(0);
    expect(daemonSet?.spec?.updateStrategy?.rollingUpdate?.maxSurge).toBeTruthy();
  });

  test('names the image as <registry>/azure-flexvolume:<version> and says to pin its digest', () => {
    const version = JSON.parse(fs.readFileSync(path.join(INSTALL, '../package.json'), 'utf8')).version as string;
    expect(container?.image).toBe(`<registry>/azure-flexvolume:${version}`);
    expect(fs.readFileSync(path.join(INSTALL, 'overlays/aks/settings.yaml'), 'utf8')).toContain(`<registry>/azure-flexvolume:${version}@sha256:<index digest>`);
  });
});

test('the node DaemonSet tolerates every taint and leaves control-plane hosts to the other one', () => {
  const [daemonSet] = validated<IDaemonSet>('base/daemonset.yaml', 'DaemonSet');
  const pod = daemonSet?.spec?.template.spec;
  expect(pod?.tolerations).toEqual([{ operator: 'Exists' }]);
  const terms = pod?.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms;
  expect(terms).toEqual([
    {
      matchExpressions: [
        { key: 'node-role.kubernetes.io/control-plane', operator: 'DoesNotExist' },
        { key: 'node-role.kubernetes.io/master', operator: 'DoesNotExist' },
      ],
    },
  ]);
});

test('the control-plane DaemonSet runs only on control-plane hosts, through their taints', () => {
  const [daemonSet] = validated<IDaemonSet>('control-plane/daemonset.yaml', 'DaemonSet');
  const pod = daemonSet?.spec?.template.spec;
  const terms = pod?.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms ?? [];
  expect(terms.map((term) => term.matchExpressions)).toEqual([
    [{ key: 'node-role.kubernetes.io/control-plane', operator: 'Exists' }],
    [{ key: 'node-role.kubernetes.io/master', operator: 'Exists' }],
  ]);
  for (const key of ['node-role.kubernetes.io/control-plane', 'node-role.kubernetes.io/master']) {
    expect(pod?.tolerations).toContainEqual({ key, operator: 'Exists', effect: 'NoSchedule' });
  }
  expect(pod?.containers[0]?.args).toContain('--libraries=bundled');
});

describe.each([
  { driver: 'azuredisk', accessMode: 'ReadWriteOnce' },
  { driver: 'azurefile', accessMode: 'ReadWriteMany' },
  { driver: 'nfs', accessMode: 'ReadWriteMany' },
])('examples/$driver.yaml', ({ driver, accessMode }) => {
  const file = `examples/${driver}.yaml`;
  const [pv] = validated<IPersistentVolume>(file, 'PersistentVolume');
  const [pvc] = validated<IPersistentVolumeClaim>(file, 'PersistentVolumeClaim');
  const [pod] = validated<IPod>(file, 'Pod');

  test('a 5Gi PV of the driver, bound to its PVC without a StorageClass, used by a Pod', () => {
    expect(pv?.spec?.flexVolume?.driver).toBe(`azure/${driver}`);
    expect(pv?.spec?.capacity).toEqual({ storage: '5Gi' });
    expect(pv?.spec?.accessModes).toEqual([accessMode]);
    expect(pv?.spec?.storageClassName).toBe('');
    expect(pvc?.spec?.storageClassName).toBe('');
    expect(pvc?.spec?.volumeName).toBe(pv?.metadata?.name);
    expect(pvc?.spec?.accessModes).toEqual([accessMode]);
    expect(pvc?.spec?.resources?.requests).toEqual({ storage: '5Gi' });
    const volume = pod?.spec?.volumes?.[0];
    expect(volume?.persistentVolumeClaim?.claimName).toBe(pvc?.metadata?.name);
    expect(pod?.spec?.containers[0]?.volumeMounts?.[0]?.name).toBe(volume?.name);
  });
});

test('azuredisk example: diskName, diskURI and ext4', () => {
  const [pv] = validated<IPersistentVolume>('examples/azuredisk.yaml', 'PersistentVolume');
  const flexVolume = pv?.spec?.flexVolume;
  expect(flexVolume?.fsType).toBe('ext4');
  expect(flexVolume?.options?.diskName).toBe('mydisk');
  expect(flexVolume?.options?.diskURI).toMatch(/^\/subscriptions\/[^/]+\/resourceGroups\/[^/]+\/providers\/Microsoft\.Compute\/disks\/mydisk$/);
});

test('azurefile example: a Secret of the driver type with the account keys, mounted at /mnt/blobfile', () => {
  const [secret] = validated<ISecret>('examples/azurefile.yaml', 'Secret');
  const [pv] = validated<IPersistentVolume>('examples/azurefile.yaml', 'PersistentVolume');
  const [pod] = validated<IPod>('examples/azurefile.yaml', 'Pod');
  // The kubelet hands a flexVolume only a Secret whose type is the driver name.
  expect(secret?.type).toBe('azure/azurefile');
  expect(Object.keys(secret?.stringData ?? {}).sort()).toEqual(['azurestorageaccountkey', 'azurestorageaccountname']);
  expect(pv?.spec?.flexVolume?.secretRef?.name).toBe(secret?.metadata?.name);
  expect(pv?.spec?.flexVolume?.options?.shareName).toBeDefined();
  expect(pod?.spec?.containers[0]?.volumeMounts?.[0]?.mountPath).toBe('/mnt/blobfile');
});

test('nfs example: server and share', () => {
  const [pv] = validated<IPersistentVolume>('examples/nfs.yaml', 'PersistentVolume');
  expect(pv?.spec?.flexVolume?.options).toMatchObject({ server: '10.0.0.5', share: '/exports/data' });
});
