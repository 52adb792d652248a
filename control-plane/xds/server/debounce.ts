/**
 * Coalesces bursts of registry changes: fires `quietMs` after the last trigger,
 * but never later than `maxDelayMs` after the first trigger of the burst, so a
 * registry that never stops changing still gets pushed.
 */
export interface DebounceOptions {
  quietMs: number;
  maxDelayMs: number;
}

export const DEFAULT_DEBOUNCE: DebounceOptions = { quietMs: 100, maxDelayMs: 10_000 };

export class Debouncer {
  private timer: NodeJS.Timeout | undefined;
  private firstAt = 0;

  constructor(
    private readonly opts: DebounceOptions,
    private readonly fire: () => void,
    private readonly now: () => number = () => performance.now(),
  ) {}

  trigger(): void {
    const t = this.now();
    if (this.timer === undefined) this.firstAt = t;
    else clearTimeout(this.timer);
    const delay = Math.max(0, Math.min(this.opts.quietMs, this.firstAt + this.opts.maxDelayMs - t));
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.fire();
    }, delay);
  }

  cancel(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  get pending(): boolean {
    return this.timer !== undefined;
  }
}
