// The local demonstration: the three drivers' lifecycles through the built standalone binary,
// called exactly as the kubelet and kube-controller-manager call it, then dynamic provisioning by
// the same binary's provisioner, on this machine, with nothing to configure and no Azure account:
// an ARM simulator plays Azure, a loop device the disk, a fixture sysfs tree the SCSI bus, a mount
// stand-in mount.cifs and mount.nfs, and a stand-in API server Kubernetes. Each call and its
// JSON reply is printed with its duration; everything it creates is removed, even on Ctrl-C or a
// failure. Without root it runs what needs no mounts and says what it skipped. Exit status 1 when
// any step that should succeed did not.
import * as fs from 'node:fs';
import { startArmSimulator } from '../test/arm-simulator/index.ts';
import { createCleanups } from '../test/helpers/cleanups.ts';
import { createSandbox, SEA, useArmSimulator } from '../test/helpers/sandbox.ts';
import { azurediskScene } from './azuredisk.ts';
import { provisioningScene } from './provisioning.ts';
import { azurefileScene, nfsScene } from './shares.ts';
import { alias, bold, heading, note, SceneAborted, shown, summaryTable, type Story } from './show.ts';

/** Short enough for a quick demo, long enough that the batching and polling are real. */
const UPDATE_LATENCY_MS = 300;

const privileged = process.getuid?.() === 0;
/** How long an interrupted demo waits for the driver call in flight before it cleans up under it. */
const IN_FLIGHT_GRACE_MS = 30_000;

const cleanups = createCleanups(() => note('cleaned up: mounts, loop devices, temporary files, processes, simulators'));
let running: Story | undefined;

async function scene(story: Story, play: () => Promise<void>): Promise<void> {
  try {
    await play();
  } catch (error) {
    if (error instanceof SceneAborted) return;
    story.failures.push((error as Error).message);
    process.stdout.write(`   scene failed: ${(error as Error).message}\n`);
  }
}

async function main(): Promise<number> {
  if (!fs.existsSync(SEA)) throw new Error('bin/flexvolume is missing; run `npm run build` first');
  const startedAt = Date.now();
  const sandbox = createSandbox(SEA);
  cleanups.add(() => sandbox.cleanup());
  const sim = await startArmSimulator({ updateLatencyMs: UPDATE_LATENCY_MS });
  cleanups.add(() => sim.close());
  useArmSimulator(sandbox, sim);

  const story: Story = { sandbox, sim, failures: [], startedAt, interrupted: false, inFlight: undefined, aliases: [], scenes: [] };
  process.stdout.write(`${bold('azure-flexvolume demo')}: the standalone binary bin/flexvolume, called as\n`);
  note(
    'the kubelet and kube-controller-manager call it, installed as azuredisk, azurefile and nfs in ' +
      '$SANDBOX/volumeplugins/azure~<driver>/, with its log in $SANDBOX/driver.log and an azure.json that points at the ARM simulator. ' +
      'Paths are shown by these names:',
  );
  note(`$SANDBOX = ${sandbox.dir}`);
  alias(story, '$KUBELET', sandbox.kubeletRoot);
  if (!privileged) {
    note(
      "Not running as root: loop devices and mounts are out of reach, so the demo runs the calls that need neither (init, getvolumename, the controller-manager's attach, isattached and detach against the ARM simulator, the provisioner) and says at each scene what it skipped.",
    );
  }

  running = story;
  const stage = { story, sim, updateLatencyMs: UPDATE_LATENCY_MS, privileged, onCleanup: (step: () => void | Promise<void>) => cleanups.add(step) };
  const scenes = [
    () => azurediskScene(stage),
    () => azurefileScene(story, privileged),
    () => nfsScene(story, privileged),
    () => provisioningScene(stage),
  ];
  for (const play of scenes) {
    await scene(story, play);
    // The signal handler cleans up and sets the exit status.
    if (story.interrupted) return 130;
  }

  heading(story.failures.length === 0 ? 'done' : `done, with ${story.failures.length} failed step(s)`);
  summaryTable(story);
  for (const failure of story.failures) note(`✗ ${shown(story, failure)}`);
  const seconds = ((Date.now() - startedAt) / 1000).toFixed(1);
  note(`${sim.count({ kind: 'arm' })} ARM requests, ${sim.count({ kind: 'token' })} token requests to the simulator; ${seconds} s in all`);
  return story.failures.length === 0 ? 0 : 1;
}

/** No new step starts; the call in flight (which may be mounting) ends before clean-up begins. */
async function interrupt(signal: NodeJS.Signals): Promise<void> {
  process.stdout.write(`\n${signal}: `);
  if (running !== undefined) {
    running.interrupted = true;
    if (running.inFlight !== undefined) {
      process.stdout.write('waiting for the driver call in flight, then ');
      await Promise.race([running.inFlight, new Promise((resolve) => setTimeout(resolve, IN_FLIGHT_GRACE_MS).unref())]);
    }
  }
  process.stdout.write('cleaning up\n');
  await cleanups.run();
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    void interrupt(signal).finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
  });
}

main()
  .then((code) => {
    process.exitCode = code;
  })
  .catch((error: unknown) => {
    process.stderr.write(`demo failed: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  })
  .finally(() => cleanups.run());
