import t from 'tap';
import { pino } from 'pino';
import fc from 'fast-check';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import https from 'node:https';
import { isDeepStrictEqual } from 'node:util';
import { ensureCerts } from '../../certs/ensure.js';
import { UserError } from '../../common/errors.js';
import { AdmissionCache, hintOf, isRequestUid, locateUid, slotOf } from '../../webhook/cache.js';
import { createAdmitter, reviewText } from '../../webhook/answer.js';
import type { AdmissionReviewRequest, InjectFn } from '../../webhook/admission.js';
import { loadInjector } from '../../inject/injector.js';
import { startWebhookServer, type WebhookServer } from '../../webhook/server.js';
import { call, review } from './helpers.js';

const require = createRequire(import.meta.url);
const fixturePod = require('./fixture-pod.json') as Record<string, unknown>;

function clone<T>(v: T): T {
  return JSON.parse(JSON.stringify(v)) as T;
}

t.test('LRU: bounded by entries and by size, recency refreshed on a hit', async (t) => {
  const c = new AdmissionCache<string>({ maxEntries: 3, maxBytes: 1000 });
  c.set('a', 'A', 10);
  c.set('b', 'B', 10);
  c.set('c', 'C', 10);
  t.equal(c.get('a'), 'A', 'a is now the most recent');
  c.set('d', 'D', 10);
  t.equal(c.size, 3);
  t.equal(c.get('b'), undefined, 'b, the least recently used, was evicted');
  t.same([c.get('a'), c.get('c'), c.get('d')], ['A', 'C', 'D']);
  t.equal(c.bytes, 33, 'keys count towards the size');

  c.set('a', 'A2', 20);
  t.equal(c.get('a'), 'A2', 'a key set again holds the new value');
  t.equal(c.bytes, 43, 'and its old size is released');

  c.set('big', 'X', 126);
  t.equal(c.get('big'), undefined, 'an entry over an eighth of the budget is not kept');
  t.equal(c.size, 3, 'and evicts nothing');

  for (let i = 0; i < 10; i++) c.set(`k${i}`, 'v', 120);
  t.ok(c.bytes <= 1000, `size stays within the budget (${c.bytes})`);
  t.ok(c.size < 10, 'by evicting the oldest');
  t.equal(c.get('k9'), 'v', 'the newest stays');
  // hits: a, a c d, a (A2), k9; misses: b (evicted), big (not kept)
  t.same({ hits: c.hits, misses: c.misses }, { hits: 6, misses: 2 }, 'every get counted once, as a hit or a miss');

  const off = new AdmissionCache<string>({ maxEntries: 0 });
  off.set('a', 'A', 1);
  t.equal(off.get('a'), undefined, 'maxEntries 0 keeps nothing');
  c.clear();
  t.same([c.size, c.bytes], [0, 0]);
});

t.test('LRU: keys past the length V8 hashes are kept apart and never confused', async (t) => {
  const c = new AdmissionCache<string>({ maxEntries: 100, maxBytes: 64 * 1024 * 1024 });
  // Same length, same first and last 8000 characters: they share an LRU slot (slotOf).
  const head = 'h'.repeat(9000);
  const tail = 't'.repeat(9000);
  const a = `${head}A${tail}`;
  const b = `${head}B${tail}`;
  t.equal(slotOf(a), slotOf(b), 'a different middle: one slot');
  t.ok(slotOf(a).length <= 16383, 'a slot name is short enough for V8 to hash');
  t.equal(slotOf('short'), 'short', 'a short key is its own slot');
  c.set(a, 'answer-a', 1);
  t.equal(c.get(b), undefined, 'a key sharing the slot is not answered by another key');
  t.equal(c.peek(b), undefined, 'nor peeked');
  t.equal(c.get(a), 'answer-a', 'the key itself is');
  c.set(b, 'answer-b', 1);
  t.equal(c.get(a), undefined, 'the later key displaces the earlier in the slot');
  t.equal(c.get(b), 'answer-b');
  // Keys of one length that differ near the start (as distinct large pods do) each keep their own slot.
  const keys = Array.from({ length: 50 }, (_, i) => `${String(i).padStart(4, '0')}${'x'.repeat(70000)}`);
  for (const k of keys) c.set(k, k.slice(0, 4), 1);
  t.same(keys.map((k) => c.get(k)), keys.map((k) => k.slice(0, 4)), 'all 50 long keys are found');
  t.ok(c.bytes >= 50 * 70000, 'long keys count towards the size');
});

t.test('locateUid: the slot and hint it computes from the pieces are those of the whole key', async (t) => {
  // Lengths around the sample sizes (2000, 8000) and the thresholds (4096, 16383), the uid anywhere.
  const lengths = [10, 1999, 2000, 2001, 4090, 4100, 7999, 8000, 8001, 16370, 16390, 20000, 70000];
  fc.assert(
    fc.property(fc.constantFrom(...lengths), fc.constantFrom(...lengths), fc.string({ minLength: 1, maxLength: 8 }).filter((u) => !/["\\\u0000-\u001f]/.test(u)), (before, after, uid) => {
      const raw = `${'a'.repeat(before)}"uid":"${uid}"${'b'.repeat(after - 1)}z`;
      const found = locateUid(raw)!;
      return found.uid === uid && found.slot === slotOf(found.key) && found.hint === hintOf(found.key);
    }),
    { numRuns: 300 },
  );
  const long = locateUid(`{"request":{"uid":"x",${'"p":1,'.repeat(5000)}"q":2}}`)!;
  t.not(long.slot, long.key, 'a long key gets a sampled slot');
  t.ok(long.hint.length < 4200, 'and a short hint');
  t.pass('slot and hint agree with slotOf and hintOf');
});

t.test('cache key: the body without its first uid member, found only when written plainly', async (t) => {
  const body = '{"request":{"uid":"u-1","object":{"metadata":{"uid":"u-1"}}}}';
  const key = '12:{"request":{,"object":{"metadata":{"uid":"u-1"}}}}';
  t.same(locateUid(body), { key, slot: key, hint: key, uid: 'u-1' }, 'the first occurrence goes (a short key is its own slot and hint)');
  t.equal(isRequestUid(body, locateUid(body)!), true, 'and it is request.uid');
  for (const [name, text] of [
    ['spaced', '{"request":{"uid": "u-1"}}'],
    ['escaped', '{"request":{"uid":"\\u0075-1"}}'],
    ['escaped quote', '{"request":{"uid":"u-\\"1"}}'],
    ['empty', '{"request":{"uid":""}}'],
    ['control character', '{"request":{"uid":"u\t1"}}'],
  ]) t.equal(locateUid(text!), undefined, `${name}: not cacheable`);
  // The first uid member is not the request's: a later body could change request.uid elsewhere.
  const objectFirst = '{"request":{"object":{"metadata":{"uid":"u-1"}},"uid":"u-1"}}';
  t.equal(isRequestUid(objectFirst, locateUid(objectFirst)!), false, 'not request.uid when the first uid is another member');
  const duplicate = '{"request":{"uid":"u-1","uid":"u-2"}}';
  t.equal(isRequestUid(duplicate, locateUid(duplicate)!), false, 'nor when a later duplicate wins');
  t.equal(locateUid('{"request":{"uid":"u-2","x":1}}')?.key, locateUid('{"request":{"uid":"u-3","x":1}}')?.key, 'bodies differing in the uid only share a key');
  t.not(locateUid('{"request":{"uid":"u-2","x":1}}')?.key, locateUid('{"request":{"uid":"u-2","x":2}}')?.key);
});

/*
 * Exactness, adversarially, on the path the server takes (createAdmitter: cached() on the raw
 * body, else answer() on its parse): bodies built from one shape whose string slots take plain,
 * empty and escaped values in every combination, so uids also appear as other members' values
 * (in the pod too), members are duplicated (JSON.parse keeps the last) and many bodies differ from
 * each other in one value only. The injector refuses every pod with the pod's JSON as the reason,
 * so an answer shows the object it was computed from. Every hit must be, byte for byte, what an
 * uncached admitter answers for the parsed body, and carry that body's request.uid.
 */
const SLOT = '\u0000';
const { obj } = fc.letrec((tie) => ({
  value: fc.oneof({ depthSize: 'small' }, fc.constant(SLOT), tie('obj')),
  obj: fc.array(fc.tuple(fc.constantFrom('uid', 'x'), tie('value')), { maxLength: 3 })
    .map((members) => `{${members.map(([k, v]) => `"${k}":${v as string}`).join(',')}}`),
}));
const ENVELOPE = '"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"';
const POD_KIND = '"kind":{"group":"","version":"v1","kind":"Pod"}';
// request: the generated members around the pod, which is always an object; `other` before or after it.
const shape = fc.tuple(obj, obj, obj, fc.boolean(), fc.boolean())
  .map(([members, pod, other, podFirst, otherFirst]) => {
    const inner = members.slice(1, -1);
    const fixed = `${POD_KIND},"object":${pod}`;
    const request = `{${podFirst ? [fixed, inner] : [inner, fixed]}}`.replace(/^\{,|,\}$/g, (m) => (m === '{,' ? '{' : '}'));
    return otherFirst ? `{${ENVELOPE},"other":${other},"request":${request}}` : `{${ENVELOPE},"request":${request},"other":${other}}`;
  })
  .filter((s) => s.split(SLOT).length - 1 <= 4 && s.includes('"uid"'));
// As written inside the quotes: plain, empty, an escaped quote, an escaped letter.
const SLOT_VALUES = ['u1', 'u2', 'a', '', 'q\\"', '\\u0075'];
// Shapes that must be among the runs: the uid member first in request but a duplicate after it
// wins (kept unverified, refused at its first hit), and a uid member elsewhere located first.
const SHAPE_EXAMPLES: Array<[string]> = [
  [`{${ENVELOPE},"request":{"uid":${SLOT},"uid":${SLOT},${POD_KIND},"object":{}},"other":{}}`],
  [`{${ENVELOPE},"request":{${POD_KIND},"object":{"uid":${SLOT}},"uid":${SLOT}},"other":{}}`],
  [`{${ENVELOPE},"other":{"uid":${SLOT}},"request":{"uid":${SLOT},${POD_KIND},"object":{"x":${SLOT}}}}`],
];

function fill(s: string, values: string[]): string[] {
  const parts = s.split(SLOT);
  let out = [parts[0]!];
  for (let i = 1; i < parts.length; i++) out = out.flatMap((p) => values.map((v) => `${p}"${v}"${parts[i]!}`));
  return out;
}

t.test('createAdmitter: a hit is what an uncached admitter answers for that body (property)', async (t) => {
  const injector = await loadInjector();
  const inject: InjectFn = (pod) => {
    throw new UserError(JSON.stringify(pod));
  };
  const fresh = createAdmitter({ injector, inject, cache: false });
  let served = 0;
  fc.assert(
    fc.property(shape, (s) => {
      const admitter = createAdmitter({ injector, inject });
      let hits = 0;
      let located = 0;
      for (const text of fill(s, SLOT_VALUES)) {
        const review = JSON.parse(text) as AdmissionReviewRequest;
        if (locateUid(text) !== undefined) located++;
        const hit = admitter.cached(text);
        if (hit === undefined) {
          admitter.answer(review, text);
          continue;
        }
        hits++;
        if (hit.uid !== review.request.uid || !hit.cached) return false;
        if (hit.text !== fresh.answer(review).text) return false;
      }
      served += hits;
      // Counted exactly: every lookup of a located key once, a hit not served as a miss.
      return admitter.cache!.hits === hits && admitter.cache!.misses === located - hits;
    }),
    { numRuns: 300, examples: SHAPE_EXAMPLES },
  );
  t.ok(served > 100, `hits were served for ${served} bodies`);
});

t.test('reviewText: the same JSON value as JSON.stringify, in every answer shape', async (t) => {
  const shapes = [
    { uid: 'a', allowed: true },
    { uid: 'b"\\', allowed: true, patchType: 'JSONPatch' as const, patch: Buffer.from('[{"op":"add"}]').toString('base64') },
    { uid: 'c', allowed: true, warnings: ['w "1"', 'ü'] },
    { uid: 'd', allowed: false, status: { code: 400, message: 'bad "x"\n', status: 'Failure' as const, reason: 'BadRequest' } },
  ];
  for (const response of shapes) {
    for (const apiVersion of ['admission.k8s.io/v1', 'admission.k8s.io/v1beta1'] as const) {
      const value = { apiVersion, kind: 'AdmissionReview' as const, response };
      t.same(JSON.parse(reviewText(value)), JSON.parse(JSON.stringify(value)), `${apiVersion} ${response.uid}`);
    }
  }
});

// ---- through the server ----------------------------------------------------------------

interface Variant {
  name: string;
  body: Record<string, unknown>;
}

function podWith(edit: (pod: { metadata: Record<string, any>; spec: Record<string, any> }) => void): Record<string, unknown> {
  const pod = clone(fixturePod) as { metadata: Record<string, any>; spec: Record<string, any> };
  delete pod.metadata.namespace;
  edit(pod);
  return pod;
}

function variants(): Variant[] {
  const base = podWith(() => undefined);
  const list: Variant[] = [
    { name: 'ReplicaSet pod in bookinfo', body: review(base) },
    { name: 'the same pod in another namespace', body: review(base, { namespace: 'shop' }) },
    { name: 'the same pod in kube-system', body: review(base, { namespace: 'kube-system' }) },
    { name: 'v1beta1', body: review(base, { apiVersion: 'admission.k8s.io/v1beta1' }) },
    { name: 'another app label', body: review(podWith((p) => (p.metadata.labels.app = 'ratings'))) },
    { name: 'another pod-template-hash', body: review(podWith((p) => (p.metadata.labels['pod-template-hash'] = '55d8f6b7c'))) },
    { name: 'an extra annotation', body: review(podWith((p) => (p.metadata.annotations['sidecar.istio.io/proxyCPU'] = '250m'))) },
    { name: 'excluded outbound ports', body: review(podWith((p) => (p.metadata.annotations['traffic.sidecar.istio.io/excludeOutboundPorts'] = '5432'))) },
    { name: 'opt-out label', body: review(podWith((p) => (p.metadata.labels['sidecar.istio.io/inject'] = 'false'))) },
    { name: 'hostNetwork', body: review(podWith((p) => (p.spec.hostNetwork = true))) },
    { name: 'invalid annotation (refused)', body: review(podWith((p) => (p.metadata.annotations['traffic.sidecar.istio.io/includeInboundPorts'] = 'bad'))) },
    { name: 'another invalid value (refused differently)', body: review(podWith((p) => (p.metadata.annotations['traffic.sidecar.istio.io/includeInboundPorts'] = 'worse'))) },
    { name: 'a second port', body: review(podWith((p) => p.spec.containers[0].ports.push({ containerPort: 9090, protocol: 'TCP' }))) },
    { name: 'a named pod', body: review(podWith((p) => (p.metadata.name = 'reviews-manual'))) },
    { name: 'a Deployment (not a Pod)', body: review({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'x' }, spec: {} }, { kind: { group: 'apps', version: 'v1', kind: 'Deployment' } }) },
  ];
  const update = review(base);
  (update.request as Record<string, unknown>).operation = 'UPDATE';
  list.push({ name: 'UPDATE', body: update });
  // And a spread of generated label and annotation sets.
  const generated = fc.sample(
    fc.record({
      labels: fc.dictionary(fc.constantFrom('app', 'version', 'team', 'sidecar.istio.io/inject', 'service.istio.io/canonical-name'), fc.constantFrom('a', 'b', 'true', 'false', 'v2')),
      annotations: fc.dictionary(fc.constantFrom('sidecar.istio.io/inject', 'proxy.istio.io/config', 'sidecar.istio.io/rewriteAppHTTPProbers', 'prometheus.io/scrape', 'sidecar.istio.io/interceptionMode'), fc.constantFrom('true', 'false', 'REDIRECT', 'NONE', '{"concurrency":1}', 'x')),
      namespace: fc.constantFrom('bookinfo', 'shop', 'kube-public'),
    }),
    { numRuns: 24, seed: 7 },
  );
  generated.forEach((g, i) => list.push({
    name: `generated ${i}: ${JSON.stringify(g)}`,
    body: review(podWith((p) => {
      Object.assign(p.metadata.labels, g.labels);
      Object.assign(p.metadata.annotations, g.annotations);
    }), { namespace: g.namespace }),
  }));
  return list;
}

function withUid(body: Record<string, unknown>, uid: string): string {
  const b = clone(body);
  (b.request as Record<string, unknown>).uid = uid;
  return JSON.stringify(b);
}

t.test('through HTTPS: a hit answers exactly what a miss, and an uncached server, answer', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'tandem-cache-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await ensureCerts({ dir });
  const ca = await readFile(join(dir, 'ca.crt'), 'utf8');
  const injector = await loadInjector();
  const logs: Record<string, unknown>[] = [];
  const cached: WebhookServer = await startWebhookServer({
    host: '127.0.0.1', port: 0, certDir: dir, injector, reloadPollMs: 0,
    log: pino({}, { write: (l: string) => void logs.push(JSON.parse(l) as Record<string, unknown>) }),
  });
  t.teardown(() => cached.close());
  const plain = await startWebhookServer({ host: '127.0.0.1', port: 0, certDir: dir, injector, reloadPollMs: 0, cache: false });
  t.teardown(() => plain.close());
  t.equal(plain.admitter.cache, undefined, 'cache: false has none');
  const agent = new https.Agent({ keepAlive: true, maxSockets: 1 });
  t.teardown(() => agent.destroy());
  const cache = cached.admitter.cache!;

  const all = variants();
  const seen = new Map<string, string>();
  let refusedHits = 0;
  for (const [i, v] of all.entries()) {
    const first = `uid-${i}-first`;
    const again = `uid-${i}-again`;
    const second = `uid-${i}-second`;
    const hits = cache.hits;
    const size = cache.size;
    const miss = await call(cached.url, '/inject', withUid(v.body, first), { ca, agent });
    t.equal(cache.hits, hits, `${v.name}: first answer is not a hit (no collision with an earlier variant)`);
    t.equal(cache.size, size, `${v.name}: and is not kept, only noted`);
    const kept = await call(cached.url, '/inject', withUid(v.body, again), { ca, agent });
    t.equal(cache.hits, hits, `${v.name}: second answer is not a hit either`);
    t.equal(kept.body, miss.body.replace(JSON.stringify(first), JSON.stringify(again)), `${v.name}: second answer == first but for the uid`);
    const hit = await call(cached.url, '/inject', withUid(v.body, second), { ca, agent });
    const reference = await call(plain.url, '/inject', withUid(v.body, second), { ca, agent });
    t.equal(miss.status, 200, `${v.name}: 200`);
    t.equal(cache.hits, hits + 1, `${v.name}: third answer is a hit`);
    t.equal(hit.body, reference.body, `${v.name}: hit == uncached answer, byte for byte`);
    t.equal(miss.body, hit.body.replace(JSON.stringify(second), JSON.stringify(first)), `${v.name}: hit == miss but for the uid`);
    const answer = hit.json as { response: { uid: string; allowed: boolean } };
    t.equal(answer.response.uid, second, `${v.name}: the hit carries its own request's uid`);
    t.equal((miss.json as { response: { uid: string } }).response.uid, first);
    if (!answer.response.allowed) refusedHits++;
    seen.set(v.name, hit.body.replace(JSON.stringify(second), '""'));
  }
  t.ok(refusedHits >= 2, `refusals are cached too (${refusedHits} hits)`);
  t.not(seen.get('invalid annotation (refused)'), seen.get('another invalid value (refused differently)'), 'each refusal with its own message');
  t.match(seen.get('another invalid value (refused differently)'), /"allowed":false.*worse/);
  // The patch itself does not name the namespace; the first-answer-is-a-miss check above is what shows it is in the key.
  t.equal(seen.get('ReplicaSet pod in bookinfo'), seen.get('the same pod in another namespace'));
  t.not(seen.get('ReplicaSet pod in bookinfo'), seen.get('the same pod in kube-system'));
  t.not(seen.get('ReplicaSet pod in bookinfo'), seen.get('another app label'));
  t.not(seen.get('ReplicaSet pod in bookinfo'), seen.get('an extra annotation'));
  const hitLogs = logs.filter((l) => l.msg === 'admission' && l.cached === true);
  t.equal(hitLogs.length, all.length, 'each hit is logged as one');
  t.match(hitLogs[0], { namespace: 'bookinfo', pod: 'reviews-v1-7d9c5b8f4-', decision: 'inject', rule: 'policy', durationMs: Number });

  // A body the key cannot be cut from is still answered, just not from the cache.
  const spaced = JSON.stringify(review(podWith(() => undefined), { uid: 'spaced' }), null, 1);
  const hits = cache.hits;
  const a = await call(cached.url, '/inject', spaced, { ca, agent });
  const b = await call(cached.url, '/inject', spaced, { ca, agent });
  t.equal(cache.hits, hits, 'pretty-printed bodies are not cached');
  t.equal(a.body, b.body);
  t.equal((a.json as { response: { uid: string } }).response.uid, 'spaced');
  t.equal(a.body, (await call(plain.url, '/inject', spaced, { ca, agent })).body, 'and answered as without a cache');

  // Hits skip parsing; a body that is not valid JSON must still be refused as such.
  const known = withUid(all[0]!.body, 'known');
  const broken = known.replace('"uid":"known"', '"uid":"kno\twn"');
  t.not(broken, known);
  const refused = await call(cached.url, '/inject', broken, { ca, agent });
  t.equal(refused.status, 400, 'a control character in the uid: 400, not a hit');
  t.match((refused.json as { message: string }).message, /^body is not valid JSON/);
  const truncated = await call(cached.url, '/inject', known.slice(0, -1), { ca, agent });
  t.equal(truncated.status, 400, 'a truncated copy of a cached body: 400');

  // When the first uid member is not the request's, the answer is right and never stored.
  const objectFirst = `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"object":${JSON.stringify(podWith((p) => (p.metadata.uid = 'same')))},"uid":"same","namespace":"bookinfo","kind":{"group":"","version":"v1","kind":"Pod"},"operation":"CREATE"}}`;
  const size = cache.size;
  const first = await call(cached.url, '/inject', objectFirst, { ca, agent });
  const again = await call(cached.url, '/inject', objectFirst.replace('"uid":"same","namespace"', '"uid":"other","namespace"'), { ca, agent });
  t.equal(cache.size, size, 'nothing stored');
  t.equal((first.json as { response: { uid: string } }).response.uid, 'same');
  t.equal((again.json as { response: { uid: string } }).response.uid, 'other', 'each answer carries its own uid');
  t.equal(first.body, (await call(plain.url, '/inject', objectFirst, { ca, agent })).body, 'and is what an uncached server answers');
});

t.test('a bounded cache evicts and recomputes the same answer', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'tandem-cache-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await ensureCerts({ dir });
  const ca = await readFile(join(dir, 'ca.crt'), 'utf8');
  const server = await startWebhookServer({ host: '127.0.0.1', port: 0, certDir: dir, injector: await loadInjector(), reloadPollMs: 0, cache: { maxEntries: 2 } });
  t.teardown(() => server.close());
  const cache = server.admitter.cache!;
  const bodies = ['a', 'b', 'c'].map((app) => review(podWith((p) => (p.metadata.labels.app = app))));
  const answers: string[] = [];
  // Each twice: a key's answer is kept from its second sighting.
  for (const b of bodies) {
    answers.push((await call(server.url, '/inject', withUid(b, 'u'), { ca })).body);
    await call(server.url, '/inject', withUid(b, 'u'), { ca });
  }
  t.equal(cache.size, 2);
  const again = await call(server.url, '/inject', withUid(bodies[0]!, 'u'), { ca });
  t.equal(cache.hits, 0, 'the oldest was evicted');
  t.equal(again.body, answers[0], 'and recomputed identically');
  await call(server.url, '/inject', withUid(bodies[2]!, 'u'), { ca });
  t.equal(cache.hits, 1, 'the newest stayed');
});
