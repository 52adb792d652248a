#!/usr/bin/env node
// In-process cost of one admission miss, without HTTP: injectPod alone, and the whole answer
// (policy, injection, diff, patch encoding, response text) as the server computes it on a cache
// miss. Run after `npx tsc -p .` (it loads dist/). Profile it with
//   node --cpu-prof --cpu-prof-dir=/tmp/prof bench/webhook-inject.mjs
//
//   node bench/webhook-inject.mjs [--iterations 5000]
//
// "same labels" reuses the labels of one workload (the injector's bootstrap memo hits);
// "new labels" changes a label every time, as a new workload or a new pod-template-hash does.
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';

const root = new URL('../', import.meta.url);
const dist = new URL('dist/', root);
const { values: args } = parseArgs({ options: { iterations: { type: 'string', default: '5000' } } });
const iterations = Number(args.iterations);

const { loadInjector, injectPod } = await import(new URL('webhook/injector.js', dist).href);
const { createAdmitter } = await import(new URL('webhook/admission-answer.js', dist).href);
const text = await readFile(new URL('test/webhook/server-fixture-pod.json', root), 'utf8');
const injector = await loadInjector();
const admitter = createAdmitter({ injector, cache: false });

function review(i, vary) {
  const pod = JSON.parse(text);
  delete pod.metadata.namespace;
  if (vary) pod.metadata.labels['bench-counter'] = String(i);
  return { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: { uid: `u${i}`, kind: { group: '', version: 'v1', kind: 'Pod' }, namespace: 'bookinfo', operation: 'CREATE', object: pod } };
}

const cases = {
  injectPod: (r) => injectPod({ ...r.request.object, metadata: { ...r.request.object.metadata, namespace: 'bookinfo' } }, { namespace: { name: 'bookinfo' }, mode: 'webhook' }, injector),
  'whole answer': (r) => admitter.answer(r),
};

let counter = 0;
for (const [name, fn] of Object.entries(cases)) {
  for (const vary of [false, true]) {
    // Inputs are parsed outside the timed loop: the server has parsed the body by then.
    const warm = Array.from({ length: 500 }, () => review(counter++, vary));
    for (const r of warm) fn(r);
    const inputs = Array.from({ length: iterations }, () => review(counter++, vary));
    const start = process.hrtime.bigint();
    for (const r of inputs) fn(r);
    const us = Number(process.hrtime.bigint() - start) / 1000 / iterations;
    console.log(`${name.padEnd(14)} ${vary ? 'new labels ' : 'same labels'} ${us.toFixed(1).padStart(7)} us/op`);
  }
}
