// azure/azurefile and azure/nfs end to end: the built provisioner as a process against the stand-in
// API server (or FLEXVOLUME_E2E_KUBECONFIG's cluster), the ARM simulator and the mount stand-in; the
// PV it writes is then mounted by the built driver, as the kubelet would.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { startArmSimulator, type ArmSimulator } from '../arm-simulator/index.ts';
import {
  boundVolume,
  createClaim,
  createStorageClass,
  expectRequestsWithinRbac,
  growClaim,
  startCluster,
  startProvisioner,
  waitFor,
  waitForEvent,
  type ProvisionerProcess,
  type TestCluster,
} from '../helpers/cluster.ts';
import { goJson, mountOptions } from '../helpers/kubelet.ts';
import { BUNDLE, createSandbox, type Sandbox } from '../helpers/sandbox.ts';

let cluster: TestCluster;
let sim: ArmSimulator;
let sandbox: Sandbox;
let provisioner: ProvisionerProcess | undefined;
let counter = 0;

type Json = Record<string, any>;

beforeEach(async () => {
  cluster = await startCluster();
  sim = await startArmSimulator();
  sandbox = createSandbox(BUNDLE);
});

afterEach(async () => {
  await provisioner?.stop();
  provisioner = undefined;
  expectRequestsWithinRbac(cluster);
  await sandbox.cleanup();
  await sim.close();
  await cluster.close();
});

/** The provisioner runs with the sandbox's mount stand-in first on its PATH, as the tests' NFS. */
function start(): ProvisionerProcess {
  return startProvisioner({ cluster, sim, env: { PATH: sandbox.env.PATH } });
}

function storageClass(provisionerName: string, spec: Json = {}): Promise<string> {
  return createStorageClass(cluster, `files-${++counter}`, provisionerName, spec);
}

function claim(className: string, spec: Json = {}): Promise<Json> {
  return createClaim(cluster, `shared-${++counter}`, { storageClassName: className, accessModes: ['ReadWriteMany'], resources: { requests: { storage: '3Gi' } }, ...spec });
}




describe('azure/azurefile', () => {
  test('claims get shares in one tagged account, the key in a Secret of type azure/azurefile and nowhere else; the driver mounts the PV', async () => {
    provisioner = start();
    const className = await storageClass('azure/azurefile', { mountOptions: ['dir_mode=0750', 'actimeo=5'] });
    const first = await claim(className);
    const volume = await boundVolume(cluster, first);
    const pvName = `pvc-${first.metadata.uid}`;
    const account = sim.provisioning.allAccounts();
    expect(account).toHaveLength(1);
    const { name: accountName, keys } = account[0]!;
    expect(account[0]).toMatchObject({ skuName: 'Standard_LRS', kind: 'StorageV2', tags: { 'k8s-azure-created-by': 'azure-flexvolume-provisioner' } });
    expect(sim.provisioning.findShare(accountName, pvName)).toMatchObject({ quotaGiB: 3, protocol: 'SMB' });
    const secretName = `azure-storage-account-${accountName}-secret`;
    expect(volume.spec.flexVolume).toEqual({
      driver: 'azure/azurefile',
      options: { shareName: pvName, protocol: 'smb', storageAccount: accountName, mountOptions: 'dir_mode=0750,actimeo=5' },
      secretRef: { name: secretName, namespace: cluster.namespace },
    });
    const secret = (await cluster.get('secret', secretName, cluster.namespace)) as Json;
    expect(secret.type).toBe('azure/azurefile');
    const decoded = (key: string) => Buffer.from(secret.data[key], 'base64').toString('utf8');
    expect(decoded('azurestorageaccountname')).toBe(accountName);
    expect(decoded('azurestorageaccountkey')).toBe(keys[0]);

    // A second claim reuses the account and the Secret.
    const second = await claim(className);
    await boundVolume(cluster, second);
    expect(sim.provisioning.allAccounts()).toHaveLength(1);

    // The key appears in no log line, event or PV.
    const events = JSON.stringify(await cluster.list('event', cluster.namespace));
    const volumes = JSON.stringify(await cluster.list('pv'));
    for (const text of [provisioner.lines.join('\n'), events, volumes]) expect(text).not.toContain(keys[0]);

    // What the PV says, the built driver mounts, with the Secret as the kubelet passes it.
    const dir = sandbox.podVolumeDir('azurefile', pvName);
    fs.mkdirSync(dir, { recursive: true });
    const secrets = { azurestorageaccountname: accountName, azurestorageaccountkey: keys[0] };
    const reply = await sandbox.call('azurefile', ['mount', dir, goJson(mountOptions(volume.spec.flexVolume.options, { volumeName: pvName, secrets }))]);
    expect(reply.status).toBe('Success');
    expect(sandbox.mountRecords().at(-1)).toMatchObject({ fsType: 'cifs', source: `//${accountName}.file.core.windows.net/${pvName}` });
    expect((await sandbox.call('azurefile', ['unmount', dir])).status).toBe('Success');

    // Deleting the first claim removes its share and keeps the Secret the second PV still uses.
    await cluster.delete('pvc', first.metadata.name, cluster.namespace);
    await waitFor('the first PV deleted', async () => (await cluster.get('pv', pvName)) === undefined);
    expect(sim.provisioning.findShare(accountName, pvName)).toBeUndefined();
    expect(await cluster.get('secret', secretName, cluster.namespace)).toBeDefined();
    await cluster.delete('pvc', second.metadata.name, cluster.namespace);
    await waitFor('the Secret deleted with the last PV', async () => (await cluster.get('secret', secretName, cluster.namespace)) === undefined);
    expect(sim.provisioning.allAccounts()).toHaveLength(1);
  });

  test('Premium shares get at least 100 GiB in a FileStorage account; NFS needs Premium; a share grows when its claim asks for more', async () => {
    provisioner = start();
    const premium = await storageClass('azure/azurefile', { allowVolumeExpansion: true, parameters: { skuName: 'Premium_LRS', protocol: 'nfs' } });
    const pvc = await claim(premium);
    const volume = await boundVolume(cluster, pvc);
    const [account] = sim.provisioning.allAccounts();
    expect(account).toMatchObject({ kind: 'FileStorage', skuName: 'Premium_LRS', httpsOnly: false });
    expect(volume.spec.capacity.storage).toBe('100Gi');
    expect(volume.spec.flexVolume.secretRef).toBeUndefined();
    expect(sim.provisioning.findShare(account!.name, volume.metadata.name)).toMatchObject({ quotaGiB: 100, protocol: 'NFS' });
    await growClaim(cluster, pvc, '150Gi');
    await waitFor('the share grown', () => sim.provisioning.findShare(account!.name, volume.metadata.name)?.quotaGiB === 150);

    const standardNfs = await storageClass('azure/azurefile', { parameters: { skuName: 'Standard_LRS', protocol: 'nfs' } });
    const refused = await claim(standardNfs);
    expect((await waitForEvent(cluster, refused.metadata.name, 'ProvisioningFailed')).message).toMatch(/NFS file shares need a Premium FileStorage account/);
    const unknown = await claim(await storageClass('azure/azurefile', { parameters: { quota: '5' } }));
    expect((await waitForEvent(cluster, unknown.metadata.name, 'ProvisioningFailed')).message).toMatch(/unknown option 'quota'/);
    expect(sim.provisioning.allAccounts()).toHaveLength(1);
  });
});

/** Where the mount stand-in keeps the files of the export `source` (test/helpers/mount-standin.ts). */
function exportDir(source: string): string {
  return path.join(sandbox.dir, 'standin', 'exports', createHash('sha256').update(source).digest('hex').slice(0, 16), 'upper');
}

describe('azure/nfs', () => {
  test('each claim gets its own subdirectory of the export, made by mounting it; the driver mounts it; delete removes it', async () => {
    provisioner = start();
    const className = await storageClass('azure/nfs', { parameters: { server: 'nfs.example.com', share: '/exports/k8s', mountPermissions: '0770' }, mountOptions: ['nfsvers=4.1'] });
    const pvc = await claim(className);
    const volume = await boundVolume(cluster, pvc);
    const subdir = `${cluster.namespace}-${pvc.metadata.name}-${volume.metadata.name}`;
    expect(volume.spec.flexVolume).toEqual({
      driver: 'azure/nfs',
      options: { server: 'nfs.example.com', share: `/exports/k8s/${subdir}`, mountOptions: 'nfsvers=4.1' },
    });
    const made = path.join(exportDir('nfs.example.com:/exports/k8s'), subdir);
    expect(fs.statSync(made).mode & 0o777).toBe(0o770);
    expect(sandbox.mountRecords()[0]).toMatchObject({ fsType: 'nfs', source: 'nfs.example.com:/exports/k8s', options: ['nfsvers=4.1'] });

    const dir = sandbox.podVolumeDir('nfs', volume.metadata.name);
    fs.mkdirSync(dir, { recursive: true });
    expect((await sandbox.call('nfs', ['mount', dir, goJson(mountOptions(volume.spec.flexVolume.options, { volumeName: volume.metadata.name }))])).status).toBe('Success');
    expect(sandbox.mountRecords().at(-1)).toMatchObject({ source: `nfs.example.com:/exports/k8s/${subdir}` });
    expect((await sandbox.call('nfs', ['unmount', dir])).status).toBe('Success');

    fs.writeFileSync(path.join(made, 'data'), 'x');
    await cluster.delete('pvc', pvc.metadata.name, cluster.namespace);
    await waitFor('the PV deleted', async () => (await cluster.get('pv', volume.metadata.name)) === undefined);
    expect(fs.existsSync(made)).toBe(false);
  });

  test('with archiveOnDelete the subdirectory is renamed archived-<name> and kept', async () => {
    provisioner = start();
    const className = await storageClass('azure/nfs', { parameters: { server: '10.0.0.4', share: '/srv', archiveOnDelete: 'true' } });
    const pvc = await claim(className);
    const volume = await boundVolume(cluster, pvc);
    const subdir = `${cluster.namespace}-${pvc.metadata.name}-${volume.metadata.name}`;
    fs.writeFileSync(path.join(exportDir('10.0.0.4:/srv'), subdir, 'keep'), 'data');
    await cluster.delete('pvc', pvc.metadata.name, cluster.namespace);
    await waitFor('the PV deleted', async () => (await cluster.get('pv', volume.metadata.name)) === undefined);
    expect(fs.readFileSync(path.join(exportDir('10.0.0.4:/srv'), `archived-${subdir}`, 'keep'), 'utf8')).toBe('data');
    expect(fs.existsSync(path.join(exportDir('10.0.0.4:/srv'), subdir))).toBe(false);
  });

  test("delete reads the PV through the driver's schema: in a PV written by hand, [fd00::4] is the server fd00::4", async () => {
    provisioner = start();
    // A PV written by a person, not by the provisioner, whose claim is pre-bound to it: its
    // options are spelled as the driver accepts them, the IPv6 server in brackets.
    const made = path.join(exportDir('[fd00::4]:/srv'), 'by-hand');
    fs.mkdirSync(made, { recursive: true });
    fs.writeFileSync(path.join(made, 'data'), 'x');
    const pvName = `pv-by-hand-${++counter}`;
    const claimName = `claim-by-hand-${counter}`;
    await cluster.create({
      apiVersion: 'v1',
      kind: 'PersistentVolume',
      metadata: { name: pvName, annotations: { 'pv.kubernetes.io/provisioned-by': 'azure/nfs' } },
      spec: {
        capacity: { storage: '1Gi' },
        accessModes: ['ReadWriteMany'],
        persistentVolumeReclaimPolicy: 'Delete',
        storageClassName: '',
        claimRef: { namespace: cluster.namespace, name: claimName },
        flexVolume: { driver: 'azure/nfs', options: { server: '[fd00::4]', share: '/srv/by-hand' } },
      },
    });
    const pvc = await createClaim(cluster, claimName, { storageClassName: '', volumeName: pvName, accessModes: ['ReadWriteMany'], resources: { requests: { storage: '1Gi' } } });
    await boundVolume(cluster, pvc);
    await cluster.delete('pvc', claimName, cluster.namespace);
    await waitFor('the PV deleted', async () => (await cluster.get('pv', pvName)) === undefined);
    expect(fs.existsSync(made)).toBe(false);
    expect(new Set(sandbox.mountRecords().map((record) => record.source))).toEqual(new Set(['[fd00::4]:/srv']));
  });

  test('a missing server or a bad mode is refused with an event and nothing is mounted', async () => {
    provisioner = start();
    const noServer = await claim(await storageClass('azure/nfs', { parameters: { share: '/srv' } }));
    expect((await waitForEvent(cluster, noServer.metadata.name, 'ProvisioningFailed')).message).toMatch(/option 'server' is required/);
    const badMode = await claim(await storageClass('azure/nfs', { parameters: { server: 'srv', share: '/srv', mountPermissions: '999' } }));
    expect((await waitForEvent(cluster, badMode.metadata.name, 'ProvisioningFailed')).message).toMatch(/mountPermissions.*octal/);
    expect(sandbox.mountRecords()).toHaveLength(0);
  });
});
