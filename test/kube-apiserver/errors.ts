// Failures as the real API server answers them: a `Status` object whose reason, code, message and
// details are shaped exactly like apimachinery's (k8s.io/apimachinery/pkg/api/errors), because
// clients branch on `reason` and `code`, and people read `message`.

export interface StatusCause {
  reason: string;
  message: string;
  field: string;
}

export interface StatusDetails {
  name?: string;
  group?: string;
  kind?: string;
  uid?: string;
  causes?: StatusCause[];
  retryAfterSeconds?: number;
}

export interface KubeStatus {
  kind: 'Status';
  apiVersion: 'v1';
  metadata: Record<string, never>;
  status: 'Failure' | 'Success';
  message?: string;
  reason?: string;
  details?: StatusDetails;
  code: number;
}

/** A resource as errors name it: plural, qualified by its group (`storageclasses.storage.k8s.io`). */
export interface GroupResource {
  group: string;
  resource: string;
}

export class ApiError extends Error {
  readonly code: number;
  readonly reason: string;
  readonly details: StatusDetails | undefined;

  constructor(code: number, reason: string, message: string, details?: StatusDetails) {
    super(message);
    this.code = code;
    this.reason = reason;
    this.details = details;
  }

  toStatus(): KubeStatus {
    const status: KubeStatus = { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: this.message, reason: this.reason, code: this.code };
    if (this.details) status.details = this.details;
    return status;
  }
}

function qualified(gr: GroupResource): string {
  return gr.group ? `${gr.resource}.${gr.group}` : gr.resource;
}

function resourceDetails(gr: GroupResource, name: string): StatusDetails {
  return gr.group ? { name, group: gr.group, kind: gr.resource } : { name, kind: gr.resource };
}

export function notFound(gr: GroupResource, name: string): ApiError {
  return new ApiError(404, 'NotFound', `${qualified(gr)} "${name}" not found`, resourceDetails(gr, name));
}

export function alreadyExists(gr: GroupResource, name: string): ApiError {
  return new ApiError(409, 'AlreadyExists', `${qualified(gr)} "${name}" already exists`, resourceDetails(gr, name));
}

export function conflict(gr: GroupResource, name: string, why: string): ApiError {
  return new ApiError(409, 'Conflict', `Operation cannot be fulfilled on ${qualified(gr)} "${name}": ${why}`, resourceDetails(gr, name));
}

export const STALE_OBJECT = 'the object has been modified; please apply your changes to the latest version and try again';

export function forbidden(gr: GroupResource, name: string, why: string): ApiError {
  return new ApiError(403, 'Forbidden', `${qualified(gr)} "${name}" is forbidden: ${why}`, resourceDetails(gr, name));
}

/** One field error, as field.ErrorList holds them. */
export interface FieldError {
  type: 'Required' | 'Invalid' | 'Forbidden' | 'NotSupported' | 'Duplicate';
  field: string;
  detail: string;
  /** Shown for Invalid and NotSupported, as field.Error does. */
  value?: unknown;
}

const CAUSE_REASON: Record<FieldError['type'], string> = {
  Required: 'FieldValueRequired',
  Invalid: 'FieldValueInvalid',
  Forbidden: 'FieldValueForbidden',
  NotSupported: 'FieldValueNotSupported',
  Duplicate: 'FieldValueDuplicate',
};

const TYPE_TEXT: Record<FieldError['type'], string> = {
  Required: 'Required value',
  Invalid: 'Invalid value',
  Forbidden: 'Forbidden',
  NotSupported: 'Unsupported value',
  Duplicate: 'Duplicate value',
};

/** field.Error.ErrorBody: `<type>[: <value>][: <detail>]`. */
function fieldErrorBody(error: FieldError): string {
  const parts = [TYPE_TEXT[error.type]];
  if (error.value !== undefined) parts.push(JSON.stringify(error.value));
  if (error.detail) parts.push(error.detail);
  return parts.join(': ');
}

/** 422 Invalid: `<Kind> "<name>" is invalid: <field>: <type>: <detail>` (several in brackets). */
export function invalid(group: string, kind: string, name: string, errors: FieldError[]): ApiError {
  const texts = errors.map((error) => `${error.field}: ${fieldErrorBody(error)}`);
  const summary = texts.length === 1 ? texts[0] : `[${texts.join(', ')}]`;
  const causes = errors.map((error) => ({ reason: CAUSE_REASON[error.type], message: fieldErrorBody(error), field: error.field }));
  const details: StatusDetails = group ? { name, group, kind, causes } : { name, kind, causes };
  return new ApiError(422, 'Invalid', `${kind}${group ? `.${group}` : ''} "${name}" is invalid: ${summary}`, details);
}

export function badRequest(message: string): ApiError {
  return new ApiError(400, 'BadRequest', message);
}

export function unauthorized(): ApiError {
  return new ApiError(401, 'Unauthorized', 'Unauthorized');
}

export function methodNotAllowed(): ApiError {
  return new ApiError(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource');
}

export function unsupportedMediaType(contentType: string): ApiError {
  return new ApiError(415, 'UnsupportedMediaType', `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json (got ${contentType || 'none'})`);
}

export function resourceExpired(requested: string, oldest: number): ApiError {
  return new ApiError(410, 'Expired', `too old resource version: ${requested} (${oldest})`);
}

export function pathNotFound(): ApiError {
  return new ApiError(404, 'NotFound', 'the server could not find the requested resource');
}

/** What an injected fault answers with, reason and message as the real server's for that code. */
export function statusForCode(code: number, message?: string): ApiError {
  const known: Record<number, [string, string]> = {
    400: ['BadRequest', 'the server rejected our request for an unknown reason'],
    401: ['Unauthorized', 'Unauthorized'],
    403: ['Forbidden', 'forbidden'],
    404: ['NotFound', 'the server could not find the requested resource'],
    409: ['Conflict', 'the server reported a conflict'],
    410: ['Expired', 'the resource has expired'],
    422: ['Invalid', 'the server rejected our request due to an error in our request'],
    429: ['TooManyRequests', 'the server has received too many requests and has asked us to try again later'],
    500: ['InternalError', 'an error on the server ("") has prevented the request from succeeding'],
    503: ['ServiceUnavailable', 'the server is currently unable to handle the request'],
    504: ['Timeout', 'the server was unable to return a response in the time allotted, but may still be processing the request'],
  };
  const [reason, text] = known[code] ?? ['InternalError', `injected fault ${code}`];
  return new ApiError(code, reason, message ?? text, code === 429 ? { retryAfterSeconds: 1 } : undefined);
}
