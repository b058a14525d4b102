// Plain HTTPS requests through a kubeconfig's cluster and credentials, for tests that check the wire
// itself (status codes, headers, bodies) below what client-node shows. Works against the stand-in and
// a real API server alike.
import * as https from 'node:https';
import type { KubeConfig } from '@kubernetes/client-node';

export interface RawReply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json: () => Record<string, unknown>;
}

export interface RawOptions {
  body?: unknown;
  contentType?: string;
  /** Replaces the kubeconfig's bearer token; null sends none. */
  token?: string | null;
}

export async function rawRequest(config: KubeConfig, method: string, path: string, options: RawOptions = {}): Promise<RawReply> {
  const payload = options.body === undefined ? undefined : typeof options.body === 'string' ? options.body : JSON.stringify(options.body);
  const request: https.RequestOptions & { headers: Record<string, string> } = { method, headers: { Accept: 'application/json' } };
  await config.applyToHTTPSOptions(request);
  if (options.token === null) delete request.headers.Authorization;
  else if (options.token !== undefined) request.headers.Authorization = `Bearer ${options.token}`;
  if (payload !== undefined) request.headers['Content-Type'] = options.contentType ?? 'application/json';
  return new Promise((resolve, reject) => {
    const sent = https.request(`${config.getCurrentCluster()?.server ?? ''}${path}`, request, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        resolve({ status: response.statusCode ?? 0, headers: response.headers, text, json: () => JSON.parse(text) as Record<string, unknown> });
      });
      response.on('error', reject);
    });
    sent.on('error', reject);
    sent.end(payload);
  });
}
