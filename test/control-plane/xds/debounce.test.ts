import t from 'tap';
import { Debouncer } from '../../../control-plane/xds/server/debounce.js';

/** A manual clock and timer queue, so the test checks the policy without real waiting. */
function fakeTime() {
  let now = 0;
  let seq = 0;
  const timers = new Map<number, { at: number; fn: () => void }>();
  const realSet = globalThis.setTimeout;
  const realClear = globalThis.clearTimeout;
  globalThis.setTimeout = ((fn: () => void, ms: number) => {
    const id = ++seq;
    timers.set(id, { at: now + ms, fn });
    return id as unknown as NodeJS.Timeout;
  }) as typeof setTimeout;
  globalThis.clearTimeout = ((id: number) => void timers.delete(id)) as typeof clearTimeout;
  return {
    now: () => now,
    advance(ms: number) {
      const end = now + ms;
      for (;;) {
        const due = [...timers.entries()].filter(([, x]) => x.at <= end).sort((a, b) => a[1].at - b[1].at)[0];
        if (!due) break;
        timers.delete(due[0]);
        now = due[1].at;
        due[1].fn();
      }
      now = end;
    },
    restore() {
      globalThis.setTimeout = realSet;
      globalThis.clearTimeout = realClear;
    },
  };
}

t.test('fires once after the quiet period', async (t) => {
  const clock = fakeTime();
  t.teardown(clock.restore);
  const fired: number[] = [];
  const d = new Debouncer({ quietMs: 100, maxDelayMs: 10_000 }, () => fired.push(clock.now()), clock.now);
  d.trigger();
  clock.advance(50);
  d.trigger();
  clock.advance(99);
  t.same(fired, [], 'not before 100 ms of quiet');
  t.ok(d.pending);
  clock.advance(1);
  t.same(fired, [150], 'one push for the burst, 100 ms after the last change');
  t.notOk(d.pending);
});

t.test('never later than the maximum delay under constant change', async (t) => {
  const clock = fakeTime();
  t.teardown(clock.restore);
  const fired: number[] = [];
  const d = new Debouncer({ quietMs: 100, maxDelayMs: 1000 }, () => fired.push(clock.now()), clock.now);
  for (let i = 0; i < 50; i++) {
    d.trigger();
    clock.advance(50);
  }
  // bursts start at 0 and at 1000 (the first change after a push): each is cut at +1000 ms
  t.same(fired, [1000, 2000], 'a change every 50 ms still pushes every second');
  d.cancel();
  clock.advance(5000);
  t.equal(fired.length, 2, 'cancel drops the pending push');
});
