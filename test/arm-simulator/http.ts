// The request/response pair the route handlers work on, so they stay free of node:http details.
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { randomUUID } from 'node:crypto';
import { ArmError } from './model.ts';
import { asRecord } from './state.ts';

export interface SimRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
  body: string;
}

export interface SimResponse {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

export async function readRequest(message: IncomingMessage): Promise<SimRequest> {
  const url = new URL(message.url ?? '/', 'https://127.0.0.1');
  const chunks: Buffer[] = [];
  for await (const chunk of message) chunks.push(chunk as Buffer);
  return {
    method: message.method ?? 'GET',
    path: url.pathname,
    query: url.searchParams,
    headers: message.headers,
    body: Buffer.concat(chunks).toString('utf8'),
  };
}

export function send(res: ServerResponse, response: SimResponse): void {
  const payload = response.body === undefined ? '' : JSON.stringify(response.body);
  res.writeHead(response.status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(payload),
    'x-ms-request-id': randomUUID(),
    ...response.headers,
  });
  res.end(payload);
}

export function armErrorResponse(error: ArmError): SimResponse {
  return { status: error.status, body: { error: { code: error.code, message: error.message } } };
}

export function jsonObjectBody(request: SimRequest): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(request.body || '{}');
  } catch {
    throw new ArmError(400, 'InvalidRequestContent', 'The request content was invalid and could not be deserialized.');
  }
  const body = asRecord(parsed);
  if (!body) throw new ArmError(400, 'InvalidRequestContent', 'The request content must be a JSON object.');
  return body;
}
