/**
 * Access logs and tracing in a sidecar's `virtualOutbound` listener: mesh config in (parsed by the real
 * MeshConfig parser), Telemetry objects in (checked by the real validator), the observability parts of
 * the listener out, compared with hand-written goldens in telemetry-testdata/ (one object per proxy:
 * the listener's own access_log, the HCMs' access_log and tracing, the tcp_proxies' access_log — the
 * test first checks that every HCM and every tcp_proxy of the listener carries the same). Every
 * resource of every proxy also passes the strict Envoy-proto checker.
 */
import { fileURLToPath } from 'node:url';
import t, { type Test } from 'tap';
import { parseAllDocuments } from 'yaml';
import { parseMeshConfig } from '../../../config/mesh/mesh-config.js';
import type { ConfigObject } from '../../../config/model.js';
import { validateConfig } from '../../../config/validation/validate.js';
import { meshOptionsFromMeshConfig } from '../../../control-plane/model/options.js';
import type { MeshProxy } from '../../../control-plane/model/proxy.js';
import { buildMeshSnapshot } from '../../../control-plane/model/snapshot.js';
import type { Service } from '../../../control-plane/registry/types.js';
import type { Json } from '../../../control-plane/xds/translate/istio/envoy.js';
import { translateProxyless, translateSidecar } from '../../../control-plane/xds/translate/istio/translate.js';
import { matchJsonGolden, unusedGoldenFiles } from '../../golden.js';
import { checkAll } from './check.js';
import { registry } from './registry.js';

const ROOT = fileURLToPath(new URL('.', import.meta.url));
const DIR = 'telemetry-testdata';
const used: string[] = [];

const collectors: Service[] = [
  { name: 'zipkin', namespace: 'istio-system', addresses: ['10.96.9.1'], ports: [{ name: 'http', port: 9411, protocol: 'HTTP', endpoints: [{ address: '10.0.9.1', port: 9411, labels: {} }] }] },
  {
    name: 'otel',
    namespace: 'istio-system',
    addresses: ['10.96.9.2'],
    ports: [
      { name: 'grpc-otlp', port: 4317, protocol: 'GRPC', endpoints: [{ address: '10.0.9.2', port: 4317, labels: {} }] },
      { name: 'http-otlp', port: 4318, protocol: 'HTTP', endpoints: [{ address: '10.0.9.2', port: 4318, labels: {} }] },
    ],
  },
];

const PROXIES: Record<string, MeshProxy> = {
  productpage: { namespace: 'shop', labels: { app: 'productpage', version: 'v1' } },
  reviews: { namespace: 'shop', labels: { app: 'reviews', version: 'v2' } },
  client: { namespace: 'data', labels: { app: 'client' } },
};

interface Case {
  name: string;
  what: string;
  mesh: string;
  configs?: string;
  proxies: (keyof typeof PROXIES)[];
}

const cases: Case[] = [
  { name: 'mesh-text', what: 'accessLogFile alone: Istio\'s default text format everywhere', mesh: 'accessLogFile: /dev/stdout', proxies: ['productpage'] },
  { name: 'mesh-text-format', what: 'accessLogFormat without a final newline gets one', mesh: 'accessLogFile: /var/log/envoy.log\naccessLogFormat: "%REQ(:METHOD)% %RESPONSE_CODE%"', proxies: ['productpage'] },
  { name: 'mesh-json-default', what: 'JSON without a format: Istio\'s default labels', mesh: 'accessLogFile: /dev/stdout\naccessLogEncoding: JSON', proxies: ['productpage'] },
  { name: 'mesh-json', what: 'JSON with a format: its labels', mesh: `accessLogFile: /dev/stderr\naccessLogEncoding: JSON\naccessLogFormat: '{"method": "%REQ(:METHOD)%", "code": "%RESPONSE_CODE%"}'`, proxies: ['productpage'] },
  {
    name: 'telemetry-logs',
    what: 'Telemetry providers replace accessLogFile; namespace scope, CEL filter, built-in envoy provider',
    mesh: `accessLogFile: /tmp/not-used.log
extensionProviders:
- name: json-log
  envoyFileAccessLog: {path: /var/log/json.log, logFormat: {labels: {code: "%RESPONSE_CODE%", path: "%REQ(:PATH)%"}}}
- name: text-log
  envoyFileAccessLog: {logFormat: {text: "%RESPONSE_CODE%"}}`,
    configs: `apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {name: mesh-default, namespace: istio-system}
spec:
  accessLogging: [{providers: [{name: envoy}]}]
---
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {name: shop, namespace: shop}
spec:
  accessLogging:
  - providers: [{name: text-log}, {name: json-log}]
    filter: {expression: "response.code >= 400"}`,
    proxies: ['productpage', 'client'],
  },
  {
    name: 'tracing-zipkin',
    what: 'Zipkin provider, sampling percentage, max tag length, literal/environment/header custom tags',
    mesh: `extensionProviders:
- name: zipkin
  zipkin: {service: zipkin.istio-system.svc.cluster.local, port: 9411, maxTagLength: 99}`,
    configs: `apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {name: mesh-default, namespace: istio-system}
spec:
  tracing:
  - providers: [{name: zipkin}]
    randomSamplingPercentage: 12.5
    customTags:
      team: {literal: {value: bookinfo}}
      pod: {environment: {name: POD_NAME, defaultValue: unknown}}
      agent: {header: {name: user-agent}}`,
    proxies: ['productpage'],
  },
  {
    name: 'tracing-otel',
    what: 'OpenTelemetry over gRPC (default provider) and over HTTP (workload Telemetry); an unresolvable collector traces nothing',
    mesh: `extensionProviders:
- name: otel-grpc
  opentelemetry: {service: istio-system/otel.istio-system.svc.cluster.local, port: 4317}
- name: otel-http
  opentelemetry: {service: otel.istio-system.svc.cluster.local, port: 4318, http: {path: /v1/traces}}
- name: ghost
  zipkin: {service: ghost.nowhere.svc.cluster.local, port: 9411}
defaultProviders:
  tracing: [otel-grpc]`,
    configs: `apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {name: reviews, namespace: shop}
spec:
  selector: {matchLabels: {app: reviews}}
  tracing: [{providers: [{name: otel-http}]}]
---
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {name: data, namespace: data}
spec:
  tracing: [{providers: [{name: ghost}]}]`,
    proxies: ['productpage', 'reviews', 'client'],
  },
];

function configsOf(text: string | undefined): ConfigObject[] {
  if (!text) return [];
  return parseAllDocuments(text).map((d, i) => {
    const o = d.toJSON() as ConfigObject;
    // creation order = document order
    return { ...o, metadata: { ...o.metadata, creationTimestamp: `2026-01-01T00:00:${String(i).padStart(2, '0')}Z` } };
  });
}

function filtersOf(listener: Json): Json[] {
  const chains = [...((listener['filter_chains'] as Json[] | undefined) ?? []), listener['default_filter_chain'] as Json];
  return chains.flatMap((c) => (c['filters'] as Json[]).map((f) => f['typed_config'] as Json));
}

/** The observability parts of a listener; fails the test when HCMs or tcp_proxies disagree among themselves. */
function observability(t: Test, listener: Json): Json {
  const all = filtersOf(listener);
  const hcms = all.filter((c) => String(c['@type']).endsWith('HttpConnectionManager')).map((c) => ({ access_log: c['access_log'], tracing: c['tracing'] }));
  const tcps = all.filter((c) => String(c['@type']).endsWith('TcpProxy')).map((c) => ({ access_log: c['access_log'] }));
  t.ok(hcms.length > 0 && tcps.length > 1, 'the listener has HCMs and tcp_proxies (service chains and the default chain)');
  for (const h of hcms) t.same(h, hcms[0], 'every HCM carries the same access logs and tracing');
  for (const c of tcps) t.same(c, tcps[0], 'every tcp_proxy carries the same access logs');
  return JSON.parse(JSON.stringify({ listener_access_log: listener['access_log'], hcm: hcms[0], tcp_proxy: tcps[0] })) as Json;
}

for (const c of cases) {
  t.test(`${c.name}: ${c.what}`, async (t) => {
    const parsed = parseMeshConfig(`rootNamespace: istio-system\n${c.mesh}\n`, `${c.name} mesh config`);
    t.same(parsed.warnings, [], 'the mesh config parses without warnings');
    const configs = configsOf(c.configs);
    for (const o of configs) t.same(validateConfig(o).problems, [], `${o.metadata.name} is a valid Telemetry`);
    const snapshot = buildMeshSnapshot({ registry: { services: [...registry.services, ...collectors] }, configs, options: meshOptionsFromMeshConfig(parsed.mesh) });
    const got: Record<string, Json> = {};
    for (const p of c.proxies) {
      const out = translateSidecar(snapshot, PROXIES[p]!);
      t.same(checkAll(out), [], `${p}: every resource passes the strict checker`);
      const listener = out.listeners.find((l) => l['name'] === 'virtualOutbound')!;
      got[p] = observability(t, listener);
      if (c.name === 'mesh-text') {
        used.push(`${DIR}/mesh-text-listener.json`);
        matchJsonGolden(t, `${ROOT}${DIR}/mesh-text-listener.json`, listener);
      }
      const proxyless = translateProxyless(snapshot, PROXIES[p]!);
      const hcms = proxyless.listeners.map((l) => (l['api_listener'] as Json)['api_listener'] as Json);
      t.same(hcms.filter((h) => h['access_log'] !== undefined || h['tracing'] !== undefined), [], `${p} as a proxyless client: no access logs, no tracing`);
    }
    used.push(`${DIR}/${c.name}.json`);
    matchJsonGolden(t, `${ROOT}${DIR}/${c.name}.json`, got);
  });
}

t.test('every golden in telemetry-testdata/ is used', async (t) => {
  t.same(unusedGoldenFiles(ROOT, DIR, used), []);
});
