import t from 'tap';
import { hostMatches, hostsOverlap, moreSpecific, resolveHost } from '../../../control-plane/model/hosts.js';
import { effectiveExportTo, isVisible } from '../../../control-plane/model/visibility.js';

t.test('short names resolve in the namespace of the object that wrote them', async (t) => {
  t.equal(resolveHost('reviews', 'x', 'cluster.local'), 'reviews.x.svc.cluster.local');
  t.equal(resolveHost('reviews.other.svc.cluster.local', 'x', 'cluster.local'), 'reviews.other.svc.cluster.local');
  t.equal(resolveHost('api.example.com', 'x', 'cluster.local'), 'api.example.com');
  t.equal(resolveHost('*.example.com', 'x', 'cluster.local'), '*.example.com');
  t.equal(resolveHost('*', 'x', 'corp.local'), '*');
});

t.test('wildcards cover names with their suffix, not the bare suffix', async (t) => {
  t.ok(hostMatches('*.example.com', 'a.example.com'));
  t.ok(hostMatches('*.example.com', 'a.b.example.com'));
  t.notOk(hostMatches('*.example.com', 'example.com'));
  t.notOk(hostMatches('*.example.com', 'a.example.org'));
  t.ok(hostMatches('*', 'anything'));
  t.ok(hostMatches('*.example.com', '*.a.example.com'), 'a narrower wildcard is covered');
  t.notOk(hostMatches('*.a.example.com', '*.example.com'), 'a wider one is not');
  t.ok(hostsOverlap('*.a.example.com', '*.example.com'), 'but they overlap');
  t.notOk(hostMatches('a.example.com', 'b.example.com'));
});

t.test('specificity: exact names before wildcards, longer wildcards first', async (t) => {
  t.same(['*', '*.example.com', 'a.example.com', '*.a.example.com'].sort(moreSpecific), ['a.example.com', '*.a.example.com', '*.example.com', '*']);
});

t.test('exportTo: * everywhere, . own namespace, ~ nowhere, names', async (t) => {
  t.ok(isVisible(['*'], 'a', 'b'));
  t.ok(isVisible(['.'], 'a', 'a'));
  t.notOk(isVisible(['.'], 'a', 'b'));
  t.notOk(isVisible(['~'], 'a', 'a'));
  t.ok(isVisible(['.', 'c'], 'a', 'c'));
  t.notOk(isVisible(['c'], 'a', 'a'), 'naming other namespaces hides it from its own');
  t.same(effectiveExportTo(undefined, ['.']), ['.'], 'absent → mesh default');
  t.same(effectiveExportTo([], ['*']), ['*'], 'empty → mesh default');
  t.same(effectiveExportTo(['b'], ['*']), ['b']);
});
