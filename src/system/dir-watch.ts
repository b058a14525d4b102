// Waiting for another process to change a directory without polling it: inotify (fs.watch) wakes
// the waiter when an entry appears or goes, and a slow timer re-checks in case an event was lost
// (a watch that could not be set up, a file system without inotify).
import * as fs from 'node:fs';

export interface DirWatch {
  /** Resolves at the next change in any of the directories since the last call, or after `maxWaitMs`. */
  changed(maxWaitMs: number): Promise<void>;
  close(): void;
}

export function watchDirs(dirs: readonly string[]): DirWatch {
  let pending = false;
  let wake: (() => void) | undefined;
  const notice = () => {
    pending = true;
    wake?.();
  };
  const watchers = dirs.flatMap((dir) => {
    try {
      fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
      const watcher = fs.watch(dir, { persistent: false }, notice);
      watcher.on('error', () => watcher.close());
      return [watcher];
    } catch {
      // Without a watch the timer alone wakes the waiter: slower, still correct.
      return [];
    }
  });
  return {
    async changed(maxWaitMs) {
      if (!pending) {
        let timer: NodeJS.Timeout | undefined;
        await new Promise<void>((resolve) => {
          wake = resolve;
          timer = setTimeout(resolve, maxWaitMs);
        });
        clearTimeout(timer);
        wake = undefined;
      }
      pending = false;
    },
    close() {
      for (const watcher of watchers) watcher.close();
    },
  };
}
