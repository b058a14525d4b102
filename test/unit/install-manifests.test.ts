// Every manifest under install/ against the Kubernetes API schema (kubernetes-models), plus the
// properties the install story depends on: the plugin directory at the host's path, the log and
// host /proc mounts, scheduling on every node, and examples wired PV → PVC → Pod.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { DaemonSet, Deployment, type IDaemonSet } from 'kubernetes-models/apps/v1';
import { PersistentVolume, PersistentVolumeClaim, Pod, Secret, ServiceAccount, type IPersistentVolume, type IPersistentVolumeClaim, type IPod, type ISecret } from 'kubernetes-models/v1';
import { ClusterRole, ClusterRoleBinding, Role, RoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1';
import { StorageClass } from 'kubernetes-models/storage.k8s.io/v1';

const INSTALL = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../../install');

// Each constructor validates against the published OpenAPI schema of its kind.
const MODELS: Record<string, new (data: never) => { validate(): void }> = {
  DaemonSet,
  PersistentVolume,
  PersistentVolumeClaim,
  Pod,
  Secret,
  // The provisioner's (install/provisioner.yaml, install/examples/provisioning/; see provisioner-manifests.test.ts).
  ClusterRole,
  ClusterRoleBinding,
  Deployment,
  Role,
  RoleBinding,
  ServiceAccount,
  StorageClass,
};

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
      const Model = MODELS[kind];
      if (Model === undefined) throw new Error(`no model for ${kind}`);
      new Model(object as never).validate();
      return object as T;
    });
}

const manifests = fs
  .readdirSync(INSTALL, { recursive: true })
  .map(String)
  .filter((file) => file.endsWith('.yaml'))
  .sort();

test('the manifests are the ones this test knows', () => {
  expect(manifests).toEqual([
    'daemonset-control-plane.yaml',
    'daemonset.yaml',
    'examples/azuredisk.yaml',
    'examples/azurefile.yaml',
    'examples/nfs.yaml',
    'examples/provisioning/azuredisk.yaml',
    'examples/provisioning/azurefile.yaml',
    'examples/provisioning/nfs.yaml',
    'provisioner.yaml',
  ]);
});

test.each(manifests)('%s: every document is a valid object of a known kind', (file) => {
  const objects = load(file);
  expect(objects.length).toBeGreaterThan(0);
  for (const object of objects) {
    const Model = MODELS[String(object.kind)];
    expect(Model).toBeDefined();
    expect(() => new (Model as NonNullable<typeof Model>)(object as never).validate()).not.toThrow();
  }
});

test('the validation can fail: a DaemonSet with a bad field is rejected', () => {
  const [daemonSet] = load('daemonset.yaml');
  const broken = structuredClone(daemonSet) as { spec: { template: { spec: { containers: Array<Record<string, unknown>> } } } };
  (broken.spec.template.spec.containers[0] as Record<string, unknown>).securityContext = { privileged: 'yes' };
  expect(() => new DaemonSet(broken as never).validate()).toThrow();
});

describe.each(['daemonset.yaml', 'daemonset-control-plane.yaml'])('%s', (file) => {
  const [daemonSet] = validated<IDaemonSet>(file, 'DaemonSet');
  const pod = daemonSet?.spec?.template.spec;
  const container = pod?.containers[0];
  const args = container?.args ?? [];
  const flag = (name: string): string | undefined => args.find((arg) => arg.startsWith(`--${name}=`))?.slice(name.length + 3);
  const mountOf = (volume: string) => container?.volumeMounts?.find((mount) => mount.name === volume);
  const hostPathOf = (volume: string) => pod?.volumes?.find((entry) => entry.name === volume)?.hostPath;

  test('runs the installer, privileged, node-critical, with bounded resources and no API access', () => {
    expect(args[0]).toBe('install');
    expect(container?.securityContext?.privileged).toBe(true);
    expect(pod?.priorityClassName).toBe('system-node-critical');
    expect(pod?.automountServiceAccountToken).toBe(false);
    expect(container?.resources?.requests).toMatchObject({ cpu: expect.any(String), memory: expect.any(String) });
    expect(container?.resources?.limits?.memory).toBeDefined();
    expect(daemonSet?.spec?.selector.matchLabels).toEqual(daemonSet?.spec?.template.metadata?.labels);
  });

  test('mounts the host plugin directory at the path the host has, and that is the --plugin-dir', () => {
    const pluginDir = flag('plugin-dir');
    expect(pluginDir).toBe('/etc/kubernetes/volumeplugins');
    expect(hostPathOf('plugin-dir')?.path).toBe(pluginDir);
    expect(mountOf('plugin-dir')?.mountPath).toBe(pluginDir);
    expect(mountOf('plugin-dir')?.readOnly).not.toBe(true);
  });

  test('sees the driver log and the host processes', () => {
    expect(hostPathOf('log')?.path).toBe('/var/log');
    expect(mountOf('log')?.mountPath).toBe('/var/log');
    expect(hostPathOf('host-proc')?.path).toBe('/proc');
    expect(mountOf('host-proc')).toMatchObject({ mountPath: flag('host-proc'), readOnly: true });
    expect(flag('azuredisk-mode')).toBe('controller');
  });
});

test('the node DaemonSet tolerates every taint and leaves control-plane hosts to the other one', () => {
  const [daemonSet] = validated<IDaemonSet>('daemonset.yaml', 'DaemonSet');
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
  const [daemonSet] = validated<IDaemonSet>('daemonset-control-plane.yaml', 'DaemonSet');
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

test('the image recipe builds in a first stage and ships only the binary and its libraries', () => {
  const dockerfile = fs.readFileSync(path.join(INSTALL, 'Dockerfile'), 'utf8');
  const stages = dockerfile.split('\n').filter((line) => line.startsWith('FROM '));
  expect(stages).toEqual(['FROM node:24-bookworm AS build', 'FROM scratch']);
  expect(dockerfile).toMatch(/^RUN npm ci\b/m);
  expect(dockerfile).toMatch(/^RUN npm run build$/m);
  expect(dockerfile).toMatch(/^ENTRYPOINT \["\/flexvolume"\]$/m);
  const [daemonSet] = validated<IDaemonSet>('daemonset.yaml', 'DaemonSet');
  expect(daemonSet?.spec?.template.spec?.containers[0]?.command).toBeUndefined();
});
