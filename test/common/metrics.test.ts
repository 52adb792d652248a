import t from 'tap';
import { UserError } from '../../common/errors.js';
import { getMetrics, MAX_LABEL_VALUES, TandemMetrics, xdsTypeLabel } from '../../common/metrics.js';
import { ReadinessGate, startMonitoringServer, type Readiness } from '../../common/monitoring.js';

/** One sample of the Prometheus text format, parsed here independently of prom-client. */
interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

const SAMPLE_LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

function parseExposition(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = SAMPLE_LINE.exec(line);
    if (!m) throw new Error(`not a Prometheus sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(LABEL)) labels[l[1] as string] = l[2] as string;
    samples.push({ name: m[1] as string, labels, value: Number(m[3]) });
  }
  return samples;
}

function value(samples: Sample[], name: string, labels: Record<string, string> = {}): number | undefined {
  const hit = samples.find(
    (s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v),
  );
  return hit?.value;
}

async function scrape(port: number): Promise<{ samples: Sample[]; contentType: string | null; text: string }> {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`);
  const text = await res.text();
  if (res.status !== 200) throw new Error(`/metrics answered ${res.status}: ${text}`);
  return { samples: parseExposition(text), contentType: res.headers.get('content-type'), text };
}

t.test('metrics scraped over HTTP count what was recorded', async (t) => {
  const metrics = getMetrics();
  t.equal(getMetrics(), metrics, 'one process-wide registry');
  const server = await startMonitoringServer({ host: '127.0.0.1', port: 0, ready: () => true });
  t.teardown(() => server.close());

  const before = await scrape(server.port);
  t.match(before.contentType, /^text\/plain; version=0\.0\.4/, 'Prometheus text format');
  t.match(before.text, /# TYPE tandem_admissions_total counter/);
  t.match(before.text, /# TYPE tandem_admission_duration_seconds histogram/);
  t.equal(value(before.samples, 'tandem_admissions_total'), undefined, 'no admission series before any admission');
  t.equal(value(before.samples, 'tandem_admission_duration_seconds_count'), 0);
  t.equal(value(before.samples, 'tandem_template_render_errors_total'), 0);
  t.equal(value(before.samples, 'tandem_xds_connected_streams'), 0);
  // prom-client's default process metrics are exported too.
  t.type(value(before.samples, 'process_cpu_user_seconds_total'), 'number');
  t.type(value(before.samples, 'nodejs_heap_size_total_bytes'), 'number');

  // A test admission: 2 ms, injected because of the namespace label.
  metrics.recordAdmission('injected', 'namespace-label', 0.002);
  metrics.recordAdmission('skipped', 'host-network');
  // A test push: CDS by type URL, EDS by short name, and a NACK of the EDS.
  metrics.xdsStreamOpened();
  metrics.xdsStreamOpened();
  metrics.xdsStreamClosed();
  metrics.recordXdsPush('type.googleapis.com/envoy.config.cluster.v3.Cluster');
  metrics.recordXdsPush('eds', 3);
  metrics.recordXdsNack('type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment');
  metrics.recordTemplateRenderError();
  // 2030-01-01T00:00:00Z is 1893456000 s after the epoch (60 years, 15 of them leap).
  metrics.setCertExpiry('/etc/tandem/certs/tls.crt', new Date(Date.UTC(2030, 0, 1)));

  const after = (await scrape(server.port)).samples;
  t.equal(value(after, 'tandem_admissions_total', { result: 'injected', reason: 'namespace-label' }), 1);
  t.equal(value(after, 'tandem_admissions_total', { result: 'skipped', reason: 'host-network' }), 1);
  t.equal(value(after, 'tandem_admission_duration_seconds_count'), 1, 'only the timed admission is observed');
  t.equal(value(after, 'tandem_admission_duration_seconds_bucket', { le: '0.001' }), 0, '2 ms is above the 1 ms bucket');
  t.equal(value(after, 'tandem_admission_duration_seconds_bucket', { le: '0.0025' }), 1, '2 ms is within 2.5 ms');
  t.equal(value(after, 'tandem_admission_duration_seconds_bucket', { le: '+Inf' }), 1);
  t.equal(value(after, 'tandem_admission_duration_seconds_sum'), 0.002);
  t.equal(value(after, 'tandem_xds_connected_streams'), 1, 'two opened, one closed');
  t.equal(value(after, 'tandem_xds_pushes_total', { type: 'cds' }), 1);
  t.equal(value(after, 'tandem_xds_pushes_total', { type: 'eds' }), 3);
  t.equal(value(after, 'tandem_xds_nacks_total', { type: 'eds' }), 1);
  t.equal(value(after, 'tandem_xds_nacks_total', { type: 'cds' }), undefined, 'no NACK recorded for CDS');
  t.equal(value(after, 'tandem_template_render_errors_total'), 1);
  t.equal(value(after, 'tandem_cert_expiry_timestamp_seconds', { file: '/etc/tandem/certs/tls.crt' }), 1893456000);

  // Counting goes on: a second injected admission through the timer helper.
  const done = metrics.startAdmission();
  const seconds = done('injected', 'namespace-label');
  t.ok(seconds >= 0 && seconds < 1, 'the timer measures a short interval');
  metrics.setXdsConnectedStreams(5);
  metrics.recordXdsPush('type.googleapis.com/envoy.config.cluster.v3.Cluster');
  metrics.setCertExpiry('/etc/tandem/certs/tls.crt', Date.UTC(2031, 0, 1));
  metrics.clearCertExpiry('/gone.crt');

  const later = (await scrape(server.port)).samples;
  t.equal(value(later, 'tandem_admissions_total', { result: 'injected', reason: 'namespace-label' }), 2);
  t.equal(value(later, 'tandem_admission_duration_seconds_count'), 2);
  t.equal(value(later, 'tandem_xds_connected_streams'), 5);
  t.equal(value(later, 'tandem_xds_pushes_total', { type: 'cds' }), 2);
  // 2030 is not a leap year: 365 days later.
  t.equal(value(later, 'tandem_cert_expiry_timestamp_seconds', { file: '/etc/tandem/certs/tls.crt' }), 1893456000 + 365 * 86400);
});

t.test('label values are bounded', async (t) => {
  const metrics = new TandemMetrics({ processMetrics: false });
  const extra = 10;
  for (let i = 0; i < MAX_LABEL_VALUES + extra; i++) metrics.recordAdmission('error', `reason-${i}`);
  for (let i = 0; i < MAX_LABEL_VALUES + extra; i++) metrics.recordXdsPush(`type-${i}`);
  metrics.recordAdmission('error', 'reason-0');
  metrics.observeAdmissionDuration(0.3);
  const samples = parseExposition(await metrics.render());
  const admissions = samples.filter((s) => s.name === 'tandem_admissions_total');
  t.equal(admissions.length, MAX_LABEL_VALUES + 1, 'the first reasons and one overflow series');
  t.equal(value(samples, 'tandem_admissions_total', { reason: 'other' }), extra);
  t.equal(value(samples, 'tandem_admissions_total', { reason: 'reason-0' }), 2, 'a known reason keeps counting');
  t.equal(samples.filter((s) => s.name === 'tandem_xds_pushes_total').length, MAX_LABEL_VALUES + 1);
  t.equal(value(samples, 'tandem_admission_duration_seconds_count'), 1, 'only the observed duration, not the counted admissions');
  t.equal(value(samples, 'tandem_admission_duration_seconds_bucket', { le: '0.25' }), 0);
  t.equal(value(samples, 'tandem_admission_duration_seconds_bucket', { le: '0.5' }), 1);
  t.equal(value(samples, 'process_cpu_user_seconds_total'), undefined, 'process metrics can be left out');
  t.not(metrics.registry, getMetrics().registry, 'separate instances have separate registries');
});

t.test('xDS type labels', async (t) => {
  t.equal(xdsTypeLabel('type.googleapis.com/envoy.config.listener.v3.Listener'), 'lds');
  t.equal(xdsTypeLabel('type.googleapis.com/envoy.config.route.v3.RouteConfiguration'), 'rds');
  t.equal(xdsTypeLabel('type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret'), 'sds');
  t.equal(xdsTypeLabel('cds'), 'cds');
  t.equal(xdsTypeLabel('type.googleapis.com/example.Unknown'), 'example.Unknown');
});

t.test('health and readiness over HTTP', async (t) => {
  let state: Readiness | 'throw' = false;
  const server = await startMonitoringServer({
    host: '127.0.0.1',
    port: 0,
    metrics: new TandemMetrics({ processMetrics: false }),
    ready: () => {
      if (state === 'throw') throw new Error('registry\nexploded');
      return state;
    },
  });
  t.teardown(() => server.close());
  const get = async (path: string, method = 'GET'): Promise<{ status: number; body: string }> => {
    const res = await fetch(`http://127.0.0.1:${server.port}${path}`, { method });
    return { status: res.status, body: await res.text() };
  };

  t.same(await get('/healthz'), { status: 200, body: 'ok\n' }, 'live while not ready');
  t.same(await get('/readyz'), { status: 503, body: 'not ready: starting\n' });
  state = { ready: false, reason: 'waiting for certificates' };
  t.same(await get('/readyz'), { status: 503, body: 'not ready: waiting for certificates\n' });
  state = true;
  t.same(await get('/readyz'), { status: 200, body: 'ok\n' }, 'flips to ready');
  t.same(await get('/readyz?verbose=1'), { status: 200, body: 'ok\n' }, 'query strings are ignored');
  state = { ready: true };
  t.equal((await get('/readyz')).status, 200);
  state = 'throw';
  t.same(await get('/readyz'), { status: 503, body: 'not ready: registry exploded\n' }, 'a throwing check is not ready, on one line');
  state = { ready: false, reason: 'draining' };
  t.equal((await get('/readyz')).status, 503, 'flips back');

  t.equal((await get('/nope')).status, 404);
  t.equal((await get('/metrics', 'POST')).status, 405);
  t.same(await get('/healthz', 'HEAD'), { status: 200, body: '' });
  t.match((await get('/metrics')).body, /tandem_admissions_total/, 'the given registry is served');
});

t.test('close stops serving and is idempotent', async (t) => {
  const server = await startMonitoringServer({ host: '127.0.0.1', port: 0, ready: () => true });
  t.equal((await fetch(`http://127.0.0.1:${server.port}/healthz`)).status, 200);
  await Promise.all([server.close(), server.close()]);
  await t.rejects(fetch(`http://127.0.0.1:${server.port}/healthz`), 'nothing listens after close');
});

t.test('a port already in use is a user error', async (t) => {
  const first = await startMonitoringServer({ host: '127.0.0.1', port: 0, ready: () => true });
  t.teardown(() => first.close());
  const err = await startMonitoringServer({ host: '127.0.0.1', port: first.port, ready: () => true }).then(
    () => undefined,
    (e: unknown) => e,
  );
  t.type(err, UserError, 'exit 1, not an internal error');
  t.match((err as Error).message, /monitoring port 127\.0\.0\.1:\d+ is already in use/);
});

t.test('a readiness gate drives /readyz', async (t) => {
  const gate = new ReadinessGate(['certificates', 'registry']);
  const server = await startMonitoringServer({ host: '127.0.0.1', port: 0, ready: gate.check, metrics: new TandemMetrics({ processMetrics: false }) });
  t.teardown(() => server.close());
  const readyz = async (): Promise<string> => {
    const res = await fetch(`http://127.0.0.1:${server.port}/readyz`);
    return `${res.status} ${await res.text()}`;
  };
  t.equal(await readyz(), '503 not ready: waiting for certificates, registry\n');
  gate.set('certificates', true);
  t.equal(await readyz(), '503 not ready: waiting for registry\n');
  gate.set('registry', true);
  t.equal(await readyz(), '200 ok\n', 'ready once every condition holds');
  gate.set('certificates', false);
  t.equal(await readyz(), '503 not ready: waiting for certificates\n', 'a condition can be lost again');
  gate.set('certificates', true);
  gate.drain();
  t.equal(await readyz(), '503 not ready: shutting down\n', 'draining wins over met conditions');
  t.same(new ReadinessGate([]).check(), { ready: true }, 'no conditions: ready at once');
});
