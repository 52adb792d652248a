import { SnapshotEmitter, type RegistrySnapshot, type ServiceRegistry, type Unsubscribe } from '../control-plane/registry/types.js';

/**
 * A service registry whose source (the Kubernetes API) may be unreachable when `tandem serve`
 * starts. Rather than exit, serve runs on what it has — an empty registry, the webhook, xDS with
 * the file config — and this keeps trying to connect in the background with exponential backoff;
 * once the source answers, its snapshots are passed on as if it had been there from the start.
 */

export interface RetryingRegistryOptions {
  /** opens the real registry; resolves once it holds its initial content */
  connect: () => Promise<ServiceRegistry>;
  /** each failed attempt, with the wait before the next one */
  onWaiting?: (err: Error, retryInMs: number, attempt: number) => void;
  /** the source answered: the registry holds real content from now on */
  onConnected?: () => void;
  /** first wait between attempts (default 1 s), doubled each time up to maxDelayMs (default 30 s) */
  initialDelayMs?: number;
  maxDelayMs?: number;
}

/** The wait before attempt `attempt + 1` (attempt counts from 1): doubling, capped. Pure. */
export function backoffMs(attempt: number, initialMs: number, maxMs: number): number {
  return Math.min(maxMs, initialMs * 2 ** Math.min(attempt - 1, 30));
}

/**
 * Opens the registry; when the first attempt fails, returns at once a registry that is empty until
 * a background attempt succeeds. A first attempt that succeeds returns the real registry itself.
 */
export async function openRetryingRegistry(opts: RetryingRegistryOptions): Promise<ServiceRegistry> {
  try {
    return await opts.connect();
  } catch (err) {
    return new RetryingRegistry(opts, err instanceof Error ? err : new Error(String(err)));
  }
}

class RetryingRegistry implements ServiceRegistry {
  private readonly emitter = new SnapshotEmitter();
  private current: RegistrySnapshot = { services: [] };
  private inner: ServiceRegistry | undefined;
  private unsubscribe: Unsubscribe | undefined;
  private timer: NodeJS.Timeout | undefined;
  private attempt = 1;
  private closed = false;
  private connecting: Promise<void> | undefined;

  constructor(
    private readonly opts: RetryingRegistryOptions,
    firstError: Error,
  ) {
    this.scheduleAfter(firstError);
  }

  private scheduleAfter(err: Error): void {
    const wait = backoffMs(this.attempt, this.opts.initialDelayMs ?? 1000, this.opts.maxDelayMs ?? 30_000);
    this.opts.onWaiting?.(err, wait, this.attempt);
    this.timer = setTimeout(() => {
      this.connecting = this.tryConnect();
    }, wait);
  }

  private async tryConnect(): Promise<void> {
    this.attempt++;
    let reg: ServiceRegistry;
    try {
      reg = await this.opts.connect();
    } catch (err) {
      if (!this.closed) this.scheduleAfter(err instanceof Error ? err : new Error(String(err)));
      return;
    }
    if (this.closed) {
      await reg.close();
      return;
    }
    this.inner = reg;
    this.current = reg.snapshot();
    this.unsubscribe = reg.onChange((s) => {
      this.current = s;
      this.emitter.emit(s);
    });
    this.opts.onConnected?.();
    this.emitter.emit(this.current);
  }

  snapshot(): RegistrySnapshot {
    return this.current;
  }

  onChange(listener: (snapshot: RegistrySnapshot) => void): Unsubscribe {
    return this.emitter.on(listener);
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    await this.connecting;
    this.unsubscribe?.();
    await this.inner?.close();
  }
}
