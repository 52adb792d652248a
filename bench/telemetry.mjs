#!/usr/bin/env node
// Benchmark: what access logs and tracing cost a sidecar. A mesh of `services` services, half HTTP
// (on `ports` distinct ports, so that many HCMs) and half TCP (one tcp_proxy chain each), one proxy
// translated three ways in the same run: no observability (the baseline), the mesh config's
// `accessLogFile` (Istio's default text format on every HCM, tcp_proxy and the listener), and that
// plus a mesh-wide Telemetry with Zipkin tracing. Prints listener and total bytes and the translation
// and encoding time (median, variants interleaved) of each as ratios against the baseline. Run after `npx tsc -p .` (it loads dist/).
//
//   node bench/telemetry.mjs [--services 400] [--ports 20] [--reps 20]
import { parseArgs } from 'node:util';

const dist = new URL('../dist/', import.meta.url);
const { values: args } = parseArgs({ options: { services: { type: 'string', default: '400' }, ports: { type: 'string', default: '20' }, reps: { type: 'string', default: '20' } } });
const { buildMeshSnapshot } = await import(new URL('control-plane/model/snapshot.js', dist).href);
const { meshOptionsFromMeshConfig } = await import(new URL('control-plane/model/options.js', dist).href);
const { parseMeshConfig } = await import(new URL('config/mesh/mesh-config.js', dist).href);
const { translateSidecar } = await import(new URL('control-plane/xds/translate/istio/translate.js', dist).href);
const { resourceBytes } = await import(new URL('control-plane/xds/translate/istio/bytes.js', dist).href);

const SVC = Number(args.services);
const PORTS = Number(args.ports);
const REPS = Number(args.reps);

const services = [{ name: 'zipkin', namespace: 'istio-system', addresses: ['10.200.0.1'], ports: [{ name: 'http', port: 9411, protocol: 'HTTP', endpoints: [{ address: '10.201.0.1', port: 9411, labels: {} }] }] }];
for (let s = 0; s < SVC; s++) {
  const http = s % 2 === 0;
  const port = http ? 8000 + (s % PORTS) : 5000 + s;
  services.push({
    name: `svc-${s}`,
    namespace: `team-${s % 10}`,
    addresses: [`10.96.${s >> 8}.${s & 255}`],
    ports: [{ name: http ? 'http' : 'tcp', port, protocol: http ? 'HTTP' : 'TCP', endpoints: [{ address: `10.0.${s >> 8}.${s & 255}`, port, labels: {} }] }],
  });
}
const proxy = { namespace: 'team-0', labels: { app: 'client' } };
const MESH = 'rootNamespace: istio-system\nextensionProviders: [{name: zipkin, zipkin: {service: zipkin.istio-system.svc.cluster.local, port: 9411}}]\n';
const tracing = { apiVersion: 'telemetry.istio.io/v1', kind: 'Telemetry', metadata: { name: 'mesh', namespace: 'istio-system' }, spec: { tracing: [{ providers: [{ name: 'zipkin' }], randomSamplingPercentage: 10 }] } };

function setup(meshText, configs) {
  const options = meshOptionsFromMeshConfig(parseMeshConfig(MESH + meshText, 'bench').mesh);
  return { options, configs, bytes: resourceBytes(translateSidecar(buildMeshSnapshot({ registry: { services }, configs, options }), proxy)), times: [] };
}

/** Translation and encoding of one proxy from a fresh snapshot (the per-snapshot indexes are part of the cost). */
function once(v) {
  const s = buildMeshSnapshot({ registry: { services }, configs: v.configs, options: v.options });
  const t0 = process.hrtime.bigint();
  resourceBytes(translateSidecar(s, proxy));
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

const [base, logs, both] = [setup('', []), setup('accessLogFile: /dev/stdout\n', []), setup('accessLogFile: /dev/stdout\n', [tracing])];
for (let i = 0; i < 5; i++) for (const v of [base, logs, both]) once(v); // warm-up: the JIT would otherwise dominate the first variant
// interleaved, so that a noisy neighbour on the shared machine hits all three alike
for (let i = 0; i < REPS; i++) for (const v of [base, logs, both]) v.times.push(once(v));
for (const v of [base, logs, both]) {
  v.times.sort((a, b) => a - b);
  v.ms = v.times[Math.floor(v.times.length / 2)];
}
const kb = (n) => `${(n / 1024).toFixed(1)} KiB`;
console.log(`observability cost: ${SVC} services (${SVC / 2} HTTP on ${PORTS} ports, ${SVC / 2} TCP), one sidecar; baseline = no access log, no tracing`);
for (const [name, r] of [['baseline', base], ['access log', logs], ['log + zipkin', both]]) {
  console.log(
    `  ${name.padEnd(13)} listeners ${kb(r.bytes.listeners).padStart(10)} (x${(r.bytes.listeners / base.bytes.listeners).toFixed(2)})  total ${kb(r.bytes.total).padStart(10)} (x${(r.bytes.total / base.bytes.total).toFixed(3)})  translate+encode ${r.ms.toFixed(2)} ms (x${(r.ms / base.ms).toFixed(2)})`,
  );
}
