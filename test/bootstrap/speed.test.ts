import t from 'tap';
import fc from 'fast-check';
import { renderBootstrap, type PrometheusScrape } from '../../bootstrap/sidecar.js';
import { loadInjector, sidecarBootstrap, type Injector } from '../../inject/injector.js';
import type { AppProber, AppProbers } from '../../inject/probes.js';

/**
 * The injector memoises the bootstrap per everything but the pod's labels and puts each pod's
 * labels into the memoised text. Whatever the labels, ports, probes and scrape target, the
 * result must be the text a fresh rendering gives, byte for byte.
 */

function direct(inj: Injector, labels: Record<string, string>, appPorts: number[], probers: AppProbers, prometheusEnv: string | undefined): string {
  const c = inj.config;
  return JSON.stringify(
    renderBootstrap({
      podName: '$(POD_NAME)',
      podNamespace: '$(POD_NAMESPACE)',
      podIp: '$(INSTANCE_IP)',
      serviceAccount: '$(SERVICE_ACCOUNT)',
      xdsAddress: c.xdsAddress,
      clusterId: c.clusterId,
      meshId: c.meshId,
      labels,
      appPorts,
      ...(Object.keys(probers).length > 0 ? { appProbes: probers as Record<string, unknown> } : {}),
      ...(prometheusEnv ? { prometheusScrape: JSON.parse(prometheusEnv) as PrometheusScrape } : {}),
    }),
  );
}

// What the memo cuts around, and what JSON escapes: pod data that looks like it must not confuse it.
const SENTINELISH = ['\u0000tandem-bootstrap-labels\u0000', '\\u0000tandem-bootstrap-labels\\u0000', '{"app":"', '"}', '"cluster":"', '.$(POD_NAMESPACE)'];
const text = fc.oneof(
  fc.string({ maxLength: 8 }),
  fc.string({ unit: 'binary', maxLength: 6 }),
  fc.constantFrom('', 'web', 'reviews-v1', '\ud800', '\udc00x', 'a"b\\c', '</script>', '\u2028', ...SENTINELISH),
);
const labelKey = fc.oneof(fc.constantFrom('app', 'app.kubernetes.io/name', 'version', 'pod-template-hash', '0', '10', 'a/b'), text);
const labels = fc.dictionary(labelKey, text, { maxKeys: 6 });
// A few shapes, so that generated cases share the memo and differ only in their labels.
const appPorts = fc.oneof(fc.constantFrom<number[]>([], [8080], [9090, 8080, 8080]), fc.array(fc.integer({ min: 1, max: 65535 }), { maxLength: 4 }));
const port = fc.oneof(fc.constantFrom(8080, 9000), fc.integer({ min: 1, max: 65535 }));
const prober: fc.Arbitrary<AppProber> = fc.oneof(
  fc.record(
    {
      httpGet: fc.record(
        { path: fc.oneof(fc.constantFrom('/ready', 'healthz'), text), port, host: text, scheme: fc.constantFrom('HTTP', 'HTTPS', 'https'), httpHeaders: fc.array(fc.record({ name: text, value: text }), { maxLength: 2 }) },
        { requiredKeys: ['port'] },
      ),
      timeoutSeconds: fc.integer({ min: 1, max: 10 }),
    },
    { requiredKeys: ['httpGet'] },
  ),
  fc.record({ tcpSocket: fc.record({ port }), timeoutSeconds: fc.integer({ min: 1, max: 10 }) }, { requiredKeys: ['tcpSocket'] }),
  fc.record({ grpc: fc.record({ port, service: text }, { requiredKeys: ['port'] }) }),
);
const probeKey = fc.tuple(fc.constantFrom('app', 'side', 'x'), fc.constantFrom('livez', 'readyz', 'startupz')).map(([c, k]) => `/app-health/${c}/${k}`);
const probers = fc.oneof(fc.constant<AppProbers>({}), fc.constant<AppProbers>({ '/app-health/app/readyz': { httpGet: { path: '/ready', port: 8080 } } }), fc.dictionary(probeKey, prober, { maxKeys: 3 }));
const prometheusEnv = fc.oneof(
  fc.constant(undefined),
  fc.constant('{"scrape":"true","path":"/metrics","port":"9100"}'),
  fc
    .record({ scrape: fc.constantFrom('', 'true'), path: text, port: fc.oneof(text, port.map(String)), targets: fc.array(fc.record({ port: port.map(String), path: text }), { maxLength: 2 }) }, { requiredKeys: ['scrape'] })
    .map((s) => JSON.stringify(s)),
);

t.test('the memoised bootstrap with the pod labels put back is the rendered bootstrap, byte for byte', async (t) => {
  const injectors = [await loadInjector(), await loadInjector({ config: { xdsAddress: 'xds.example:15012', clusterId: 'east', meshId: 'm"1', proxy: { logLevel: 'debug' } } })];
  fc.assert(
    fc.property(fc.constantFrom(...injectors), labels, appPorts, probers, prometheusEnv, (inj, l, ports, p, prom) => {
      // Twice: a miss fills the memo, the second call is served from it.
      const first = sidecarBootstrap(inj, l, ports, p, prom);
      const second = sidecarBootstrap(inj, l, ports, p, prom);
      const want = direct(inj, l, ports, p, prom);
      return first === want && second === want;
    }),
    { numRuns: 2000 },
  );
});

t.test('labels that JSON or the cut could trip on', async (t) => {
  const inj = await loadInjector();
  const cases: Array<[string, Record<string, string>]> = [
    ['no labels: the service account names the workload', {}],
    ['app.kubernetes.io/name without app', { 'app.kubernetes.io/name': 'shop' }],
    ['app wins over app.kubernetes.io/name', { 'app.kubernetes.io/name': 'shop', app: 'web' }],
    ['an empty app label', { app: '' }],
    ['the sentinel as a label value', { app: '\u0000tandem-bootstrap-labels\u0000', x: '\u0000tandem-bootstrap-labels\u0000' }],
    ['lone surrogates and quotes', { app: '\ud800"', '\udc00': '\\' }],
    ['integer-like keys come first', { b: '1', 10: 'ten', 2: 'two', app: 'x' }],
    ['an own __proto__ key', JSON.parse('{"__proto__":"p","app":"web"}') as Record<string, string>],
    ['an app label that is not a string (left to the renderer)', { app: 5 as unknown as string, version: 'v1' }],
  ];
  const probersWithSentinel: AppProbers = { '/app-health/app/readyz': { httpGet: { path: '/\u0000tandem-bootstrap-labels\u0000', port: 8080 } } };
  for (const [what, l] of cases) {
    t.equal(sidecarBootstrap(inj, l, [8080], {}), direct(inj, l, [8080], {}, undefined), what);
    t.equal(sidecarBootstrap(inj, l, [8080], probersWithSentinel), direct(inj, l, [8080], probersWithSentinel, undefined), `${what}, a probe path holding the sentinel`);
  }
  const out = JSON.parse(sidecarBootstrap(inj, { app: 'web', version: 'v1' }, [8080], {})) as { node: { cluster: string; metadata: { LABELS: unknown } } };
  t.equal(out.node.cluster, 'web.$(POD_NAMESPACE)', 'checked by hand: the app label names the cluster');
  t.same(out.node.metadata.LABELS, { app: 'web', version: 'v1' }, 'checked by hand: the labels are node metadata');
});
