import t from 'tap';
import { backoffMs, openRetryingRegistry } from '../../cli/retrying-registry.js';
import { StaticRegistry, type RegistrySnapshot, type ServiceRegistry } from '../../control-plane/registry/types.js';

/** The registry `tandem serve` opens when the Kubernetes API may be down (cli/retrying-registry.ts). */

const echo: RegistrySnapshot = { services: [{ name: 'echo', namespace: 'demo', addresses: [], ports: [] }] };

t.test('backoff: 1 s doubling, capped', async (t) => {
  t.same([1, 2, 3, 4, 5, 6, 7, 100].map((a) => backoffMs(a, 1000, 30_000)), [1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]);
});

t.test('a first attempt that succeeds returns the registry itself', async (t) => {
  const real = new StaticRegistry(echo);
  t.equal(await openRetryingRegistry({ connect: async () => real }), real);
});

t.test('failed attempts: empty meanwhile, each failure reported, then the real content and its changes', async (t) => {
  const real = new StaticRegistry(echo);
  let calls = 0;
  const waits: Array<[string, number, number]> = [];
  let connected = 0;
  const reg = await openRetryingRegistry({
    connect: async () => {
      calls++;
      if (calls < 3) throw new Error(`refused ${calls}`);
      return real;
    },
    onWaiting: (err, ms, attempt) => waits.push([err.message, ms, attempt]),
    onConnected: () => connected++,
    initialDelayMs: 5,
    maxDelayMs: 8,
  });
  t.same(reg.snapshot(), { services: [] }, 'empty while the source is down');
  const seen: RegistrySnapshot[] = [];
  reg.onChange((s) => seen.push(s));
  for (let i = 0; i < 200 && connected === 0; i++) await new Promise((r) => setTimeout(r, 5));
  t.same(waits, [['refused 1', 5, 1], ['refused 2', 8, 2]], 'each failure with the wait before the next attempt');
  t.equal(connected, 1, 'connected once');
  t.same(reg.snapshot(), echo, 'the real content once connected');
  t.same(seen, [echo], 'listeners were told');
  const next: RegistrySnapshot = { services: [] };
  real.set(next);
  t.equal(reg.snapshot(), next, 'later changes pass through');
  t.equal(seen.length, 2);
  await reg.close();
});

t.test('closed while waiting: no more attempts, a late success is closed', async (t) => {
  let calls = 0;
  let closedInner = 0;
  let release: (r: ServiceRegistry) => void = () => undefined;
  const reg = await openRetryingRegistry({
    connect: () => {
      calls++;
      if (calls === 1) return Promise.reject(new Error('down'));
      // the second attempt hangs until released, after close()
      return new Promise<ServiceRegistry>((resolve) => (release = resolve));
    },
    initialDelayMs: 1,
  });
  while (calls < 2) await new Promise((r) => setTimeout(r, 2));
  const closing = reg.close();
  const inner = new StaticRegistry(echo);
  inner.close = async () => void closedInner++;
  release(inner);
  await closing;
  await new Promise((r) => setTimeout(r, 20));
  t.equal(calls, 2, 'no attempt after close');
  t.equal(closedInner, 1, 'the registry that arrived after close was closed');
});
