// The network-share scenes: an Azure Files share over SMB and an NFS export, each mounted into a
// pod through the mount stand-in (this kernel has no CIFS or NFS client): it records exactly what
// mount.cifs or mount.nfs was asked for and mounts a local overlay in its place, so the mount
// table, unmount and clean-up are real.
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { goJson, mountOptions } from '../test/helpers/kubelet.ts';
import { mountsUnder } from '../test/helpers/sandbox.ts';
import { action, alias, beginScene, check, driverCall, eventsHeader, note, shown, skipped, standIn, type Story } from './show.ts';

const ACCOUNT = 'demostorageacct';

const MOUNT_STANDIN = (helper: string, protocol: string): string =>
  `this kernel has no ${protocol} client, so ${helper} is the mount stand-in: it records what the driver asked for and mounts a local directory there, with the share as its source, so the mount table, unmount and clean-up are real`;

export async function azurefileScene(story: Story, privileged: boolean): Promise<void> {
  beginScene(story, 'azurefile over SMB', `azurefile: a pod mounts share 'reports' of storage account ${ACCOUNT} over SMB, key from its Secret`);
  // A real storage account key is 64 random bytes in base64.
  const key = crypto.randomBytes(64).toString('base64');
  const dir = story.sandbox.podVolumeDir('azurefile', 'pv-reports');
  const options = goJson(
    mountOptions(
      { shareName: 'reports', mountOptions: 'nobrl' },
      { volumeName: 'pv-reports', fsGroup: 2000, secrets: { azurestorageaccountname: ACCOUNT, azurestorageaccountkey: key } },
    ),
  );
  eventsHeader();
  await driverCall(story, { driver: 'azurefile', from: 'kubelet', reason: 'ProbeDriver', args: ['init'], expect: { status: 'Success', capabilities: { attach: false } } });
  if (!privileged) {
    skipped('mount and unmount: mounting needs root (run `sudo ./scripts/demo.sh` to see them)');
    return;
  }
  standIn(MOUNT_STANDIN('mount.cifs', 'SMB'));
  alias(story, '$POD', dir);
  await action(story, { from: 'kubelet', reason: 'PrepareForMount', what: `mkdir -m 0750 -p ${dir}` }, () => fs.mkdirSync(dir, { recursive: true, mode: 0o750 }));
  await driverCall(story, { driver: 'azurefile', from: 'kubelet', reason: 'SetUp', args: ['mount', dir, options], expect: { status: 'Success' } });
  const record = story.sandbox.mountRecords().find((entry) => entry.fsType === 'cifs');
  note(shown(story, `the stand-in mount.cifs was asked for: mount ${record?.argv.join(' ') ?? '(nothing recorded)'}`));
  note(`with PASSWD in its environment (${record?.env.PASSWD?.length ?? 0} characters, the key from the Secret, not shown)`);
  check(story, record?.env.PASSWD === key, 'the key reached mount.cifs through PASSWD');
  check(story, record !== undefined && !record.argv.join(' ').includes(key), 'the key is not in any argument (nothing in ps shows it)');
  check(story, !story.sandbox.readLog().includes(key), 'the key is not in the driver log');
  await action(story, { from: 'pod', reason: 'Write', what: `echo 'quarterly report' > ${path.join(dir, 'q3.txt')}` }, () =>
    fs.writeFileSync(path.join(dir, 'q3.txt'), 'quarterly report\n'),
  );
  await driverCall(story, { driver: 'azurefile', from: 'kubelet', reason: 'TearDown', args: ['unmount', dir], expect: { status: 'Success' } });
  check(story, !fs.existsSync(dir) && !mountsUnder(story.sandbox.dir).includes(dir), 'unmounted, and the pod directory removed for the kubelet');
}

export async function nfsScene(story: Story, privileged: boolean): Promise<void> {
  beginScene(story, 'nfs', 'nfs: a pod mounts export 10.0.0.5:/exports/data');
  const dir = story.sandbox.podVolumeDir('nfs', 'pv-nfs');
  const options = goJson(mountOptions({ server: '10.0.0.5', share: '/exports/data', mountOptions: 'nfsvers=4.1,hard' }, { volumeName: 'pv-nfs' }));
  eventsHeader();
  await driverCall(story, { driver: 'nfs', from: 'kubelet', reason: 'ProbeDriver', args: ['init'], expect: { status: 'Success', capabilities: { attach: false } } });
  if (!privileged) {
    skipped('mount and unmount: mounting needs root (run `sudo ./scripts/demo.sh` to see them)');
    return;
  }
  standIn(MOUNT_STANDIN('mount.nfs', 'NFS'));
  alias(story, '$POD', dir);
  await action(story, { from: 'kubelet', reason: 'PrepareForMount', what: `mkdir -m 0750 -p ${dir}` }, () => fs.mkdirSync(dir, { recursive: true, mode: 0o750 }));
  await driverCall(story, { driver: 'nfs', from: 'kubelet', reason: 'SetUp', args: ['mount', dir, options], expect: { status: 'Success' } });
  const record = story.sandbox.mountRecords().find((entry) => entry.fsType.startsWith('nfs'));
  note(shown(story, `the stand-in mount.nfs was asked for: mount ${record?.argv.join(' ') ?? '(nothing recorded)'}`));
  await action(story, { from: 'pod', reason: 'Write', what: `echo 'hello from the nfs share' > ${path.join(dir, 'index.html')}` }, () =>
    fs.writeFileSync(path.join(dir, 'index.html'), 'hello from the nfs share\n'),
  );
  await driverCall(story, { driver: 'nfs', from: 'kubelet', reason: 'SetUp', args: ['mount', dir, options], expect: { status: 'Success' } });
  note('the same volume mounted again (a kubelet retry): Success, nothing mounted twice');
  await driverCall(story, { driver: 'nfs', from: 'kubelet', reason: 'TearDown', args: ['unmount', dir], expect: { status: 'Success' } });
  await driverCall(story, { driver: 'nfs', from: 'kubelet', reason: 'TearDown', args: ['unmount', dir], expect: { status: 'Success' } });
  check(story, !fs.existsSync(dir) && mountsUnder(story.sandbox.dir).length === 0, 'unmounted (twice: the second is a no-op), and the pod directory removed');
}
