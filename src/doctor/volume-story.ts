// `doctor --volume <pv>` / `--pod <uid>`: one volume's story from this host's driver log, so that
// "why is my pod stuck in ContainerCreating" has one command for an answer: every call in order
// with its time, duration and reply, what it was given (LUN, device, mount points), and the last
// failure with what to do about it.
import { CALLS, isCallName } from '../flexvolume/calls.ts';
import { parseDeviceMountPath, parsePodVolumeDir } from '../flexvolume/paths.ts';
import { fitLine, wrapText } from '../terminal-text.ts';
import type { LoggedCall } from './driver-log.ts';

/** What one call tells about its volume, read from its arguments by their names in the call table. */
interface CallSubject {
  volume: string | undefined;
  podUid: string | undefined;
  podVolumeDir: string | undefined;
  deviceMountPath: string | undefined;
  options: Record<string, string> | undefined;
  nodeName: string | undefined;
  device: string | undefined;
}

function parseOptions(text: string): Record<string, string> | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, string>) : undefined;
  } catch {
    return undefined;
  }
}

function attempt<T>(parse: () => T): T | undefined {
  try {
    return parse();
  } catch {
    return undefined;
  }
}

function subjectOf(entry: LoggedCall): CallSubject {
  const subject: CallSubject = { volume: undefined, podUid: undefined, podVolumeDir: undefined, deviceMountPath: undefined, options: undefined, nodeName: undefined, device: undefined };
  if (!isCallName(entry.call)) return subject;
  for (const [index, name] of CALLS[entry.call].args.entries()) {
    const value = entry.args[index];
    if (value === undefined) continue;
    if (name === 'options-json') subject.options = parseOptions(value);
    else if (name === 'node-name') subject.nodeName = value;
    else if (name === 'device') subject.device = value;
    else if (name === 'volume-name') subject.volume = value;
    else if (name === 'pod-volume-dir' || name === 'volume-path') {
      const pod = attempt(() => parsePodVolumeDir(value, entry.driver));
      if (pod !== undefined) Object.assign(subject, { podVolumeDir: pod.path, podUid: pod.podUid, volume: pod.volumeName });
    } else if (name === 'device-mount-path') {
      const global = attempt(() => parseDeviceMountPath(value, entry.driver));
      if (global !== undefined) Object.assign(subject, { deviceMountPath: global.path, volume: global.volumeName });
    }
  }
  subject.volume = subject.options?.['kubernetes.io/pvOrVolumeName'] || subject.volume;
  subject.podUid = subject.options?.['kubernetes.io/pod.uid'] || subject.podUid;
  return subject;
}

export interface StoryCall {
  time: string;
  driver: string;
  call: string;
  pid: number;
  /** The node an attach, isattached or detach was for. */
  nodeName: string | null;
  durationMs: number | null;
  /** The reply's status, or "no reply" when the call never answered. */
  result: string;
  message: string | null;
  device: string | null;
  attached: boolean | null;
  notes: string[];
}

export interface VolumeStory {
  volume: string;
  driver: string;
  /** What the volume is in its backend: the disk URI, the share. */
  source: string | null;
  nodeNames: string[];
  lun: string | null;
  device: string | null;
  globalMount: string | null;
  podMounts: Array<{ podUid: string; path: string; mounted: boolean }>;
  calls: StoryCall[];
  /** `retriedSuccessfully`: the same call succeeded after it, so it is history rather than the problem. */
  lastFailure: (StoryCall & { advice: string; retriedSuccessfully: boolean }) | null;
  hints: string[];
}

/** Advice by what the failure says, in the words an operator searches for. */
const ADVICE: ReadonlyArray<{ pattern: RegExp; advice: string }> = [
  {
    pattern: /is attached to .*, not to node/,
    advice:
      'The disk is held by another node. The pod waits in ContainerCreating until the disk is free there: ' +
      'delete or move the pod that uses it on that node (a node that is gone is force-detached by the attach-detach controller after 6 minutes).',
  },
  {
    pattern: /throttl|TooManyRequests|\b429\b/i,
    advice:
      "Azure is throttling this subscription's requests. The driver waits for the Retry-After Azure gave and Kubernetes retries: " +
      'nothing is lost by waiting; spread large rollouts over time.',
  },
  {
    pattern: /did not appear on this node|is not on this node/,
    advice:
      'Azure reports the disk attached, but this node does not see it at that LUN. Compare the LUN above with `doctor` (node VM: the LUNs Azure has) ' +
      'and `ls -l /dev/disk/azure/scsi1/`; a node that never sees the disk needs its SCSI bus rescanned or a reboot.',
  },
  {
    pattern: /did not finish within|gave up waiting/,
    advice: 'Azure was slow to answer. The operation may still complete; Kubernetes retries the call, and the next one finds it done.',
  },
  {
    pattern: /no VM named|no VM or scale-set instance/,
    advice: "The node's name does not lead to its VM: check resourceGroup and vmType in azure.json (`doctor` shows both).",
  },
  {
    pattern: /token|AADSTS|credential/i,
    advice: "The driver could not authenticate to Azure: run `doctor` for the credentials check, and compare azure.json with the cluster's identity.",
  },
  {
    pattern: /less than the requested|has not grown/,
    advice: 'Resize the disk in Azure first (a disk without live resize must be detached to grow); the kubelet retries expandfs once it is bigger.',
  },
  {
    pattern: /unknown option|option '[^']+'|is not valid JSON|fsType/,
    advice: "The PV's flexVolume options are wrong: the kubelet sends the same options on every retry, so fix the PV (or recreate it) and delete the pod.",
  },
];

function adviceFor(call: StoryCall): string {
  if (call.result === 'no reply') {
    return (
      `${call.call} never answered: it is still running, or it was killed (the kubelet gives waitforattach 10 minutes and ` +
      'every other call no limit; a node restart also ends it). Its last log lines show where it was; a call still running holds its volume up.'
    );
  }
  const text = call.message ?? '';
  return ADVICE.find(({ pattern }) => pattern.test(text))?.advice ?? 'The message is what `kubectl describe pod` shows; the driver says there what to do.';
}

function storyCall(entry: LoggedCall, subject: CallSubject): StoryCall {
  const reply = entry.reply;
  return {
    time: entry.time,
    driver: entry.driver,
    call: entry.call,
    pid: entry.pid,
    nodeName: subject.nodeName ?? null,
    durationMs: entry.durationMs ?? null,
    result: reply?.status ?? 'no reply',
    message: reply?.message ?? null,
    device: reply !== undefined && 'device' in reply && reply.device !== undefined ? reply.device : null,
    attached: reply !== undefined && 'attached' in reply && reply.attached !== undefined ? reply.attached : null,
    notes: entry.notes,
  };
}

/**
 * What a call found out on the way, from its log lines: in node mode `mount` attaches, finds the
 * device and stages the global mount itself, and says so only there.
 */
const NOTE_FACTS: ReadonlyArray<{ pattern: RegExp; fact: 'lun' | 'device' | 'globalMount' }> = [
  { pattern: /is attached to \S+ at LUN (\d+)$/, fact: 'lun' },
  { pattern: /^LUN \d+ is \S+, via (\S+) /, fact: 'device' },
  { pattern: /^\S+ is bound to (\S+) \(/, fact: 'globalMount' },
];

function learnFromNotes(story: VolumeStory, notes: readonly string[]): void {
  for (const note of notes) {
    for (const { pattern, fact } of NOTE_FACTS) {
      const value = pattern.exec(note)?.[1];
      if (value !== undefined) story[fact] = value;
    }
  }
}

const failed = (call: StoryCall): boolean => call.result === 'Failure' || call.result === 'no reply';

/** The volumes a pod's calls name. */
export function volumesOfPod(calls: readonly LoggedCall[], podUid: string): string[] {
  const volumes = calls.map(subjectOf).filter((subject) => subject.podUid === podUid && subject.volume !== undefined);
  return [...new Set(volumes.map((subject) => subject.volume as string))];
}

export function volumeStory(calls: readonly LoggedCall[], volume: string, azurediskMode: string): VolumeStory | undefined {
  const mine = calls.map((entry) => ({ entry, subject: subjectOf(entry) })).filter(({ subject }) => subject.volume === volume);
  if (mine.length === 0) return undefined;
  const story: VolumeStory = {
    volume,
    driver: mine[0]?.entry.driver ?? '',
    source: null,
    nodeNames: [],
    lun: null,
    device: null,
    globalMount: null,
    podMounts: [],
    calls: [],
    lastFailure: null,
    hints: [],
  };
  const pods = new Map<string, { podUid: string; path: string; mounted: boolean }>();
  for (const { entry, subject } of mine) {
    const call = storyCall(entry, subject);
    story.calls.push(call);
    const options = subject.options ?? {};
    story.source = options.diskURI ?? (options.shareName ? `share ${options.shareName}` : options.server ? `${options.server}:${options.share ?? ''}` : story.source);
    if (subject.nodeName !== undefined && !story.nodeNames.includes(subject.nodeName)) story.nodeNames.push(subject.nodeName);
    const succeeded = call.result === 'Success';
    learnFromNotes(story, entry.notes);
    if (entry.call === 'attach' && succeeded && call.device !== null) story.lun = call.device;
    if (entry.call === 'waitforattach') {
      story.lun = subject.device ?? story.lun;
      if (succeeded) story.device = call.device;
    }
    if (entry.call === 'mountdevice') {
      story.device = subject.device ?? story.device;
      story.globalMount = subject.deviceMountPath ?? story.globalMount;
    }
    if (subject.podVolumeDir !== undefined && subject.podUid !== undefined && (entry.call === 'mount' || entry.call === 'unmount')) {
      // Not supported counts as done: the kubelet then bind-mounts (or unmounts) the global mount itself.
      const answered = call.result === 'Success' || call.result === 'Not supported';
      const mounted = answered ? entry.call === 'mount' : (pods.get(subject.podVolumeDir)?.mounted ?? entry.call === 'unmount');
      pods.set(subject.podVolumeDir, { podUid: subject.podUid, path: subject.podVolumeDir, mounted });
    }
    if (failed(call)) story.lastFailure = { ...call, advice: adviceFor(call), retriedSuccessfully: false };
    else if (succeeded && story.lastFailure?.call === call.call) story.lastFailure.retriedSuccessfully = true;
  }
  story.podMounts = [...pods.values()];
  story.hints = hintsFor(story, azurediskMode);
  return story;
}

function hintsFor(story: VolumeStory, azurediskMode: string): string[] {
  if (story.driver !== 'azuredisk') return [];
  const seen = new Set(story.calls.map((call) => call.call));
  const hints: string[] = [];
  if (azurediskMode === 'controller' && !seen.has('attach') && (seen.has('waitforattach') || seen.has('mountdevice'))) {
    hints.push(
      'No attach in this log: in controller mode kube-controller-manager attaches and detaches, and those calls are logged on its host. ' +
        'A managed control plane (AKS) runs no FlexVolume driver, so nobody attaches: install with --azuredisk-mode node there.',
    );
  }
  const last = story.calls.at(-1);
  if (last !== undefined && last.call === 'waitforattach' && failed(last)) {
    hints.push('The last call waits for the disk on this node: the pod stays in ContainerCreating until the disk shows up at its LUN.');
  }
  return hints;
}

const seconds = (ms: number | null): string => (ms === null ? '-' : ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(1)} s`);

/** "2026-12-01T19:07:42.434Z" → "12-01 19:07:42.434": the day and time without the year and zone. */
const shortTime = (iso: string): string => `${iso.slice(5, 10)} ${iso.slice(11, 23)}`;

function answerText(call: StoryCall): string {
  const node = call.nodeName === null ? '' : `${call.nodeName}: `;
  // The row names the call already: its failure message need not say it again.
  if (call.message !== null) return node + call.message.replace(`${call.call} failed: `, '');
  if (call.device !== null) return `${node}device ${call.device}`;
  if (call.attached !== null) return `${node}${call.attached ? 'attached' : 'not attached'}`;
  return node.replace(/: $/, '');
}

export function formatStory(story: VolumeStory): string {
  const facts: Array<[string, string | null]> = [
    ['driver', story.driver],
    ['source', story.source],
    ['node', story.nodeNames.join(', ') || null],
    ['LUN', story.lun],
    ['device', story.device],
    ['global mount', story.globalMount],
    ...story.podMounts.map((pod): [string, string] => [`pod ${pod.podUid.slice(0, 8)}`, `${pod.path}${pod.mounted ? '' : ' (unmounted)'}`]),
  ];
  const shown = facts.filter((fact): fact is [string, string] => fact[1] !== null);
  const width = Math.max(...shown.map(([key]) => key.length));
  const rows = story.calls.map((call) =>
    fitLine(`  ${shortTime(call.time)}  ${call.call.padEnd(13)} ${seconds(call.durationMs).padStart(8)}  ${call.result.padEnd(13)} ${answerText(call)}`.trimEnd()),
  );
  const lines = [
    `volume ${story.volume}`,
    ...shown.map(([key, value]) => `  ${`${key}:`.padEnd(width + 1)} ${value}`),
    '',
    `  ${'time'.padEnd(18)}  ${'call'.padEnd(13)} ${'took'.padStart(8)}  ${'result'.padEnd(13)} message`,
    ...rows,
  ];
  if (story.lastFailure !== null) {
    const failure = story.lastFailure;
    const later = failure.retriedSuccessfully ? ' (a later retry succeeded)' : '';
    lines.push('', `last failure${later}: ${failure.call} at ${failure.time}`, `  ${wrapText(failure.message ?? failure.result, 2)}`);
    if (failure.notes.length > 0) lines.push('  its log lines:', ...failure.notes.slice(-8).map((note) => `    ${wrapText(note, 6)}`));
    lines.push(`  what to do: ${wrapText(failure.advice, 4, 14)}`);
  }
  for (const hint of story.hints) lines.push('', `note: ${wrapText(hint, 2, 6)}`);
  return lines.join('\n');
}
