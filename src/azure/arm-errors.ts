// What an ARM failure was, read from the SDK's errors: a RestError carries the HTTP status and
// ARM's error code; a failed long-running operation carries only text ("The long-running operation
// has failed. <code>. <message>").
import { DriverError } from '../flexvolume/errors.ts';

export interface ArmFailure {
  status: number | undefined;
  code: string | undefined;
  message: string;
}

export function armFailure(error: unknown): ArmFailure {
  const { statusCode, code, message } = (error ?? {}) as { statusCode?: unknown; code?: unknown; message?: unknown };
  return {
    status: typeof statusCode === 'number' ? statusCode : undefined,
    code: typeof code === 'string' ? code : undefined,
    message: typeof message === 'string' ? message : String(error),
  };
}

export function isNotFound(error: unknown): boolean {
  return armFailure(error).status === 404;
}

/** A conditional write (If-Match) whose etag is no longer the machine's: someone else changed it. */
export function isPreconditionFailed(error: unknown): boolean {
  const { status, code } = armFailure(error);
  return status === 412 || code === 'PreconditionFailed';
}

/** The codes and texts ARM uses for "the update was interrupted; repair the VM and try again". */
export function isPreempted(error: unknown): boolean {
  const { code, message } = armFailure(error);
  return code === 'OperationPreempted' || /OperationPreempted/.test(message);
}

/** A long-running operation that ended Failed leaves the VM Failed until an update succeeds. */
export function isFailedOperation(error: unknown): boolean {
  return /long-running operation has failed/i.test(armFailure(error).message);
}

/**
 * A 409 that only says someone else was writing the VM at the same time (or the model we based
 * the update on was stale), so a fresh read and another try can succeed. Disk ownership conflicts
 * are 409s too, but retrying those changes nothing.
 */
export function isRetryableConflict(error: unknown): boolean {
  const { status, code } = armFailure(error);
  if (status !== 409) return false;
  return code === undefined || !['ConflictingUserInput', 'AttachDiskWhileBeingDetached', 'OperationNotAllowed'].includes(code);
}

/** @azure/identity's error classes, and MSAL's that it passes through. */
const AUTHENTICATION_ERRORS = new Set([
  'AuthenticationError',
  'AuthenticationRequiredError',
  'AggregateAuthenticationError',
  'CredentialUnavailableError',
  'AuthError',
  'ClientAuthError',
  'ClientConfigurationError',
  'ServerError',
]);

/**
 * An operator's message for any failure out of the Azure SDK: authentication failures name the
 * credential and its file, ARM answers keep their status and code. DriverErrors pass unchanged.
 */
export function explainAzureError(error: unknown, credential: string): Error {
  if (error instanceof DriverError) return error;
  const name = (error as { name?: string } | undefined)?.name ?? '';
  if (AUTHENTICATION_ERRORS.has(name)) {
    return new DriverError(`could not get an Azure token with the ${credential}: ${armFailure(error).message}`);
  }
  const { status, code, message } = armFailure(error);
  if (status === undefined) return error instanceof Error ? error : new Error(message);
  return new DriverError(`Azure Resource Manager answered ${[status, code].filter(Boolean).join(' ')}: ${message}`);
}
