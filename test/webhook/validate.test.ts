import t from 'tap';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { ensureCerts } from '../../certs/ensure.js';
import { loadInjector } from '../../inject/injector.js';
import { startWebhookServer, type WebhookServer } from '../../webhook/server.js';
import { call } from './helpers.js';

/**
 * `POST /validate` over real HTTPS with a generated CA, called as the apiserver calls the
 * ValidatingWebhookConfiguration `tandem-validator`: AdmissionReview v1 and v1beta1 in, the same
 * apiVersion and uid out; invalid Istio objects denied with the field named, valid ones allowed.
 * The expected messages below were written from Istio's rules (weights sum to 100, DNS-1123 subset
 * names, port range, Sidecar egress host form, CUSTOM unsupported here, PeerAuthentication's enum,
 * strict unknown fields), not copied from output.
 */

interface Answer {
  apiVersion: string;
  kind: string;
  response: { uid: string; allowed: boolean; status?: { code: number; message: string }; warnings?: string[] };
}

let server: WebhookServer;
let ca: string;
let dir: string;
const logs: Record<string, unknown>[] = [];

t.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tandem-validate-'));
  await ensureCerts({ dir });
  ca = await readFile(join(dir, 'ca.crt'), 'utf8');
  server = await startWebhookServer({
    host: '127.0.0.1',
    port: 0,
    certDir: dir,
    injector: await loadInjector(),
    log: pino({}, { write: (line: string) => void logs.push(JSON.parse(line) as Record<string, unknown>) }),
  });
});
t.teardown(async () => {
  await server.close();
  await rm(dir, { recursive: true, force: true });
});

function configReview(object: Record<string, unknown>, apiVersion: string, operation = 'CREATE', uid = 'u-1'): string {
  const [group, version] = String(object.apiVersion).split('/');
  const kind = String(object.kind);
  const meta = object.metadata as { name: string; namespace: string };
  return JSON.stringify({
    apiVersion,
    kind: 'AdmissionReview',
    request: {
      uid,
      kind: { group, version, kind },
      resource: { group, version, resource: `${kind.toLowerCase()}s` },
      namespace: meta.namespace,
      name: meta.name,
      operation,
      userInfo: { username: 'alice' },
      object,
    },
  });
}

const vs = (spec: Record<string, unknown>) => ({ apiVersion: 'networking.istio.io/v1', kind: 'VirtualService', metadata: { name: 'reviews', namespace: 'demo' }, spec });

const invalid: Array<{ name: string; object: Record<string, unknown>; message: RegExp }> = [
  {
    name: 'VirtualService weights that do not sum to 100',
    object: vs({ hosts: ['reviews'], http: [{ route: [{ destination: { host: 'reviews', subset: 'v1' }, weight: 30 }, { destination: { host: 'reviews', subset: 'v2' }, weight: 30 }] }] }),
    message: /^VirtualService demo\/reviews is invalid: spec\.http\[0\]\.route: .*60.*100/,
  },
  {
    name: 'VirtualService with a misspelt field (strict field validation)',
    object: vs({ hosts: ['reviews'], htp: [] }),
    message: /spec\.htp: unknown field/,
  },
  {
    name: 'DestinationRule subset name that is no DNS-1123 label',
    object: { apiVersion: 'networking.istio.io/v1', kind: 'DestinationRule', metadata: { name: 'dr', namespace: 'demo' }, spec: { host: 'reviews', subsets: [{ name: 'V1!', labels: { version: 'v1' } }] } },
    message: /spec\.subsets\[0\]\.name: .*DNS-1123/,
  },
  {
    name: 'ServiceEntry port out of range',
    object: { apiVersion: 'networking.istio.io/v1beta1', kind: 'ServiceEntry', metadata: { name: 'se', namespace: 'demo' }, spec: { hosts: ['api.example.com'], ports: [{ number: 70000, name: 'http', protocol: 'HTTP' }], resolution: 'DNS' } },
    message: /spec\.ports\[0\]\.number: .*70000/,
  },
  {
    name: 'Sidecar egress host without a namespace',
    object: { apiVersion: 'networking.istio.io/v1alpha3', kind: 'Sidecar', metadata: { name: 'sc', namespace: 'demo' }, spec: { egress: [{ hosts: ['nope'] }] } },
    message: /spec\.egress\[0\]\.hosts\[0\]: .*namespace\/dnsName/,
  },
  {
    name: 'AuthorizationPolicy CUSTOM action',
    object: { apiVersion: 'security.istio.io/v1', kind: 'AuthorizationPolicy', metadata: { name: 'ap', namespace: 'demo' }, spec: { action: 'CUSTOM', rules: [{}] } },
    message: /spec\.action: CUSTOM .*not supported/,
  },
  {
    name: 'PeerAuthentication mode outside the enum',
    object: { apiVersion: 'security.istio.io/v1beta1', kind: 'PeerAuthentication', metadata: { name: 'pa', namespace: 'demo' }, spec: { mtls: { mode: 'SOMETIMES' } } },
    message: /spec\.mtls\.mode: .*"SOMETIMES"/,
  },
];

for (const apiVersion of ['admission.k8s.io/v1', 'admission.k8s.io/v1beta1']) {
  t.test(`${apiVersion}: invalid Istio objects are denied with the field named`, async (t) => {
    for (const [i, c] of invalid.entries()) {
      const uid = `bad-${i}`;
      const res = await call(server.url, '/validate', configReview(c.object, apiVersion, 'CREATE', uid), { ca });
      t.equal(res.status, 200, `${c.name}: HTTP 200`);
      const a = res.json as Answer;
      t.equal(a.apiVersion, apiVersion, `${c.name}: apiVersion echoed`);
      t.equal(a.kind, 'AdmissionReview');
      t.equal(a.response.uid, uid, `${c.name}: uid echoed`);
      t.equal(a.response.allowed, false, `${c.name}: denied`);
      t.equal(a.response.status?.code, 400);
      t.match(a.response.status?.message ?? '', c.message, `${c.name}: message names the field`);
    }
  });

  t.test(`${apiVersion}: valid objects are allowed, also on UPDATE; DELETE is never refused`, async (t) => {
    const good = vs({ hosts: ['reviews'], http: [{ route: [{ destination: { host: 'reviews', subset: 'v1' }, weight: 80 }, { destination: { host: 'reviews', subset: 'v2' }, weight: 20 }] }] });
    for (const op of ['CREATE', 'UPDATE']) {
      const res = await call(server.url, '/validate', configReview(good, apiVersion, op, `ok-${op}`), { ca });
      const a = res.json as Answer;
      t.equal(a.response.allowed, true, `${op} allowed`);
      t.equal(a.response.uid, `ok-${op}`);
      t.notOk(a.response.status, 'no status on success');
    }
    const del = await call(server.url, '/validate', configReview(invalid[0]!.object, apiVersion, 'DELETE', 'del'), { ca });
    t.equal((del.json as Answer).response.allowed, true, 'DELETE of even an invalid object is allowed');
  });
}

t.test('a body that is no AdmissionReview is refused with 400 and one line; the server keeps serving', async (t) => {
  for (const body of ['{', '[]', JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview' })]) {
    const res = await call(server.url, '/validate', body, { ca });
    t.equal(res.status, 400, `400 for ${body}`);
    t.notMatch(res.body, /\n./, 'one line');
  }
  const after = await call(server.url, '/validate', configReview(invalid[1]!.object, 'admission.k8s.io/v1'), { ca });
  t.equal((after.json as Answer).response.allowed, false, 'still validating afterwards');
});

t.test('every validation is logged with its object and decision', async (t) => {
  const lines = logs.filter((l) => l.msg === 'validation');
  t.ok(lines.length >= 2 * invalid.length, 'one line per validation');
  t.ok(lines.some((l) => l.kind === 'AuthorizationPolicy' && l.allowed === false && /CUSTOM/.test(String(l.reason))), 'the denial reason is in the log');
});
