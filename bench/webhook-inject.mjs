#!/usr/bin/env node
// In-process cost of one admission miss, without HTTP: injectPod alone, the patch diff of its
// result, and the whole answer (policy, injection, diff, patch encoding, response text) as the
// server computes it on a cache miss. Run after `npx tsc -p .` (it loads dist/). Profile it with
//   node --cpu-prof --cpu-prof-dir=/tmp/prof bench/webhook-inject.mjs
//
//   node bench/webhook-inject.mjs [--iterations 5000] [--rounds 3] [--compare OTHER_ROOT]
//
// "same labels" reuses the labels of one workload (the injector's bootstrap memo hits);
// "new labels" changes a label every time, as a new workload or a new pod-template-hash does.
// --compare loads a second build (a directory holding dist/, node_modules and templates/, e.g. a
// copy of dist/ from before a change) and runs both interleaved, printing after/before ratios:
// on a loaded machine only figures from the same run are comparable.
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { median } from './stats.mjs';

const root = new URL('../', import.meta.url);
const { values: args } = parseArgs({
  options: { iterations: { type: 'string', default: '5000' }, rounds: { type: 'string', default: '3' }, compare: { type: 'string' } },
});
const iterations = Number(args.iterations);
const rounds = Number(args.rounds);
const text = await readFile(new URL('test/webhook/fixture-pod.json', root), 'utf8');

async function build(base) {
  const dist = new URL('dist/', base);
  const { loadInjector, injectPod } = await import(new URL('inject/injector.js', dist).href);
  const { createAdmitter } = await import(new URL('webhook/answer.js', dist).href);
  const { diff } = await import(new URL('webhook/patch.js', dist).href);
  const injector = await loadInjector();
  const admitter = createAdmitter({ injector, cache: false });
  const ctx = { namespace: { name: 'bookinfo' }, mode: 'webhook' };
  const subject = (r) => ({ ...r.request.object, metadata: { ...r.request.object.metadata, namespace: 'bookinfo' } });
  return {
    injectPod: { run: (r) => injectPod(subject(r), ctx, injector) },
    // The diff admit() takes of the injected pod; injection itself happens outside the timed loop.
    diff: {
      prepare: (r) => {
        const s = subject(r);
        return { s, out: injectPod(s, ctx, injector).pod };
      },
      run: (x) => diff(x.s, x.out),
    },
    'whole answer': { run: (r) => admitter.answer(r) },
  };
}

const builds = [['after', await build(root)]];
if (args.compare) builds.push(['before', await build(pathToFileURL(`${resolve(args.compare)}/`))]);

function review(i, vary) {
  const pod = JSON.parse(text);
  delete pod.metadata.namespace;
  if (vary) pod.metadata.labels['bench-counter'] = String(i);
  return { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: { uid: `u${i}`, kind: { group: '', version: 'v1', kind: 'Pod' }, namespace: 'bookinfo', operation: 'CREATE', object: pod } };
}

let counter = 0;
function time(c, vary) {
  // Inputs are parsed (and prepared) outside the timed loop: the server has parsed the body by then.
  const prep = c.prepare ?? ((r) => r);
  for (let i = 0; i < 500; i++) c.run(prep(review(counter++, vary)));
  const inputs = Array.from({ length: iterations }, () => prep(review(counter++, vary)));
  const start = process.hrtime.bigint();
  for (const r of inputs) c.run(r);
  return Number(process.hrtime.bigint() - start) / 1000 / iterations;
}

for (const name of Object.keys(builds[0][1])) {
  for (const vary of [false, true]) {
    const samples = new Map(builds.map(([b]) => [b, []]));
    for (let round = 0; round < rounds; round++) for (const [b, cases] of builds) samples.get(b).push(time(cases[name], vary));
    const figures = builds.map(([b]) => `${b} ${median(samples.get(b)).toFixed(1).padStart(7)} us/op`);
    const ratio = builds.length > 1 ? `  after/before ${(median(samples.get('after')) / median(samples.get('before'))).toFixed(2)}` : '';
    console.log(`${name.padEnd(14)} ${vary ? 'new labels ' : 'same labels'}  ${figures.join('  ')}${ratio}`);
  }
}
