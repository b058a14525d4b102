/**
 * A failure whose message is written for the operator who reads it in `kubectl describe pod`:
 * what was wrong and what to change. Anything else thrown is reported with its context added.
 */
export class DriverError extends Error {
  override name = 'DriverError';
}

/** Bad input from the caller: answered with Failure before anything on the node changes. */
export class InvalidInput extends DriverError {
  override name = 'InvalidInput';
}

export function describeError(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}
