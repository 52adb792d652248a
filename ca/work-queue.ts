import { silentLogger, type Logger } from '../common/logger.js';

/**
 * A keyed work queue as controllers use: a key queued while it is already waiting is not queued
 * twice; a key queued while it is being processed runs once more afterwards (the object changed
 * meanwhile); a failure is retried with capped exponential backoff, then dropped with an error log
 * (the next event or resync brings it back). At most `concurrency` keys run at once.
 */
export class WorkQueue {
  private readonly waiting = new Set<string>();
  private readonly running = new Set<string>();
  private readonly again = new Set<string>();
  private readonly failures = new Map<string, number>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private idleWaiters: (() => void)[] = [];
  private stopped = false;

  constructor(
    private readonly work: (key: string) => Promise<void>,
    private readonly opts: { concurrency?: number; maxRetries?: number; baseDelayMs?: number; logger?: Logger; name?: string } = {},
  ) {}

  add(key: string): void {
    if (this.stopped) return;
    if (this.running.has(key)) {
      this.again.add(key);
      return;
    }
    this.waiting.add(key);
    this.pump();
  }

  /** Resolves when nothing is waiting, running or scheduled for retry (tests, shutdown). */
  idle(): Promise<void> {
    if (this.isIdle()) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }

  stop(): void {
    this.stopped = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    this.waiting.clear();
    this.again.clear();
  }

  private isIdle(): boolean {
    return this.waiting.size === 0 && this.running.size === 0 && this.timers.size === 0;
  }

  private pump(): void {
    const limit = this.opts.concurrency ?? 4;
    for (const key of this.waiting) {
      if (this.running.size >= limit) break;
      this.waiting.delete(key);
      this.running.add(key);
      void this.run(key);
    }
    if (this.isIdle()) {
      const w = this.idleWaiters;
      this.idleWaiters = [];
      for (const r of w) r();
    }
  }

  private async run(key: string): Promise<void> {
    try {
      await this.work(key);
      this.failures.delete(key);
    } catch (err) {
      const n = (this.failures.get(key) ?? 0) + 1;
      const logger = this.opts.logger ?? silentLogger;
      if (n > (this.opts.maxRetries ?? 5)) {
        this.failures.delete(key);
        logger.error({ queue: this.opts.name, key, err: (err as Error).message }, 'giving up on key after retries');
      } else {
        this.failures.set(key, n);
        logger.warn({ queue: this.opts.name, key, attempt: n, err: (err as Error).message }, 'will retry');
        const delay = Math.min((this.opts.baseDelayMs ?? 200) * 2 ** (n - 1), 30_000);
        const timer = setTimeout(() => {
          this.timers.delete(timer);
          this.add(key);
        }, delay);
        timer.unref();
        this.timers.add(timer);
      }
    } finally {
      this.running.delete(key);
      if (this.again.delete(key)) this.waiting.add(key);
      if (!this.stopped) this.pump();
    }
  }
}
