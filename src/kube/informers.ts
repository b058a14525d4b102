// List + watch caches for the provisioner. The library's informer relists on 410 Gone by itself;
// any other failure stops it, so it is started again after a pause, and every change is also
// handed on to the caller.
import { ListWatch, Watch, type KubeConfig, type KubernetesListObject, type KubernetesObject } from '@kubernetes/client-node';
import { setTimeout as sleep } from 'node:timers/promises';

export interface WatchedCache<T extends KubernetesObject> {
  get(name: string, namespace?: string): T | undefined;
  list(): readonly T[];
  /** Resolves after the first list has filled the cache. */
  synced: Promise<void>;
  stop(): Promise<void>;
}

export interface CacheOptions<T extends KubernetesObject> {
  config: KubeConfig;
  path: string;
  list: () => Promise<KubernetesListObject<T>>;
  onChange: (object: T) => void;
  onDelete?: (object: T) => void;
  log: (message: string) => void;
  restartDelayMs?: number;
}

export function watchCache<T extends KubernetesObject>(options: CacheOptions<T>): WatchedCache<T> {
  // The cache is filled synchronously right after the list resolves; start() itself may only
  // resolve once the first watch ends, so it is not waited for.
  let markSynced: () => void = () => undefined;
  const synced = new Promise<void>((resolve) => (markSynced = resolve));
  const list = async () => {
    const result = await options.list();
    setImmediate(markSynced);
    return result;
  };
  const informer = new ListWatch<T>(options.path, new Watch(options.config), list, false);
  let stopped = false;
  const startUntilListed = async () => {
    try {
      await informer.start();
    } catch (error) {
      options.log(`listing ${options.path} failed: ${error instanceof Error ? error.message : String(error)}`);
    }
  };
  informer.on('add', options.onChange);
  informer.on('update', options.onChange);
  if (options.onDelete) informer.on('delete', options.onDelete);
  informer.on('error', (error: unknown) => {
    if (stopped) return;
    const delay = options.restartDelayMs ?? 2000;
    options.log(`watch of ${options.path} ended (${error instanceof Error ? error.message : String(error)}); listing again in ${delay} ms`);
    void sleep(delay).then(() => (stopped ? undefined : startUntilListed()));
  });
  void startUntilListed();
  return {
    get: (name, namespace) => informer.get(name, namespace),
    list: () => informer.list(),
    synced,
    stop: async () => {
      stopped = true;
      await informer.stop();
    },
  };
}
