// Choosing and checking the plugin directory: presets, read-only targets, and what the host's
// kubelet and kube-controller-manager really use, read from a /proc tree built by the test.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { checkPluginDirUsers, findPluginDirUsers, flagValue, volumePluginDirOf, type PluginDirUser } from '../../src/install/detect.ts';
import { checkWritable, isReadOnly, KUBELET_DEFAULT_PLUGIN_DIR, PRESETS, resolveAzurediskMode, resolvePluginDir } from '../../src/install/presets.ts';

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flexvolume-target-'));
});
afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('presets', () => {
  test.each([
    ['default', '/usr/libexec/kubernetes/kubelet-plugins/volume/exec'],
    ['aks', '/etc/kubernetes/volumeplugins'],
    ['aks-engine', '/etc/kubernetes/volumeplugins'],
    ['gke', '/home/kubernetes/flexvolume'],
    ['rke', '/var/lib/kubelet/volumeplugins'],
    ['rancher', '/var/lib/kubelet/volumeplugins'],
    ['kubespray', '/var/lib/kubelet/volume-plugins'],
    ['openshift', '/etc/origin/kubelet-plugins/volume/exec'],
  ])('%s is %s', (preset, pluginDir) => {
    expect(resolvePluginDir({ preset })).toBe(pluginDir);
  });

  test('no choice is the kubelet default; a directory is normalised; contradictions and nonsense are refused', () => {
    expect(resolvePluginDir({})).toBe(KUBELET_DEFAULT_PLUGIN_DIR);
    expect(resolvePluginDir({ pluginDir: '/var/lib/kubelet/volumeplugins/' })).toBe('/var/lib/kubelet/volumeplugins');
    expect(() => resolvePluginDir({ pluginDir: '/x', preset: 'aks' })).toThrow(/either --plugin-dir or --preset, not both/);
    expect(() => resolvePluginDir({ preset: 'eks' })).toThrow(/unknown preset 'eks'; choose one of:\n {2}default/);
    expect(() => resolvePluginDir({ pluginDir: 'volumeplugins' })).toThrow(/must be an absolute path/);
    expect(Object.keys(PRESETS)).toHaveLength(8);
  });
});

describe('the azuredisk mode a preset implies', () => {
  test('aks (a managed control plane) implies node mode; the others leave controller as the default', () => {
    expect(resolveAzurediskMode({ preset: 'aks' })).toBe('node');
    expect(resolveAzurediskMode({ preset: 'aks', azurediskMode: 'node' })).toBe('node');
    expect(resolveAzurediskMode({ preset: 'aks-engine' })).toBe('controller');
    expect(resolveAzurediskMode({ preset: 'aks-engine', azurediskMode: 'node' })).toBe('node');
    expect(resolveAzurediskMode({})).toBe('controller');
    expect(resolveAzurediskMode({ azurediskMode: 'node' })).toBe('node');
  });

  test('aks with controller mode, the combination in which nobody attaches disks, is refused with what to do', () => {
    expect(() => resolveAzurediskMode({ preset: 'aks', azurediskMode: 'controller' })).toThrow(
      /--preset aks needs --azuredisk-mode=node: controller mode .* no disk would ever attach; leave out --azuredisk-mode/,
    );
  });
});

describe('read-only targets', () => {
  test('a directory on a read-only mount is refused, naming the writable presets', () => {
    const readOnly = path.join(dir, 'ro');
    fs.mkdirSync(readOnly);
    expect(spawnSync('mount', ['--bind', '-o', 'ro', readOnly, readOnly]).status).toBe(0);
    try {
      const target = path.join(readOnly, 'not/yet/created');
      expect(isReadOnly(target)).toBe(true);
      expect(checkWritable(target, false).error).toMatch(/is on a read-only filesystem; start the kubelet .*\n {2}default/s);
    } finally {
      spawnSync('umount', [readOnly]);
    }
    expect(isReadOnly(path.join(readOnly, 'not/yet/created'))).toBe(false);
  });

  test('under /usr: an error that says why when it is read-only, a warning when only the host /usr is', () => {
    // /usr here is writable: only the decision for a read-only host /usr is left to check.
    expect(checkWritable(KUBELET_DEFAULT_PLUGIN_DIR, true).warning).toMatch(/is under \/usr, which is read-only on this host/);
    expect(checkWritable(KUBELET_DEFAULT_PLUGIN_DIR, false)).toEqual({});
    expect(checkWritable('/etc/kubernetes/volumeplugins', true)).toEqual({});
  });
});

describe('kubelet configuration', () => {
  test('Go-style flags, last one wins', () => {
    expect(flagValue(['--volume-plugin-dir=/a', '--v=2'], 'volume-plugin-dir')).toBe('/a');
    expect(flagValue(['--volume-plugin-dir', '/a', '--volume-plugin-dir=/b'], 'volume-plugin-dir')).toBe('/b');
    expect(flagValue(['-volume-plugin-dir=/c'], 'volume-plugin-dir')).toBe('/c');
    expect(flagValue(['--volume-plugin-dirs=/d'], 'volume-plugin-dir')).toBeUndefined();
  });

  test('volumePluginDir from YAML and JSON KubeletConfiguration', () => {
    expect(volumePluginDirOf('kind: KubeletConfiguration\nvolumePluginDir: /var/lib/kubelet/volumeplugins\n')).toBe('/var/lib/kubelet/volumeplugins');
    expect(volumePluginDirOf('volumePluginDir: "/etc/kubernetes/volumeplugins" # AKS\n')).toBe('/etc/kubernetes/volumeplugins');
    expect(volumePluginDirOf("volumePluginDir: '/x y'\n")).toBe('/x y');
    expect(volumePluginDirOf('evictionHard:\n  volumePluginDir: /nested\n')).toBeUndefined();
    expect(volumePluginDirOf('{"kind":"KubeletConfiguration","volumePluginDir":"/json"}')).toBe('/json');
    expect(volumePluginDirOf('{"kind":')).toBeUndefined();
  });
});

/** A process in a fake /proc whose root is the real / (so paths in it are this machine's). */
function fakeProcess(procRoot: string, pid: number, argv: string[]): void {
  const entry = path.join(procRoot, String(pid));
  fs.mkdirSync(entry, { recursive: true });
  fs.writeFileSync(path.join(entry, 'cmdline'), `${argv.join('\0')}\0`);
  fs.symlinkSync('/', path.join(entry, 'root'));
  fs.symlinkSync(dir, path.join(entry, 'cwd'));
}

describe('who uses which plugin directory', () => {
  test('kubelet by flag, by drop-in, by config file and by default; kube-controller-manager; hyperkube; others ignored', () => {
    const proc = path.join(dir, 'proc');
    fs.writeFileSync(path.join(dir, 'kubelet.yaml'), 'volumePluginDir: /from/config\n');
    fs.mkdirSync(path.join(dir, 'kubelet.conf.d'));
    fs.writeFileSync(path.join(dir, 'kubelet.conf.d/10-a.conf'), 'volumePluginDir: /from/drop-in-a\n');
    fs.writeFileSync(path.join(dir, 'kubelet.conf.d/20-b.conf'), 'volumePluginDir: /from/drop-in-b\n');
    fs.writeFileSync(path.join(dir, 'kubelet.conf.d/30-c.conf'), 'maxPods: 30\n');
    fakeProcess(proc, 10, ['/usr/bin/kubelet', '--config', path.join(dir, 'kubelet.yaml'), '--volume-plugin-dir=/from/flag']);
    fakeProcess(proc, 11, ['/usr/bin/kubelet', `--config=${path.join(dir, 'kubelet.yaml')}`, `--config-dir=${path.join(dir, 'kubelet.conf.d')}`]);
    fakeProcess(proc, 12, ['kubelet', '--config=kubelet.yaml']);
    fakeProcess(proc, 13, ['/usr/local/bin/kubelet', '--v=2']);
    fakeProcess(proc, 14, ['/hyperkube', 'kube-controller-manager', '--flex-volume-plugin-dir=/kcm']);
    fakeProcess(proc, 15, ['kube-controller-manager']);
    fakeProcess(proc, 16, ['/usr/bin/containerd', '--volume-plugin-dir=/nope']);
    fs.mkdirSync(path.join(proc, 'self'));
    const users = findPluginDirUsers(proc)
      .map(({ process, pid, pluginDir, origin }) => ({ process, pid, pluginDir, origin }))
      .sort((a, b) => a.pid - b.pid);
    expect(users).toEqual([
      { process: 'kubelet', pid: 10, pluginDir: '/from/flag', origin: '--volume-plugin-dir' },
      { process: 'kubelet', pid: 11, pluginDir: '/from/drop-in-b', origin: `volumePluginDir in ${path.join(dir, 'kubelet.conf.d/20-b.conf')}` },
      { process: 'kubelet', pid: 12, pluginDir: '/from/config', origin: 'volumePluginDir in kubelet.yaml' },
      { process: 'kubelet', pid: 13, pluginDir: KUBELET_DEFAULT_PLUGIN_DIR, origin: 'the kubelet default' },
      { process: 'kube-controller-manager', pid: 14, pluginDir: '/kcm', origin: '--flex-volume-plugin-dir' },
      { process: 'kube-controller-manager', pid: 15, pluginDir: KUBELET_DEFAULT_PLUGIN_DIR, origin: 'the kube-controller-manager default' },
    ]);
    expect(findPluginDirUsers(path.join(dir, 'no-such-proc'))).toEqual([]);
  });

  const user = (fields: Partial<PluginDirUser>): PluginDirUser => ({
    process: 'kubelet',
    pid: 7,
    pluginDir: path.join(dir, 'plugins'),
    origin: '--volume-plugin-dir',
    root: '/',
    ...fields,
  });

  test('the same directory seen through the process root passes; a different one is an error that says what to do', () => {
    const pluginDir = path.join(dir, 'plugins');
    fs.mkdirSync(pluginDir);
    expect(checkPluginDirUsers(pluginDir, [user({})], { controllerAttach: true })).toEqual({
      errors: [],
      notes: [`kubelet (pid 7) uses ${pluginDir} (--volume-plugin-dir)`],
    });
    expect(checkPluginDirUsers(`${pluginDir}/`, [user({})], { controllerAttach: true }).errors).toEqual([]);
    const other = checkPluginDirUsers('/etc/kubernetes/volumeplugins', [user({})], { controllerAttach: true });
    expect(other.errors).toEqual([
      `kubelet (pid 7) uses ${pluginDir} (--volume-plugin-dir), but the driver would be installed into /etc/kubernetes/volumeplugins; ` +
        `install with --plugin-dir ${pluginDir} (and mount that host directory at the same path in the installer's pod)`,
    ]);
  });

  test('a directory this installer sees is not the one the kubelet sees at that path (a missing hostPath mount)', () => {
    const pluginDir = path.join(dir, 'plugins');
    const kubeletRoot = path.join(dir, 'kubelet-root');
    fs.mkdirSync(pluginDir);
    fs.mkdirSync(path.join(kubeletRoot, pluginDir), { recursive: true });
    expect(checkPluginDirUsers(pluginDir, [user({ root: kubeletRoot })], { controllerAttach: false }).errors).toEqual([
      `kubelet (pid 7) sees a different directory at ${pluginDir} than this installer; mount the host's ${pluginDir} at the same path in the installer's pod`,
    ]);
    fs.rmSync(pluginDir, { recursive: true });
    expect(checkPluginDirUsers(pluginDir, [user({ root: kubeletRoot })], { controllerAttach: false }).errors).toEqual([
      `kubelet (pid 7) has ${pluginDir} but this installer does not see it; mount the host's ${pluginDir} at the same path in the installer's pod`,
    ]);
  });

  test('kube-controller-manager binds only when it attaches; no kubelet at all is a note', () => {
    const pluginDir = path.join(dir, 'plugins');
    fs.mkdirSync(pluginDir);
    const controllerManager = user({ process: 'kube-controller-manager', pluginDir: '/usr/libexec/kubernetes/kubelet-plugins/volume/exec', origin: 'default' });
    const attaching = checkPluginDirUsers(pluginDir, [user({}), controllerManager], { controllerAttach: true });
    expect(attaching.errors).toEqual([expect.stringMatching(/^kube-controller-manager \(pid 7\) uses \/usr\/libexec/)]);
    const nodeMode = checkPluginDirUsers(pluginDir, [user({}), controllerManager], { controllerAttach: false });
    expect(nodeMode.errors).toEqual([]);
    expect(nodeMode.notes).toContainEqual(expect.stringMatching(/^kube-controller-manager \(pid 7\) uses \/usr\/libexec/));
    expect(checkPluginDirUsers(pluginDir, [], { controllerAttach: true }).notes).toEqual([
      expect.stringMatching(/^no kubelet process is visible/),
    ]);
  });
});
