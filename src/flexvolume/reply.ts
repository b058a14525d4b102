// What a driver answers. The kubelet decodes it with Go's encoding/json into DriverStatus: every
// field has one exact type, capabilities are booleans (never null), and "Success" or
// "Not supported" are the only statuses that do not fail the call.
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

/** One line of JSON; nothing else may surround it. */
export function serializeReply(reply: Reply): string {
  return `${JSON.stringify(reply)}\n`;
}
