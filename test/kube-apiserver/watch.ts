// Watch streams: JSON lines `{"type": ..., "object": ...}` over one chunked response, resumed from a
// resourceVersion out of the store's history (410 Gone once it is forgotten), with selectors applied
// per event as the real server does (an object that stops matching is DELETED for that watcher),
// periodic BOOKMARKs when asked for, and the `timeoutSeconds` close.
import type { ServerResponse } from 'node:http';
import { badRequest, resourceExpired } from './errors.ts';
import type { JsonObject } from './patch.ts';
import { type ResourceDef, apiVersionOf, served } from './resources.ts';
import { type ObjectStore, type StoreEvent, metadataOf } from './store.ts';

export interface WatchRequest {
  def: ResourceDef;
  matches: (obj: JsonObject) => boolean;
  resourceVersion: string;
  allowBookmarks: boolean;
  timeoutSeconds?: number;
}

type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';

export class WatchHub {
  private readonly streams = new Set<ServerResponse>();

  private readonly store: ObjectStore;
  private readonly bookmarkIntervalMs: number;

  constructor(store: ObjectStore, bookmarkIntervalMs: number) {
    this.store = store;
    this.bookmarkIntervalMs = bookmarkIntervalMs;
  }

  get openCount(): number {
    return this.streams.size;
  }

  /** Ends every open watch cleanly, as an API server restart or a load balancer would; clients reconnect. */
  dropAll(): void {
    for (const res of this.streams) res.end();
  }

  serve(res: ServerResponse, request: WatchRequest): void {
    const replay = this.startingEvents(request);
    res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked', 'cache-control': 'no-cache, private' });
    // The real server answers at once; a client waits for the headers before it counts as watching.
    res.flushHeaders();
    const send = (type: WatchEventType, object: unknown): void => {
      if (!res.writableEnded) res.write(`${JSON.stringify({ type, object })}\n`);
    };
    if ('expired' in replay) {
      send('ERROR', replay.expired);
      res.end();
      return;
    }
    for (const [type, object] of replay.events) send(type, object);
    const unsubscribe = this.store.subscribe((event) => {
      const translated = translate(event, request);
      if (translated) send(translated[0], translated[1]);
    });
    const timers: NodeJS.Timeout[] = [];
    if (request.allowBookmarks) {
      timers.push(setInterval(() => send('BOOKMARK', this.bookmark(request.def)), this.bookmarkIntervalMs));
    }
    if (request.timeoutSeconds !== undefined) timers.push(setTimeout(() => res.end(), request.timeoutSeconds * 1000));
    this.streams.add(res);
    res.on('close', () => {
      unsubscribe();
      for (const timer of timers) clearTimeout(timer);
      this.streams.delete(res);
    });
  }

  private bookmark(def: ResourceDef): JsonObject {
    return { kind: def.kind, apiVersion: apiVersionOf(def), metadata: { resourceVersion: String(this.store.currentRevision) } };
  }

  private startingEvents(request: WatchRequest): { events: Array<[WatchEventType, JsonObject]> } | { expired: JsonObject } {
    const { def, resourceVersion } = request;
    if (resourceVersion === '' || resourceVersion === '0') {
      const current = this.store.all(def.storage).filter(request.matches).sort(byKey);
      return { events: current.map((obj) => ['ADDED', served(def, obj)]) };
    }
    if (!/^\d+$/.test(resourceVersion)) throw badRequest(`invalid resource version: ${JSON.stringify(resourceVersion)}`);
    const revision = Number(resourceVersion);
    const oldest = this.store.oldestWatchableRevision(def.storage);
    if (revision < oldest) return { expired: resourceExpired(resourceVersion, oldest).toStatus() as unknown as JsonObject };
    const events: Array<[WatchEventType, JsonObject]> = [];
    for (const event of this.store.changesSince(def.storage, revision)) {
      const translated = translate(event, request);
      if (translated) events.push(translated);
    }
    return { events };
  }
}

function translate(event: StoreEvent, request: WatchRequest): [WatchEventType, JsonObject] | undefined {
  if (event.storage !== request.def.storage) return undefined;
  const now = request.matches(event.object);
  const before = event.previous !== undefined && request.matches(event.previous);
  const object = served(request.def, event.object);
  if (event.type === 'MODIFIED') {
    if (now && before) return ['MODIFIED', object];
    if (now) return ['ADDED', object];
    if (before) return ['DELETED', object];
    return undefined;
  }
  return now ? [event.type, object] : undefined;
}

export function byKey(a: JsonObject, b: JsonObject): number {
  const key = (obj: JsonObject): string => `${String(metadataOf(obj).namespace ?? '')}/${String(metadataOf(obj).name ?? '')}`;
  return key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0;
}
