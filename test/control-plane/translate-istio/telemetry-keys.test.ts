/**
 * The caching trap for observability: the Istio generators read Telemetry objects and the mesh
 * config's telemetry fields (through the mesh snapshot) and the proxy's namespace and labels (declared
 * inputs). Changing any of them must rebuild the listener part; an access-log setting alone switches
 * a generation into the Istio translation (the registry-only listener has no logs).
 */
import t from 'tap';
import { parseMeshConfig } from '../../../config/mesh/mesh-config.js';
import type { ConfigObject } from '../../../config/model.js';
import { meshOptions, meshOptionsFromMeshConfig } from '../../../control-plane/model/options.js';
import type { Service } from '../../../control-plane/registry/types.js';
import { ResourceBuilder } from '../../../control-plane/xds/cache/generation.js';
import type { ProxyInfo } from '../../../control-plane/xds/proxy.js';
import { DEFAULT_TRANSLATE_OPTIONS as O } from '../../../control-plane/xds/translate/common.js';
import { PROXY_GENERATORS } from '../../../control-plane/xds/translate/generators.js';
import { decodeToJson } from '../../../control-plane/proto/decode.js';

const services: Service[] = [{ name: 'reviews', namespace: 'shop', addresses: [], ports: [{ name: 'http', port: 9080, protocol: 'HTTP', endpoints: [{ address: '10.0.0.1', port: 9080, labels: {} }] }] }];
const listeners = PROXY_GENERATORS.find((g) => g.name === 'istio-listeners')!;

function proxy(p: Partial<ProxyInfo> = {}): ProxyInfo {
  return { id: 'sidecar~10.0.0.5~app.shop~shop.svc.cluster.local', namespace: 'shop', labels: { app: 'a' }, ips: ['10.0.0.5'], appPorts: [8080], proxyless: false, userAgent: 'envoy', ...p };
}

const mesh = (text: string): ReturnType<typeof meshOptions> => meshOptionsFromMeshConfig(parseMeshConfig(`rootNamespace: istio-system\n${text}`, 'mesh').mesh);

function telemetry(name: string, ns: string, spec: Record<string, unknown>): ConfigObject {
  return { apiVersion: 'telemetry.istio.io/v1', kind: 'Telemetry', metadata: { name, namespace: ns }, spec } as unknown as ConfigObject;
}
const textLog = { name: 'text', envoyFileAccessLog: { path: '/dev/stderr' } };
const MESH = `extensionProviders: [${JSON.stringify(textLog)}]\n`;

/** The access-log paths of the 9080 HCM in the decoded listener part. */
function logPaths(part: ReturnType<ReturnType<ResourceBuilder['build']>['part']>): string[] {
  const l = [...part.values()].map((r) => decodeToJson('envoy.config.listener.v3.Listener', r.value) as Record<string, any>).find((x) => x['name'] === 'virtualOutbound')!;
  const hcm = l['filter_chains'].find((c: any) => c['filter_chain_match']['destination_port'] === 9080)['filters'][0]['typed_config'];
  return (hcm['access_log'] ?? []).map((a: any) => a['typed_config']['path']);
}

t.test('an access-log file alone switches to the Istio translation; off again, back to plain', async (t) => {
  const b = new ResourceBuilder(O);
  t.equal(b.build({ services }, { configs: [], options: meshOptions() }).mode, 'plain', 'default mesh config: plain');
  const g = b.build({ services }, { configs: [], options: mesh('accessLogFile: /dev/stdout\n') });
  t.equal(g.mode, 'istio', 'accessLogFile set: istio');
  t.same(logPaths(g.part(listeners, proxy())), ['/dev/stdout'], 'and the listener carries the log');
  t.equal(b.build({ services }, { configs: [], options: mesh('defaultProviders: {tracing: [envoy]}\n') }).mode, 'istio', 'a default tracing provider: istio');
  t.equal(b.build({ services }, { configs: [telemetry('t', 'shop', { accessLogging: [{ disabled: true }] })], options: meshOptions() }).mode, 'istio', 'a Telemetry object: istio');
});

t.test('Telemetry objects, mesh telemetry fields, proxy namespace and labels are all keyed', async (t) => {
  const b = new ResourceBuilder(O);
  const base = { configs: [] as ConfigObject[], options: mesh(`accessLogFile: /dev/stdout\n${MESH}`) };
  const p = proxy();
  const l1 = b.build({ services }, base).part(listeners, p);
  t.same(logPaths(l1), ['/dev/stdout']);

  const same = b.build({ services }, { ...base, options: mesh(`accessLogFile: /dev/stdout\n${MESH}`) });
  t.equal(same.part(listeners, p), l1, 'an equal mesh config: the part is shared');

  const g2 = b.build({ services }, { ...base, options: mesh(`accessLogFile: /var/log/a.log\n${MESH}`) });
  t.same(logPaths(g2.part(listeners, p)), ['/var/log/a.log'], 'accessLogFile edited: rebuilt');

  const g3 = b.build({ services }, { ...base, options: mesh(`accessLogFile: /dev/stdout\nextensionProviders: [{name: text, envoyFileAccessLog: {path: /dev/null}}]\ndefaultProviders: {accessLogging: [text]}\n`) });
  t.same(logPaths(g3.part(listeners, p)), ['/dev/null'], 'an extension provider and default providers edited: rebuilt');

  const ws = telemetry('ws', 'shop', { selector: { matchLabels: { app: 'a' } }, accessLogging: [{ providers: [{ name: 'text' }] }] });
  const g4 = b.build({ services }, { ...base, configs: [ws] });
  t.same(logPaths(g4.part(listeners, p)), ['/dev/stderr'], 'a workload Telemetry: rebuilt for the proxy it selects');
  t.same(logPaths(g4.part(listeners, proxy({ labels: { app: 'b' } }))), ['/dev/stdout'], 'labels are keyed: another workload keeps the mesh-config log');
  t.same(logPaths(g4.part(listeners, proxy({ namespace: 'data', labels: { app: 'a' } }))), ['/dev/stdout'], 'the namespace is keyed: the same labels elsewhere are not selected');

  const g5 = b.build({ services }, { ...base, configs: [{ ...ws, spec: { ...ws.spec as object, accessLogging: [{ providers: [{ name: 'text' }], disabled: true }] } } as ConfigObject] });
  t.same(logPaths(g5.part(listeners, p)), [], 'the Telemetry edited: rebuilt');
});
