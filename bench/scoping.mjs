#!/usr/bin/env node
// Benchmark: what a namespace-scoped Sidecar saves. One proxy in a mesh of 10 namespaces x 20 services,
// every service with a VirtualService (header route + 80/20 split) and a DestinationRule (2 subsets);
// the same proxy translated with a Sidecar importing only its own namespace (`./*`) and without any
// Sidecar (the baseline, same run). Prints the protobuf bytes per resource type of each and the ratio
// scoped/unscoped (issue 11's goal: <= 10 % when a proxy imports 1 of 10 namespaces), and the
// translation time of each as a ratio too. Run after `npx tsc -p .` (it loads dist/).
//
//   node bench/scoping.mjs [--namespaces 10] [--services 20] [--reps 20]
import { parseArgs } from 'node:util';
import { scopingMesh } from './scoping-mesh.mjs';

const dist = new URL('../dist/control-plane/', import.meta.url);
const { values: args } = parseArgs({
  options: { namespaces: { type: 'string', default: '10' }, services: { type: 'string', default: '20' }, reps: { type: 'string', default: '20' } },
});
const { buildMeshSnapshot } = await import(new URL('model/snapshot.js', dist).href);
const { meshOptions } = await import(new URL('model/options.js', dist).href);
const { translateSidecar } = await import(new URL('xds/translate/istio/translate.js', dist).href);
const { resourceBytes } = await import(new URL('xds/translate/istio/bytes.js', dist).href);

const NS = Number(args.namespaces);
const SVC = Number(args.services);
const REPS = Number(args.reps);

function measure(scoped) {
  const mesh = scopingMesh({ namespaces: NS, services: SVC, scoped });
  const snapshot = buildMeshSnapshot({ registry: mesh.registry, configs: mesh.configs, options: meshOptions() });
  const bytes = resourceBytes(translateSidecar(snapshot, mesh.proxy));
  const times = [];
  for (let i = 0; i < REPS; i++) {
    const t0 = process.hrtime.bigint();
    translateSidecar(snapshot, mesh.proxy);
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  times.sort((a, b) => a - b);
  return { bytes, ms: times[Math.floor(times.length / 2)] };
}

const unscoped = measure(false);
const scoped = measure(true);
const kb = (n) => `${(n / 1024).toFixed(1)} KiB`;
console.log(`Sidecar scoping: ${NS} namespaces x ${SVC} services (VirtualService + DestinationRule each), one proxy importing 1 namespace vs all`);
for (const kind of ['listeners', 'routes', 'clusters', 'endpoints', 'total']) {
  console.log(`  ${kind.padEnd(10)} unscoped ${kb(unscoped.bytes[kind]).padStart(10)}  scoped ${kb(scoped.bytes[kind]).padStart(10)}  ratio ${(scoped.bytes[kind] / unscoped.bytes[kind]).toFixed(3)}`);
}
const ratio = scoped.bytes.total / unscoped.bytes.total;
console.log(`ratio scoped/unscoped bytes: ${(ratio * 100).toFixed(1)} % (goal <= 10 %: ${ratio <= 0.1 ? 'met' : 'missed'})`);
console.log(`translation time per proxy (median of ${REPS}): unscoped ${unscoped.ms.toFixed(2)} ms, scoped ${scoped.ms.toFixed(2)} ms, ratio x${(scoped.ms / unscoped.ms).toFixed(3)}`);
