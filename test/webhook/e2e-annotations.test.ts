import t, { type Test } from 'tap';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Operation } from 'fast-json-patch';
import type { V1Container, V1Pod } from '@kubernetes/client-node';
import { ensureCerts } from '../../certs/ensure.js';
import { loadInjector } from '../../inject/injector.js';
import { startWebhookServer, type WebhookServer } from '../../webhook/server.js';
import { podProblems } from '../inject/helpers.js';
import { applyJsonPatch, call, review } from './helpers.js';

/**
 * One pod per annotation family through the real admission path: HTTPS with only the CA
 * trusted, the patch applied by fast-json-patch (not tandem's own diff), the result checked against the
 * strict pod schema and kubernetes-models. The expected values are Istio's documented
 * behaviour for each annotation, written out by hand.
 */
interface Answer {
  response: { uid: string; allowed: boolean; patch?: string; warnings?: string[]; status?: { code?: number; message: string } };
}

let server: WebhookServer;
let ca: string;
let certDir: string;

t.before(async () => {
  certDir = await mkdtemp(join(tmpdir(), 'tandem-e2e-'));
  await ensureCerts({ dir: certDir });
  ca = await readFile(join(certDir, 'ca.crt'), 'utf8');
  server = await startWebhookServer({ host: '127.0.0.1', port: 0, certDir, injector: await loadInjector() });
});
t.teardown(async () => {
  await server.close();
  await rm(certDir, { recursive: true, force: true });
});

function pod(annotations: Record<string, string>, app: Partial<V1Container> = {}, labels: Record<string, string> = { app: 'shop' }): V1Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { generateName: 'shop-6f7d-', labels, annotations },
    spec: { containers: [{ name: 'shop', image: 'shop:1', ports: [{ containerPort: 8080 }], ...app }] },
  };
}

let uid = 0;
async function admit(t: Test, p: V1Pod): Promise<{ answer: Answer; result: V1Pod }> {
  const id = `e2e-${++uid}`;
  const res = await call(server.url, '/inject', JSON.stringify(review(p, { uid: id, namespace: 'shop' })), { ca });
  t.equal(res.status, 200, 'HTTP 200');
  const answer = res.json as Answer;
  t.equal(answer.response.uid, id, 'uid echoed');
  const result = structuredClone(p);
  if (answer.response.patch) {
    const ops = JSON.parse(Buffer.from(answer.response.patch, 'base64').toString('utf8')) as Operation[];
    t.same(applyJsonPatch(result, ops), [], 'fast-json-patch applies every operation');
    t.same(podProblems(result), [], 'strict schema and kubernetes-models accept the injected pod');
  }
  return { answer, result };
}

const container = (p: V1Pod, name: string): V1Container | undefined =>
  [...(p.spec?.initContainers ?? []), ...(p.spec?.containers ?? [])].find((c) => c.name === name);
const flag = (args: string[] | undefined, f: string): string | undefined => {
  const i = (args ?? []).indexOf(f);
  return i < 0 ? undefined : args?.[i + 1];
};

t.test('traffic annotations become istio-init flags', async (t) => {
  const { result } = await admit(t, pod({
    'traffic.sidecar.istio.io/includeOutboundIPRanges': '10.0.0.0/8',
    'traffic.sidecar.istio.io/excludeOutboundIPRanges': '10.96.0.1/32',
    'traffic.sidecar.istio.io/includeInboundPorts': '8080',
    'traffic.sidecar.istio.io/excludeOutboundPorts': '5432',
  }));
  const args = container(result, 'istio-init')?.args;
  t.equal(flag(args, '-i'), '10.0.0.0/8');
  t.equal(flag(args, '-x'), '10.96.0.1/32');
  t.equal(flag(args, '-b'), '8080');
  t.equal(flag(args, '-o'), '5432');
  t.equal(flag(args, '-d'), '15090,15021,15020', "the proxy's own ports stay excluded inbound");
});

t.test('an invalid traffic annotation refuses the pod, naming it', async (t) => {
  const { answer } = await admit(t, pod({ 'traffic.sidecar.istio.io/excludeOutboundIPRanges': '10.0.0.300/8' }));
  t.equal(answer.response.allowed, false);
  t.equal(answer.response.patch, undefined);
  t.match(answer.response.status?.message, /traffic\.sidecar\.istio\.io\/excludeOutboundIPRanges="10\.0\.0\.300\/8"/);
});

t.test('proxy resources, image and log level', async (t) => {
  const { result } = await admit(t, pod({
    'sidecar.istio.io/proxyCPU': '250m',
    'sidecar.istio.io/proxyMemory': '96Mi',
    'sidecar.istio.io/proxyCPULimit': '1',
    'sidecar.istio.io/proxyMemoryLimit': '512Mi',
    'sidecar.istio.io/proxyImage': 'registry.example/envoy:custom',
    'sidecar.istio.io/logLevel': 'debug',
  }));
  const proxy = container(result, 'istio-proxy');
  t.same(proxy?.resources, { requests: { cpu: '250m', memory: '96Mi' }, limits: { cpu: '1', memory: '512Mi' } });
  t.equal(proxy?.image, 'registry.example/envoy:custom');
  t.equal(flag(proxy?.args, '--log-level'), 'debug');
});

t.test('HTTP probes are rewritten to the sidecar, originals kept for it', async (t) => {
  const { result } = await admit(t, pod({}, { readinessProbe: { httpGet: { path: '/ready', port: 8080 } } }));
  t.same(container(result, 'shop')?.readinessProbe, { httpGet: { path: '/app-health/shop/readyz', port: 15020 } });
  const env = container(result, 'istio-proxy')?.env?.find((e) => e.name === 'ISTIO_KUBE_APP_PROBERS')?.value;
  t.same(JSON.parse(env ?? 'null'), { '/app-health/shop/readyz': { httpGet: { path: '/ready', port: 8080 } } });
});

t.test('proxy.istio.io/config: hold the app, with a classic sidecar', async (t) => {
  const { result } = await admit(t, pod({
    'proxy.istio.io/config': 'holdApplicationUntilProxyStarts: true\nconcurrency: 4\n',
    'sidecar.istio.io/nativeSidecar': 'false',
  }));
  t.same(result.spec?.containers.map((c) => c.name), ['istio-proxy', 'shop'], 'the proxy starts first');
  const proxy = container(result, 'istio-proxy');
  t.ok(proxy?.lifecycle?.postStart, 'and holds the app until it is ready');
  t.equal(flag(proxy?.args, '--concurrency'), '4');
});

t.test('native sidecar by default, after istio-init and before app init containers', async (t) => {
  const { result } = await admit(t, pod({}, {}, { app: 'shop' }));
  t.same(result.spec?.initContainers?.map((c) => [c.name, c.restartPolicy]), [['istio-init', undefined], ['istio-proxy', 'Always']]);
});

t.test('Prometheus merge: the scrape target moves to the sidecar', async (t) => {
  const { result } = await admit(t, pod({ 'prometheus.io/scrape': 'true', 'prometheus.io/port': '9090' }));
  const a = result.metadata?.annotations ?? {};
  t.same([a['prometheus.io/port'], a['prometheus.io/path']], ['15020', '/stats/prometheus']);
  const env = container(result, 'istio-proxy')?.env?.find((e) => e.name === 'ISTIO_PROMETHEUS_ANNOTATIONS')?.value;
  t.match(JSON.parse(env ?? '{}'), { scrape: 'true', port: '9090' });
});

t.test('default container annotations and opt-out', async (t) => {
  const { result } = await admit(t, pod({}));
  t.equal(result.metadata?.annotations?.['kubectl.kubernetes.io/default-container'], 'shop');
  t.equal(result.metadata?.annotations?.['kubectl.kubernetes.io/default-logs-container'], 'shop');
  const optOut = await admit(t, pod({}, {}, { app: 'shop', 'sidecar.istio.io/inject': 'false' }));
  t.equal(optOut.answer.response.allowed, true);
  t.equal(optOut.answer.response.patch, undefined, 'the pod label opts out: no patch');
});
