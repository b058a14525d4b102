// What the current call has done so far, in a few words per step, so that a call stopped by a
// signal (the kubelet's or controller-manager's timeout) can say in one log line and in its reply
// where it was ("took lock azuredisk-device-7_3, started mkfs.ext4 (pid 812)"), and what the
// modules that started something (children) do about it then.
const MAX_STEPS = 20;
const steps: Array<{ text: string }> = [];
const stopHandlers: Array<() => string[]> = [];

/** Adds a step; what it returns rewrites that step once it is over ("started mkfs" → "ran mkfs: exit 0"). */
export function noteProgress(text: string): (outcome: string) => void {
  const step = { text };
  steps.push(step);
  if (steps.length > MAX_STEPS) steps.splice(0, steps.length - MAX_STEPS);
  return (outcome) => {
    step.text = outcome;
  };
}

export function progressSoFar(): string {
  return steps.length === 0 ? 'nothing yet' : steps.map((step) => step.text).join(', ');
}

/** `handler` runs when the call is stopped, and says what it did (e.g. "mount (pid 9) terminated"). */
export function onCallStopped(handler: () => string[]): void {
  stopHandlers.push(handler);
}

export function stopCall(): string[] {
  return stopHandlers.flatMap((handler) => handler());
}
