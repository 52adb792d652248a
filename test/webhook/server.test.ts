import t, { type Test } from 'tap';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import https from 'node:https';
import { pino } from 'pino';
import type { Operation } from 'fast-json-patch';
import { Ajv } from 'ajv';
import { Pod as PodModel } from 'kubernetes-models/v1/Pod';
import { ensureCerts } from '../../certs/ensure.js';
import { loadInjector } from '../../inject/injector.js';
import { startWebhookServer, type WebhookServer } from '../../webhook/server.js';
import { UserError } from '../../common/errors.js';
import { applyJsonPatch, call, review, SERVICE_DNS } from './helpers.js';
import { conformancePath } from '../conformance.js';

const require = createRequire(import.meta.url);
const podSchema = require(conformancePath('k8s-schemas', 'pod-v1.json')) as object;
const fixturePod = require('./fixture-pod.json') as Record<string, unknown>;
const validatePod = new Ajv({ strict: true, allErrors: true, allowUnionTypes: true }).compile(podSchema);

interface AdmissionAnswer {
  apiVersion: string;
  kind: string;
  response: { uid: string; allowed: boolean; patchType?: string; patch?: string; warnings?: string[]; status?: { code: number; message: string } };
}

function clone<T>(v: T): T {
  return JSON.parse(JSON.stringify(v)) as T;
}

function decodePatch(answer: AdmissionAnswer): Operation[] {
  return JSON.parse(Buffer.from(answer.response.patch ?? '', 'base64').toString('utf8')) as Operation[];
}

/** Applies the patch with fast-json-patch (independent of tandem's diff) and fails on any operation error. */
function patched(t: Test, original: unknown, answer: AdmissionAnswer): Record<string, unknown> {
  const doc = clone(original) as Record<string, unknown>;
  t.same(applyJsonPatch(doc, decodePatch(answer)), [], 'every patch operation applies');
  return doc;
}

const logLines: Record<string, unknown>[] = [];
let server: WebhookServer;
let ca: string;
let certDir: string;

t.before(async () => {
  certDir = await mkdtemp(join(tmpdir(), 'tandem-webhook-'));
  await ensureCerts({ dir: certDir });
  ca = await readFile(join(certDir, 'ca.crt'), 'utf8');
  server = await startWebhookServer({
    host: '127.0.0.1',
    port: 0,
    certDir,
    injector: await loadInjector(),
    log: pino({}, { write: (line: string) => void logLines.push(JSON.parse(line) as Record<string, unknown>) }),
  });
});
t.teardown(async () => {
  await server.close();
  await rm(certDir, { recursive: true, force: true });
});

function admissionLogs(): Record<string, unknown>[] {
  return logLines.filter((l) => l.msg === 'admission');
}

for (const apiVersion of ['admission.k8s.io/v1', 'admission.k8s.io/v1beta1']) {
  t.test(`${apiVersion}: a Deployment's pod is injected with a patch an independent RFC 6902 implementation applies`, async (t) => {
    const pod = clone(fixturePod);
    // Pods created by a ReplicaSet reach the webhook without metadata.namespace.
    delete (pod.metadata as Record<string, unknown>).namespace;
    const before = admissionLogs().length;
    const res = await call(server.url, '/inject', JSON.stringify(review(pod, { apiVersion, uid: `uid-${apiVersion}` })), { ca });
    t.equal(res.status, 200, 'HTTP 200');
    const answer = res.json as AdmissionAnswer;
    t.equal(answer.apiVersion, apiVersion, 'answers in the request apiVersion');
    t.equal(answer.kind, 'AdmissionReview');
    t.equal(answer.response.uid, `uid-${apiVersion}`);
    t.equal(answer.response.allowed, true);
    t.equal(answer.response.patchType, 'JSONPatch');
    const ops = decodePatch(answer);
    t.notOk(ops.some((op) => op.path.startsWith('/metadata/namespace')), 'namespace left to the apiserver');

    const result = patched(t, pod, answer) as { metadata: { annotations: Record<string, string>; labels: Record<string, string> }; spec: { containers: { name: string }[]; initContainers?: { name: string }[] } };
    t.ok(validatePod(result), `strict pod schema: ${JSON.stringify(validatePod.errors)}`);
    t.doesNotThrow(() => new PodModel(result as never).validate(), 'kubernetes-models validation');
    const names = [...(result.spec.initContainers ?? []), ...result.spec.containers].map((c) => c.name);
    t.ok(names.includes('istio-init'), `istio-init injected (${names.join(',')})`);
    t.ok(names.includes('istio-proxy'), 'istio-proxy injected');
    // The app container is unchanged except for its HTTP probes, which Istio-style injection
    // redirects through the agent port 15020 (/app-health/<container>/livez|readyz).
    const app = result.spec.containers.find((c) => c.name === 'reviews') as unknown as Record<string, unknown> & { readinessProbe: { httpGet: unknown }; livenessProbe: { httpGet: unknown } };
    const { readinessProbe, livenessProbe, ...rest } = app;
    const { readinessProbe: _r, livenessProbe: _l, ...originalRest } = (pod.spec as { containers: Record<string, unknown>[] }).containers[0]!;
    t.same(rest, originalRest, 'app container otherwise unchanged');
    t.same(readinessProbe.httpGet, { path: '/app-health/reviews/readyz', port: 15020, scheme: 'HTTP' });
    t.same(livenessProbe.httpGet, { path: '/app-health/reviews/livez', port: 15020, scheme: 'HTTP' });
    t.type(result.metadata.annotations['sidecar.istio.io/status'], 'string', 'status annotation');
    t.equal(result.metadata.labels['security.istio.io/tlsMode'], 'istio');

    const logs = admissionLogs().slice(before);
    t.equal(logs.length, 1, 'one log line per admission');
    t.match(logs[0], { namespace: 'bookinfo', pod: 'reviews-v1-7d9c5b8f4-', decision: 'inject', reason: String, durationMs: Number, level: 30 });

    // The apiserver re-invokes webhooks (reinvocationPolicy); injecting an injected pod changes nothing.
    const again = await call(server.url, '/inject', JSON.stringify(review(result, { apiVersion })), { ca });
    const second = again.json as AdmissionAnswer;
    t.equal(second.response.allowed, true);
    const secondOps = second.response.patch ? decodePatch(second) : [];
    t.same(secondOps, [], 'no changes the second time');
  });
}

t.test("Istio's path forms and the health endpoints", async (t) => {
  for (const path of ['/inject/', '/inject/cluster/Kubernetes/net/network1']) {
    const res = await call(server.url, path, JSON.stringify(review(clone(fixturePod))), { ca });
    t.equal(res.status, 200, path);
    t.equal((res.json as AdmissionAnswer).response.patchType, 'JSONPatch', `${path} injects`);
  }
  for (const path of ['/healthz', '/readyz']) {
    const res = await call(server.url, path, undefined, { ca });
    t.equal(res.status, 200, path);
  }
  t.equal((await call(server.url, '/nope', undefined, { ca })).status, 404);
});

t.test('pods the policy skips and non-Pod kinds: allowed without a patch', async (t) => {
  const hostNet = clone(fixturePod);
  (hostNet.spec as Record<string, unknown>).hostNetwork = true;
  const optOut = clone(fixturePod);
  (optOut.metadata as { labels: Record<string, string> }).labels['sidecar.istio.io/inject'] = 'false';
  const system = review(clone(fixturePod), { namespace: 'kube-system' });
  ((system.request as { object: { metadata: Record<string, unknown> } }).object.metadata).namespace = 'kube-system';
  const deployment = { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'reviews' }, spec: {} };
  const update = review(clone(fixturePod));
  (update.request as Record<string, unknown>).operation = 'UPDATE';
  const ephemeral = review(clone(fixturePod));
  Object.assign(ephemeral.request as Record<string, unknown>, { operation: 'UPDATE', subResource: 'ephemeralcontainers' });
  const cases: [string, Record<string, unknown>, string][] = [
    ['UPDATE', update, 'ignore'],
    ['ephemeralcontainers', ephemeral, 'ignore'],
    ['hostNetwork', review(hostNet), 'skip'],
    ['inject=false label', review(optOut), 'skip'],
    ['kube-system', system, 'skip'],
    ['Deployment', review(deployment, { kind: { group: 'apps', version: 'v1', kind: 'Deployment' } }), 'ignore'],
  ];
  for (const [name, body, decision] of cases) {
    const before = admissionLogs().length;
    const res = await call(server.url, '/inject', JSON.stringify(body), { ca });
    t.equal(res.status, 200, name);
    const answer = res.json as AdmissionAnswer;
    t.equal(answer.response.allowed, true, `${name}: allowed`);
    t.equal(answer.response.patch, undefined, `${name}: no patch`);
    t.equal(answer.response.patchType, undefined, `${name}: no patchType`);
    t.match(admissionLogs().slice(before), [{ decision }], `${name}: logged as ${decision}`);
  }
});

t.test('an invalid annotation is refused the way Istio refuses it', async (t) => {
  const pod = clone(fixturePod);
  (pod.metadata as { annotations: Record<string, string> }).annotations['traffic.sidecar.istio.io/includeInboundPorts'] = 'bad';
  const res = await call(server.url, '/inject', JSON.stringify(review(pod, { uid: 'u-bad' })), { ca });
  t.equal(res.status, 200);
  const answer = res.json as AdmissionAnswer;
  t.equal(answer.response.uid, 'u-bad');
  t.equal(answer.response.allowed, false);
  t.equal(answer.response.status?.code, 400);
  t.match(answer.response.status?.message, /includeInboundPorts/);
  t.equal(answer.response.patch, undefined);
});

const badInputs: [string, string | undefined, string | null, RegExp][] = [
  ['not JSON', '{"apiVersion":', 'application/json', /^body is not valid JSON/],
  ['empty body', '', 'application/json', /^empty body/],
  ['text/plain', 'hello', 'text/plain', /^unsupported content-type/],
  ['no content-type', '{}', null, /^unsupported content-type/],
  ['JSON array', '[]', 'application/json', /^invalid AdmissionReview: body must be object/],
  ['no request', JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview' }), 'application/json', /must have required property 'request'/],
  ['no object', JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: { uid: 'x' } }), 'application/json', /body\/request must have required property 'object'/],
  ['object is a string', JSON.stringify(review('pod')), 'application/json', /body\/request\/object must be object/],
  ['uid is a number', JSON.stringify({ ...review({}), request: { uid: 42, object: {} } }), 'application/json', /body\/request\/uid must be string/],
  ['unknown apiVersion', JSON.stringify({ ...review({}), apiVersion: 'admission.k8s.io/v2' }), 'application/json', /body\/apiVersion must be equal to one of the allowed values/],
  ['wrong kind', JSON.stringify({ ...review({}), kind: 'Pod' }), 'application/json', /body\/kind must be equal to constant/],
];

t.test('malformed requests: 400 with a one-line reason, and the server keeps serving', async (t) => {
  for (const [name, body, contentType, reason] of badInputs) {
    const res = await call(server.url, '/inject', body, { ca, contentType, method: 'POST' });
    t.equal(res.status, 400, `${name}: 400`);
    const message = (res.json as { message: string }).message;
    t.match(message, reason, `${name}: ${message}`);
    t.notOk(message.includes('\n'), `${name}: one line`);
  }
  t.equal((await call(server.url, '/healthz', undefined, { ca })).status, 200, 'still healthy');
  const ok = await call(server.url, '/inject', JSON.stringify(review(clone(fixturePod))), { ca });
  t.equal((ok.json as AdmissionAnswer).response.patchType, 'JSONPatch', 'still injecting');
});

t.test('a body over the limit is refused, not buffered forever', async (t) => {
  const res = await call(server.url, '/inject', JSON.stringify(review({ pad: 'x'.repeat(9 * 1024 * 1024) })), { ca });
  t.equal(res.status, 413);
  t.equal((await call(server.url, '/healthz', undefined, { ca })).status, 200);
});

t.test('the apiserver only talks to a certificate that chains to the caBundle and names the Service', async (t) => {
  const otherDir = await mkdtemp(join(tmpdir(), 'tandem-webhook-other-'));
  t.teardown(() => rm(otherDir, { recursive: true, force: true }));
  await ensureCerts({ dir: otherDir });
  const otherCa = await readFile(join(otherDir, 'ca.crt'), 'utf8');
  await t.rejects(call(server.url, '/healthz', undefined, { ca: otherCa }), { code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' });
  await t.rejects(call(server.url, '/healthz', undefined, { ca, servername: 'tandem-webhook.default.svc' }), { code: 'ERR_TLS_CERT_ALTNAME_INVALID' });
  const ok = await call(server.url, '/healthz', undefined, { ca, servername: `${SERVICE_DNS}.cluster.local` });
  t.equal(ok.status, 200);
});

t.test('keep-alive: many admissions on one connection', async (t) => {
  const agent = new https.Agent({ keepAlive: true, maxSockets: 1 });
  t.teardown(() => agent.destroy());
  const body = JSON.stringify(review(clone(fixturePod)));
  const results = await Promise.all(Array.from({ length: 20 }, () => call(server.url, '/inject', body, { ca, agent })));
  t.same(results.map((r) => r.status), Array(20).fill(200));
});

t.test('injector failures: UserError denies, anything else allows unchanged with a warning', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'tandem-webhook-err-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await ensureCerts({ dir });
  const lines: Record<string, unknown>[] = [];
  let mode: 'user' | 'internal' = 'user';
  const s = await startWebhookServer({
    host: '127.0.0.1',
    port: 0,
    certDir: dir,
    injector: await loadInjector(),
    log: pino({}, { write: (l: string) => void lines.push(JSON.parse(l) as Record<string, unknown>) }),
    // This stub answers the same pod differently over time, which a real injector never does.
    cache: false,
    inject: () => {
      if (mode === 'user') throw new UserError('annotation sidecar.istio.io/x: bad value "y"');
      throw new TypeError("Cannot read properties of undefined (reading 'containers')");
    },
  });
  t.teardown(() => s.close());
  const dirCa = await readFile(join(dir, 'ca.crt'), 'utf8');
  const body = JSON.stringify(review(clone(fixturePod), { uid: 'u1' }));

  const denied = (await call(s.url, '/inject', body, { ca: dirCa })).json as AdmissionAnswer;
  t.same(denied.response, { uid: 'u1', allowed: false, status: { code: 400, message: 'annotation sidecar.istio.io/x: bad value "y"', status: 'Failure', reason: 'BadRequest' } });

  mode = 'internal';
  for (const apiVersion of ['admission.k8s.io/v1', 'admission.k8s.io/v1beta1']) {
    const res = await call(s.url, '/inject', JSON.stringify(review(clone(fixturePod), { apiVersion, uid: 'u2' })), { ca: dirCa });
    t.equal(res.status, 200, 'an injector bug never fails the pod creation');
    const answer = res.json as AdmissionAnswer;
    t.equal(answer.apiVersion, apiVersion);
    t.equal(answer.response.allowed, true);
    t.equal(answer.response.patch, undefined);
    t.match(answer.response.warnings, [/internal error: Cannot read properties of undefined/]);
  }
  const errors = lines.filter((l) => l.msg === 'admission' && l.decision === 'error');
  t.equal(errors.length, 2, 'logged');
  t.match(errors[0], { level: 50, err: { type: 'TypeError', stack: /TypeError/ } });
});
