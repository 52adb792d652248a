import { readdirSync, readFileSync } from 'node:fs';
import t from 'tap';
import { parseAllDocuments } from 'yaml';
import jsonpatch from 'fast-json-patch';
import { UserError } from '../../common/errors.js';
import { createAdmitter } from '../../webhook/answer.js';
import { base64 } from '../../webhook/admission.js';
import { injectPod, loadInjector, type Injector } from '../../inject/injector.js';
import { podSites, type KubeObject } from '../../inject/offline/workloads.js';
import type { Pod } from '../../inject/types.js';
import { ISTIO_INJECT } from '../inject/helpers.js';

/**
 * The admission answer is built by hand for speed (admission-answer.ts, admission.ts); these
 * check it byte for byte against the plain way: fast-json-patch's compare(), JSON.stringify of
 * the patch and of the whole review, and Buffer's base64 of the UTF-8 text.
 */

function reference(apiVersion: string, uid: string, original: Pod, namespace: string, inj: Injector): string {
  const subject: Pod = original.metadata?.namespace || !namespace ? original : { ...original, metadata: { ...original.metadata, namespace } };
  const envelope = (response: Record<string, unknown>) => JSON.stringify({ apiVersion, kind: 'AdmissionReview', response: { uid, ...response } });
  let outcome;
  try {
    outcome = injectPod(structuredClone(subject), { namespace: { name: namespace }, mode: 'webhook' }, inj);
  } catch (err) {
    if (!(err instanceof UserError)) throw err;
    return envelope({ allowed: false, status: { code: 400, message: err.message, status: 'Failure', reason: 'BadRequest' } });
  }
  const warnings = outcome.warnings.length > 0 ? { warnings: outcome.warnings } : {};
  if (!outcome.decision.inject) return envelope({ allowed: true, ...warnings });
  const ops = jsonpatch.compare(subject, outcome.pod);
  if (ops.length === 0) return envelope({ allowed: true, ...warnings });
  return envelope({ allowed: true, ...warnings, patchType: 'JSONPatch', patch: Buffer.from(JSON.stringify(ops), 'utf8').toString('base64') });
}

/** The pods of every conformance input (pods, and the templates of workloads). */
function conformancePods(): { name: string; pod: Pod }[] {
  const out: { name: string; pod: Pod }[] = [];
  for (const f of readdirSync(ISTIO_INJECT).sort()) {
    if (!f.endsWith('.yaml') || f.endsWith('.iop.yaml')) continue;
    const docs = parseAllDocuments(readFileSync(`${ISTIO_INJECT}/${f}`, 'utf8')).map((d) => d.toJS() as unknown);
    for (const doc of docs) {
      if (!doc || typeof doc !== 'object') continue;
      for (const site of podSites(doc as KubeObject)) out.push({ name: `${f} ${site.kind}/${site.name}`, pod: site.pod });
    }
  }
  return out;
}

/** Variations that change what the answer carries: labels (in the bootstrap), text needing escapes, no namespace. */
const VARIANTS: { name: string; change: (p: Pod) => void; namespace?: string }[] = [
  { name: 'as is', change: () => {} },
  { name: 'a new label', change: (p) => ((p.metadata ??= {}).labels = { ...p.metadata?.labels, 'pod-template-hash': '7d9c5b8f4' }) },
  { name: 'escapes in a label and an annotation', change: (p) => {
    const m = (p.metadata ??= {});
    m.labels = { ...m.labels, app: 'quo"te\\back' };
    m.annotations = { ...m.annotations, note: 'tab\tnl\nctl\u0001 é ü 漢 \u{1f600}' };
  } },
  { name: 'a lone surrogate in an annotation', change: (p) => {
    const m = (p.metadata ??= {});
    m.annotations = { ...m.annotations, odd: 'x\ud800y' };
  } },
  { name: 'no namespace in the pod', change: (p) => { if (p.metadata) delete p.metadata.namespace; }, namespace: 'bookinfo' },
  { name: 'injection turned off', change: (p) => ((p.metadata ??= {}).annotations = { ...p.metadata?.annotations, 'sidecar.istio.io/inject': 'false' }) },
];

t.test('answers are byte for byte the JSON.stringify encoding, for every conformance input', async (t) => {
  const inj = await loadInjector();
  const admitter = createAdmitter({ injector: inj, cache: false });
  let compared = 0;
  let patched = 0;
  let nonAscii = 0;
  for (const { name, pod } of conformancePods()) {
    for (const v of VARIANTS) {
      const p = structuredClone(pod);
      v.change(p);
      const namespace = v.namespace ?? p.metadata?.namespace ?? 'default';
      for (const apiVersion of ['admission.k8s.io/v1', 'admission.k8s.io/v1beta1'] as const) {
        const uid = `uid-${compared}`;
        const review = { apiVersion, kind: 'AdmissionReview' as const, request: { uid, kind: { group: '', version: 'v1', kind: 'Pod' }, namespace, operation: 'CREATE', object: structuredClone(p) as Record<string, unknown> } };
        const got = admitter.answer(review).text;
        const want = reference(apiVersion, uid, p, namespace, inj);
        if (got !== want) {
          t.equal(got, want, `${name}, ${v.name}, ${apiVersion}`);
          return;
        }
        compared++;
        if (got.includes('"patch":"')) patched++;
        if (/[^\x00-\x7f]/.test(JSON.stringify(p))) nonAscii++;
      }
    }
  }
  t.ok(compared > 500, `${compared} answers compared`);
  t.ok(patched > compared / 2, `${patched} of them carry a patch`);
  t.ok(nonAscii > 100, `${nonAscii} of them from pods with non-ASCII text`);
});

t.test('base64: Buffer.from(text, "utf8") for ASCII, UTF-8, lone surrogates and large texts', async (t) => {
  const texts = ['', 'a', 'ab', 'abc', '{"op":"add"}', 'é', '漢字', '\u{1f600}', 'x\ud800', '\udc00y', 'a'.repeat(70_000), `${'é'.repeat(30_000)}z`, 'b'.repeat(400_000), '\u{1f600}'.repeat(200_000)];
  for (const text of texts) {
    t.equal(base64(text), Buffer.from(text, 'utf8').toString('base64'), `${text.length} chars starting ${JSON.stringify(text.slice(0, 4))}`);
  }
  // The reused buffer must not leak bytes of a longer earlier text into a shorter later one.
  t.equal(base64('xyz'), Buffer.from('xyz').toString('base64'));
});

t.test('the cache checks request.uid on the first hit when the body opens with it', async (t) => {
  const inj = await loadInjector();
  const admitter = createAdmitter({ injector: inj });
  const cache = admitter.cache!;
  const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: 'bookinfo', labels: { app: 'a' } }, spec: { containers: [{ name: 'c', image: 'i' }] } };
  const body = (first: string, last: string) => `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"${first}","kind":{"group":"","version":"v1","kind":"Pod"},"namespace":"bookinfo","operation":"CREATE","object":${JSON.stringify(pod)}${last ? `,"uid":"${last}"` : ''}}}`;
  const answerTo = (raw: string) => admitter.cached(raw) ?? admitter.answer(JSON.parse(raw), raw);
  const uidOf = (text: string) => (JSON.parse(text) as { response: { uid: string } }).response.uid;

  // A key's first answer is only noted; its second is kept.
  const noted = answerTo(body('same', 'same'));
  t.equal(uidOf(noted.text), 'same');
  t.equal(cache.size, 0, 'a first sighting keeps no answer');
  // A later duplicate uid member wins in JSON.parse: that body's key must never answer another.
  const a = answerTo(body('same', 'same'));
  t.equal(uidOf(a.text), 'same');
  t.equal(cache.size, 1, 'kept unchecked on the second');
  const b = answerTo(body('u-2', 'same'));
  t.equal(b.cached, false, 'the first hit finds the member is not request.uid');
  t.equal(uidOf(b.text), 'same', 'and the answer carries the uid JSON.parse sees');
  t.equal(cache.hits, 0, 'not counted as a hit');
  const c = answerTo(body('u-3', 'same'));
  t.equal(c.cached, false, 'nor is it ever served');
  t.equal(cache.size, 1, 'nor stored again');

  // The usual body: noted on the first miss, stored on the second, checked and served on the first hit, served after.
  const first = answerTo(body('u-1', ''));
  t.equal(first.cached, false);
  const stored = answerTo(body('u-0', ''));
  t.equal(stored.cached, false);
  const second = answerTo(body('u-4', ''));
  const third = answerTo(body('u-5', ''));
  t.same([second.cached, third.cached], [true, true]);
  t.equal(uidOf(third.text), 'u-5');
  t.equal(third.text, first.text.replace('"uid":"u-1"', '"uid":"u-5"'), 'the same answer but for the uid');
  t.equal(cache.hits, 2);
});
