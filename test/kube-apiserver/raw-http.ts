// Plain HTTPS requests to the stand-in, for tests that check the wire itself (status codes, bodies,
// streams) below what client-node shows; it trusts the stand-in's certificate only.
import * as fs from 'node:fs';
import * as https from 'node:https';
import { CA_CERT_PATH, type KubeApiServer } from './index.ts';

export interface RawReply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json: () => Record<string, unknown>;
}

export interface RawOptions {
  body?: unknown;
  contentType?: string;
  /** Defaults to the server's token; null sends none. */
  token?: string | null;
}

export function rawRequest(api: KubeApiServer, method: string, path: string, options: RawOptions = {}): Promise<RawReply> {
  const payload = options.body === undefined ? undefined : typeof options.body === 'string' ? options.body : JSON.stringify(options.body);
  const token = options.token === undefined ? api.token : options.token;
  return new Promise((resolve, reject) => {
    const request = https.request(
      `${api.url}${path}`,
      {
        method,
        ca: fs.readFileSync(CA_CERT_PATH),
        headers: {
          accept: 'application/json',
          ...(token !== null ? { authorization: `Bearer ${token}` } : {}),
          ...(payload !== undefined ? { 'content-type': options.contentType ?? 'application/json' } : {}),
        },
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          resolve({ status: response.statusCode ?? 0, headers: response.headers, text, json: () => JSON.parse(text) as Record<string, unknown> });
        });
        response.on('error', reject);
      },
    );
    request.on('error', reject);
    request.end(payload);
  });
}
