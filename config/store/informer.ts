import type { Informer, KubernetesObject, ObjectCache } from '@kubernetes/client-node';
import type { Logger } from '../../common/logger.js';

export type Inf = Informer<KubernetesObject> & ObjectCache<KubernetesObject>;

export interface WatchOptions {
  retryMs: number;
  maxRetryMs: number;
  log: Logger;
}

/** An informer that restarts itself with exponential backoff after any failure, and says when it first listed. */
export class ResilientInformer {
  listed = false;
  private stopped = false;
  private starting = false;
  private startError: unknown;
  private attempt = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    readonly what: string,
    readonly informer: Inf,
    private readonly opts: WatchOptions,
    private readonly onListed: () => void,
  ) {
    informer.on('error', (err: unknown) => {
      if (this.starting) this.startError ??= err;
      else this.retry(err);
    });
  }

  async run(): Promise<void> {
    if (this.stopped) return;
    this.starting = true;
    this.startError = undefined;
    await this.informer.start();
    this.starting = false;
    if (this.stopped) return;
    if (this.startError !== undefined) return this.retry(this.startError);
    this.attempt = 0;
    if (!this.listed) {
      this.listed = true;
      this.onListed();
    }
  }

  private retry(err: unknown): void {
    if (this.stopped) return;
    const delay = Math.min(this.opts.retryMs * 2 ** this.attempt, this.opts.maxRetryMs);
    this.attempt++;
    const e = err as { message?: string; statusCode?: number; code?: number | string };
    this.opts.log.warn({ what: this.what, err: e?.message ?? String(err), status: e?.statusCode ?? e?.code, retryInMs: delay }, 'Kubernetes list/watch failed; retrying');
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.run(), delay);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.informer.stop();
  }
}

