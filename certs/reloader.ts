import { watch, type FSWatcher } from 'node:fs';
import type { ServingCert } from './inspect.js';
import { loadServingCert, type LoadServingCertOptions } from './load.js';

export interface CertReloaderOptions extends LoadServingCertOptions {
  dir: string;
  /** called with each new valid pair (not for the initial load, which `watchCertDir` returns) */
  onReload: (cert: ServingCert) => void;
  /** called when a change was seen but the new files are invalid; the old pair stays live */
  onError?: (err: Error) => void;
  /** quiet time after the last file event before re-reading (default 200 ms) */
  debounceMs?: number;
  /** re-read on a timer too, for changes the watcher misses (default 60 s; 0 disables) */
  pollMs?: number;
}

export interface CertReloader {
  /** the pair currently served */
  current(): ServingCert;
  /** re-reads now; resolves true when a different valid pair was installed */
  reload(): Promise<boolean>;
  close(): void;
}

/**
 * Loads the serving pair from `dir` and keeps it current. Kubernetes updates a mounted Secret
 * by writing a new timestamped directory and atomically re-pointing the `..data` symlink, so
 * the directory (not the files, whose inodes never change) is watched; writers that rename
 * files into place are seen the same way. Bursts of events are debounced, and a pair that
 * fails validation (e.g. read between two renames) never replaces a good one.
 */
export async function watchCertDir(opts: CertReloaderOptions): Promise<CertReloader> {
  const { dir, onReload, onError = () => undefined, debounceMs = 200, pollMs = 60_000, ...loadOpts } = opts;
  let current = await loadServingCert(dir, loadOpts);
  let closed = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<boolean> | undefined;
  let again = false;
  let watcher: FSWatcher | undefined;

  const readOnce = async (): Promise<boolean> => {
    let next: ServingCert;
    try {
      next = await loadServingCert(dir, loadOpts);
    } catch (err) {
      if (!closed) onError(err instanceof Error ? err : new Error(String(err)));
      return false;
    }
    if (closed || (next.certPem === current.certPem && next.keyPem === current.keyPem)) return false;
    current = next;
    onReload(next);
    return true;
  };

  // One read at a time; events during a read schedule exactly one more.
  const reload = (): Promise<boolean> => {
    if (running) {
      again = true;
      return running;
    }
    running = readOnce().finally(() => {
      running = undefined;
      if (again && !closed) {
        again = false;
        void reload();
      }
    });
    return running;
  };

  const schedule = (): void => {
    if (closed) return;
    if (timer) clearTimeout(timer);
    timer = setTimeout(() => {
      timer = undefined;
      void reload();
    }, debounceMs);
    timer.unref();
  };

  const arm = (): void => {
    try {
      watcher = watch(dir, { persistent: false }, schedule);
      watcher.on('error', () => {
        // The directory itself went away (e.g. an emptyDir re-created); polling re-arms.
        watcher?.close();
        watcher = undefined;
      });
    } catch {
      watcher = undefined;
    }
  };
  arm();

  const poll = pollMs > 0
    ? setInterval(() => {
        if (!watcher) arm();
        void reload();
      }, pollMs)
    : undefined;
  poll?.unref();

  return {
    current: () => current,
    reload,
    close: () => {
      closed = true;
      if (timer) clearTimeout(timer);
      if (poll) clearInterval(poll);
      watcher?.close();
    },
  };
}
