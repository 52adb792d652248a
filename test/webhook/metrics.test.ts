import t, { type Test } from 'tap';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { X509Certificate } from 'node:crypto';
import { TandemMetrics } from '../../common/metrics.js';
import { createCa, issueServingCert, validityFor } from '../../certs/x509.js';
import { loadInjector } from '../../inject/injector.js';
import { startWebhookServer } from '../../webhook/server.js';
import { call, review, SERVICE_DNS } from './helpers.js';

const require = createRequire(import.meta.url);
const fixturePod = require('./fixture-pod.json') as { metadata: { labels: Record<string, string>; annotations: Record<string, string> } };

function clone<T>(v: T): T {
  return JSON.parse(JSON.stringify(v)) as T;
}

/** The value of the one sample whose line starts with `series` (name and labels, exactly). */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

function notAfterSeconds(certPem: string): number {
  return Math.floor(Date.parse(new X509Certificate(certPem).validTo) / 1000);
}

/** A cert dir holding a serving pair for the webhook Service, signed by a fresh CA. */
async function servingCertDir(t: Test): Promise<{ dir: string; ca: Awaited<ReturnType<typeof createCa>> }> {
  const dir = await mkdtemp(join(tmpdir(), 'tandem-metrics-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const ca = await createCa({ validity: validityFor(30) });
  const pair = await issueServingCert({ ca, dnsNames: [SERVICE_DNS], validity: validityFor(2) });
  await writeFile(join(dir, 'tls.crt'), pair.certPem);
  await writeFile(join(dir, 'tls.key'), pair.keyPem);
  return { dir, ca };
}

t.test('admissions are counted by result and deciding rule, timed, and the serving cert expiry is exported', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'tandem-metrics-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const ca = await createCa({ validity: validityFor(30) });
  const names = [SERVICE_DNS];
  const first = await issueServingCert({ ca, dnsNames: names, validity: validityFor(2) });
  await writeFile(join(dir, 'tls.crt'), first.certPem);
  await writeFile(join(dir, 'tls.key'), first.keyPem);

  const metrics = new TandemMetrics({ processMetrics: false });
  const server = await startWebhookServer({ host: '127.0.0.1', port: 0, certDir: dir, injector: await loadInjector(), reloadPollMs: 0, metrics });
  t.teardown(() => server.close());
  const opts = { ca: ca.certPem };
  t.equal(sample(await metrics.render(), 'tandem_cert_expiry_timestamp_seconds{file="tls.crt"}'), notAfterSeconds(first.certPem), 'expiry of the loaded serving cert');

  const optOut = clone(fixturePod);
  optOut.metadata.labels['sidecar.istio.io/inject'] = 'false';
  const invalid = clone(fixturePod);
  invalid.metadata.annotations['traffic.sidecar.istio.io/includeInboundPorts'] = 'bad';
  const requests: [string, string | undefined][] = [
    ['/inject', JSON.stringify(review(fixturePod, { uid: 'a' }))],
    ['/inject', JSON.stringify(review(fixturePod, { uid: 'b' }))], // kept on this second sighting
    ['/inject', JSON.stringify(review(fixturePod, { uid: 'c' }))], // a cache hit counts the same
    ['/inject/cluster/Kubernetes/net/n1', JSON.stringify(review(optOut))],
    ['/inject', JSON.stringify(review(invalid))],
    ['/inject', JSON.stringify(review({ kind: 'Service' }, { kind: { group: '', version: 'v1', kind: 'Service' } }))],
    ['/inject', '{"apiVersion":'],
    ['/inject', JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview' })],
  ];
  for (const [path, body] of requests) await call(server.url, path, body, opts);
  // Neither is an admission.
  t.equal((await call(server.url, '/healthz', undefined, opts)).status, 200);
  t.equal((await call(server.url, '/nope', '{}', opts)).status, 404);
  t.equal(server.admitter.cache?.hits, 1, 'the third identical pod was a cache hit');

  const text = await metrics.render();
  const expected: [string, string, number][] = [
    ['injected', 'policy', 3],
    ['skipped', 'pod-label', 1],
    ['refused', 'invalid-pod', 1],
    ['skipped', 'not-a-pod', 1],
    ['error', 'bad-request', 2],
  ];
  for (const [result, reason, n] of expected) {
    t.equal(sample(text, `tandem_admissions_total{result="${result}",reason="${reason}"}`), n, `${result}/${reason}`);
  }
  const counted = text.split('\n').filter((l) => l.startsWith('tandem_admissions_total{')).length;
  t.equal(counted, expected.length, 'no other series');
  t.equal(sample(text, 'tandem_admission_duration_seconds_count'), requests.length, 'every admission timed');
  const sum = sample(text, 'tandem_admission_duration_seconds_sum')!;
  t.ok(sum > 0 && sum < 60, `durations are in seconds (sum ${sum})`);

  // A rotated certificate updates the gauge.
  const second = await issueServingCert({ ca, dnsNames: names, validity: validityFor(5) });
  await writeFile(join(dir, 'tls.crt'), second.certPem);
  await writeFile(join(dir, 'tls.key'), second.keyPem);
  t.equal(await server.certs.reload(), true, 'the new pair is installed');
  const after = sample(await metrics.render(), 'tandem_cert_expiry_timestamp_seconds{file="tls.crt"}');
  t.equal(after, notAfterSeconds(second.certPem), 'expiry follows the reload');
  t.ok(after! > notAfterSeconds(first.certPem), 'and moved later');
});

t.test('without the option nothing is recorded anywhere', async (t) => {
  const { dir, ca } = await servingCertDir(t);
  const { getMetrics } = await import('../../common/metrics.js');
  const before = await getMetrics().render();
  const server = await startWebhookServer({ host: '127.0.0.1', port: 0, certDir: dir, injector: await loadInjector(), reloadPollMs: 0 });
  t.teardown(() => server.close());
  const res = await call(server.url, '/inject', JSON.stringify(review(fixturePod)), { ca: ca.certPem });
  t.equal(res.status, 200);
  const norm = (s: string) => s.split('\n').filter((l) => l.startsWith('tandem_')).join('\n');
  t.equal(norm(await getMetrics().render()), norm(before), 'the process-wide registry is untouched');
});

t.test('an injector that throws at admission counts as a template render error', async (t) => {
  const { dir, ca } = await servingCertDir(t);
  const metrics = new TandemMetrics({ processMetrics: false });
  const server = await startWebhookServer({
    host: '127.0.0.1', port: 0, certDir: dir, injector: await loadInjector(), reloadPollMs: 0, metrics, cache: false,
    inject: () => {
      throw new Error('template istio-proxy.yaml: spread value is not a list');
    },
  });
  t.teardown(() => server.close());
  t.equal(sample(await metrics.render(), 'tandem_template_render_errors_total'), 0, 'none before');
  const res = await call(server.url, '/inject', JSON.stringify(review(fixturePod)), { ca: ca.certPem });
  t.equal((res.json as { response: { allowed: boolean } }).response.allowed, true, 'the pod is let through');
  const text = await metrics.render();
  t.equal(sample(text, 'tandem_template_render_errors_total'), 1);
  t.equal(sample(text, 'tandem_admissions_total{result="error",reason="injector-error"}'), 1);
});
