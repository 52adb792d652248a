import t from 'tap';
import fc from 'fast-check';
import jsonPatch, { type Operation } from 'fast-json-patch';
import { createRequire } from 'node:module';
import { isDeepStrictEqual } from 'node:util';
import { diff } from '../../webhook/patch.js';
import { loadInjector, injectPod } from '../../inject/injector.js';
import type { Pod } from '../../inject/types.js';
import { applyJsonPatch } from './helpers.js';

const require = createRequire(import.meta.url);
const fixturePod = require('./fixture-pod.json') as Pod;

// Few keys (some needing JSON-pointer escapes), so that generated pairs overlap and differ deep down.
const { doc } = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constantFrom<unknown>(null, true, false, 0, 1, 'x', ''),
    fc.integer(),
    fc.string({ maxLength: 4 }),
    tie('doc'),
    tie('list'),
  ),
  list: fc.array(tie('value'), { maxLength: 4 }),
  doc: fc.dictionary(fc.constantFrom('a', 'b', 'c', 'd/e', '~f', '0', '1'), tie('value'), { maxKeys: 5 }),
}));

const pair = fc.oneof(
  fc.tuple(doc, doc),
  fc.tuple(fc.array(fc.anything({ maxDepth: 2 }), { maxLength: 4 }), fc.array(fc.anything({ maxDepth: 2 }), { maxLength: 4 })),
);

t.test('same operations as fast-json-patch compare() on generated documents', async (t) => {
  fc.assert(
    fc.property(pair, ([a, b]) => {
      const ours = JSON.stringify(diff(a as object, b as object));
      const theirs = JSON.stringify(jsonPatch.compare(a as object, b as object));
      return ours === theirs;
    }),
    { numRuns: 3000 },
  );
  t.pass('3000 generated pairs agree');
});

t.test('the patch turns the original into the target (applied by fast-json-patch)', async (t) => {
  fc.assert(
    fc.property(fc.tuple(doc, doc), ([a, b]) => {
      const target = JSON.parse(JSON.stringify(b)) as unknown;
      const doc1 = JSON.parse(JSON.stringify(a)) as object;
      const ops = JSON.parse(JSON.stringify(diff(a as object, b as object))) as Operation[];
      // key order is not part of JSON equality
      return applyJsonPatch(doc1, ops).length === 0 && isDeepStrictEqual(doc1, target);
    }),
    { numRuns: 2000 },
  );
  t.pass('2000 generated pairs round-trip');
});

t.test('on a real injection: identical to compare(), and no aliasing problem once serialised', async (t) => {
  const injector = await loadInjector();
  const pod = JSON.parse(JSON.stringify(fixturePod)) as Pod;
  const out = injectPod(pod, { namespace: { name: 'bookinfo' }, mode: 'webhook' }, injector);
  t.equal(out.decision.inject, true);
  const ours = JSON.stringify(diff(pod, out.pod));
  t.equal(ours, JSON.stringify(jsonPatch.compare(pod, out.pod)));
  t.ok(ours.length > 1000, 'a substantial patch');
  t.same(diff(pod, pod), [], 'no change, no operation');
  t.same(diff({ a: [1, 2, 3] }, { a: [1] }), [{ op: 'remove', path: '/a/2' }, { op: 'remove', path: '/a/1' }], 'array tail removed from the end');
  t.same(diff({ 'x/y': 1 }, { 'x/y': 2, '~': 3 }), [{ op: 'replace', path: '/x~1y', value: 2 }, { op: 'add', path: '/~0', value: 3 }], 'pointer escapes');
});
