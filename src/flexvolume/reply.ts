// What a driver answers. The kubelet decodes it with Go's encoding/json into DriverStatus: every
// field has one exact type, capabilities are booleans (never null), and "Success" or
// "Not supported" are the only statuses that do not fail the call.
import { redact } from '../system/log.ts';

export interface Capabilities {
  attach: boolean;
  selinuxRelabel: boolean;
  supportsMetrics: boolean;
  fsGroup: boolean;
  requiresFSResize: boolean;
}

export type Reply =
  | { status: 'Success'; message?: string; device?: string; attached?: boolean; capabilities?: Capabilities }
  | { status: 'Failure'; message: string }
  | { status: 'Not supported'; message?: string };

export const success = (fields: Omit<Extract<Reply, { status: 'Success' }>, 'status'> = {}): Reply => ({
  status: 'Success',
  ...fields,
});

export const failure = (message: string): Reply => ({ status: 'Failure', message });

export const notSupported = (message?: string): Reply =>
  message === undefined ? { status: 'Not supported' } : { status: 'Not supported', message };

/** Exit 0 for Success and Not supported: a non-zero exit with Success is a "driver bug" to the kubelet. */
export function exitCodeOf(reply: Reply): number {
  return reply.status === 'Failure' ? 1 : 0;
}

/**
 * The kubelet turns a message into an event that `kubectl describe` shows on one line, cut at
 * about 1 KiB: a message is collapsed onto one line and capped here, while the log keeps it whole.
 */
export const MAX_MESSAGE_CHARS = 1024;

/** A message as a reply carries it: secrets redacted as in the log, one line, capped. */
export function messageForReply(message: string): string {
  const line = redact(message).replace(/\s*\n\s*/g, ' / ').trim();
  if (line.length <= MAX_MESSAGE_CHARS) return line;
  const more = '… (the rest is in the driver log)';
  return `${line.slice(0, MAX_MESSAGE_CHARS - more.length)}${more}`;
}

/** One line of JSON; nothing else may surround it. */
export function serializeReply(reply: Reply): string {
  const shown = reply.message === undefined ? reply : { ...reply, message: messageForReply(reply.message) };
  return `${JSON.stringify(shown)}\n`;
}
