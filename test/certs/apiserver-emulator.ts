/**
 * EMULATION of the kube-apiserver's REST behaviour for the two resources self-managed certs
 * touch (core/v1 Secrets, admissionregistration.k8s.io/v1 MutatingWebhookConfigurations), and
 * core/v1 Pods, which the CNI plugin reads (GET only in practice; test/init-cni/cni).
 * No real apiserver can run in this environment. What is emulated faithfully: the URL paths,
 * bearer-token auth, the JSON shapes (request bodies are validated against the strict schemas
 * in test/conformance/k8s-schemas, Secret data must be base64), resourceVersion bumps on
 * every write, optimistic concurrency (a replace whose metadata.resourceVersion is stale gets
 * 409 Conflict; a create of an existing name gets 409 AlreadyExists), and metav1.Status error
 * bodies. Not emulated: watches, patches, field managers, admission, RBAC.
 */
import https from 'node:https';
import { createRequire } from 'node:module';
import { randomUUID } from 'node:crypto';
import { Ajv, type ValidateFunction } from 'ajv';
import { KubeConfig } from '@kubernetes/client-node';
import { createCa, issueServingCert, validityFor } from '../../certs/x509.js';
import { conformancePath } from '../conformance.js';
import { validatingWebhookConfigurationSchema } from '../k8s-schemas.js';

const require = createRequire(import.meta.url);
const ajv = new Ajv({ strict: true, allErrors: true, allowUnionTypes: true });
const schemas: Record<string, ValidateFunction> = {
  secrets: ajv.compile(require(conformancePath('k8s-schemas', 'secret-v1.json')) as object),
  mutatingwebhookconfigurations: ajv.compile(require(conformancePath('k8s-schemas', 'mutatingwebhookconfiguration-admissionregistration-v1.json')) as object),
  pods: ajv.compile(require(conformancePath('k8s-schemas', 'pod-v1.json')) as object),
  validatingwebhookconfigurations: ajv.compile(validatingWebhookConfigurationSchema()),
};

/** Namespaced: secrets and pods (pods only for the CNI plugin's read, test/init-cni/cni). */
type Resource = 'secrets' | 'mutatingwebhookconfigurations' | 'validatingwebhookconfigurations' | 'pods';
const NAMESPACED: ReadonlySet<Resource> = new Set<Resource>(['secrets', 'pods']);

type Obj = { metadata?: { name?: string; namespace?: string; resourceVersion?: string; uid?: string; creationTimestamp?: string; [k: string]: unknown }; [k: string]: unknown };

export interface LoggedRequest {
  method: string;
  path: string;
  status: number;
}

export interface Emulator {
  url: string;
  token: string;
  log: LoggedRequest[];
  get(resource: Resource, name: string, namespace?: string): Obj | undefined;
  /** stores an object as if an admin had created it */
  seed(resource: Resource, obj: Obj): void;
  /** the next `count` GETs of this object are answered together, forcing concurrent readers to race */
  holdReads(resource: Resource, name: string, count: number): void;
  /** just before the next write to this object is processed, another client replaces it with fn(stored) */
  beforeNextWrite(resource: Resource, name: string, fn: (stored: Obj) => Obj): void;
  close(): Promise<void>;
}

const ROUTES: { re: RegExp; resource: Resource; group: string; kind: string }[] = [
  { re: /^\/api\/v1\/namespaces\/([^/]+)\/secrets(?:\/([^/]+))?$/, resource: 'secrets', group: '', kind: 'Secret' },
  { re: /^\/api\/v1\/namespaces\/([^/]+)\/pods(?:\/([^/]+))?$/, resource: 'pods', group: '', kind: 'Pod' },
  { re: /^\/apis\/admissionregistration\.k8s\.io\/v1\/mutatingwebhookconfigurations(?:\/([^/]+))?$/, resource: 'mutatingwebhookconfigurations', group: 'admissionregistration.k8s.io', kind: 'MutatingWebhookConfiguration' },
  { re: /^\/apis\/admissionregistration\.k8s\.io\/v1\/validatingwebhookconfigurations(?:\/([^/]+))?$/, resource: 'validatingwebhookconfigurations', group: 'admissionregistration.k8s.io', kind: 'ValidatingWebhookConfiguration' },
];

function status(code: number, reason: string, message: string, details?: Record<string, unknown>): Record<string, unknown> {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, ...(details ? { details } : {}), code };
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

export async function startEmulator(tls: { key: string; cert: string }): Promise<Emulator> {
  const store = new Map<string, Obj>();
  const log: LoggedRequest[] = [];
  const token = randomUUID();
  let rv = 1000;
  const held = new Map<string, { count: number; waiting: (() => void)[] }>();
  const hooks = new Map<string, (stored: Obj) => Obj>();
  const keyOf = (resource: string, name: string, namespace?: string): string => `${resource}/${namespace ?? ''}/${name}`;

  const stamp = (obj: Obj, existing?: Obj): Obj => {
    rv += 1;
    const metadata = { ...obj.metadata, resourceVersion: String(rv), uid: existing?.metadata?.uid ?? randomUUID(), creationTimestamp: existing?.metadata?.creationTimestamp ?? new Date().toISOString().replace(/\.\d+Z$/, 'Z') };
    return { ...obj, metadata };
  };

  const server = https.createServer({ key: tls.key, cert: tls.cert }, (req, res) => {
    let raw = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (raw += c));
    req.on('end', () => {
      void handle(req.method ?? 'GET', new URL(req.url ?? '/', 'https://x').pathname, req.headers.authorization, raw).then(([code, body]) => {
        log.push({ method: req.method ?? '', path: new URL(req.url ?? '/', 'https://x').pathname, status: code });
        res.writeHead(code, { 'content-type': 'application/json' });
        res.end(JSON.stringify(body));
      });
    });
  });

  async function handle(method: string, path: string, auth: string | undefined, raw: string): Promise<[number, unknown]> {
    if (auth !== `Bearer ${token}`) return [401, status(401, 'Unauthorized', 'Unauthorized')];
    const route = ROUTES.map((r) => ({ r, m: r.re.exec(path) })).find((x) => x.m);
    if (!route?.m) return [404, status(404, 'NotFound', 'the server could not find the requested resource')];
    const { resource, group } = route.r;
    const namespace = NAMESPACED.has(resource) ? route.m[1] : undefined;
    const name = NAMESPACED.has(resource) ? route.m[2] : route.m[1];
    const details = (n: string): Record<string, unknown> => ({ name: n, ...(group ? { group } : {}), kind: resource });

    if (method === 'GET' && name) {
      const k = keyOf(resource, name, namespace);
      const h = held.get(k);
      if (h && h.count > 0) {
        h.count -= 1;
        await new Promise<void>((release) => {
          h.waiting.push(release);
          if (h.count === 0) {
            held.delete(k);
            for (const w of h.waiting) w();
          }
        });
      }
      const obj = store.get(k);
      return obj ? [200, obj] : [404, status(404, 'NotFound', `${resource}${group ? `.${group}` : ''} "${name}" not found`, details(name))];
    }
    if (method !== 'POST' && method !== 'PUT') return [405, status(405, 'MethodNotAllowed', `${method} is not supported by this emulation`)];

    let body: Obj;
    try {
      body = JSON.parse(raw) as Obj;
    } catch {
      return [400, status(400, 'BadRequest', 'the request body is not valid JSON')];
    }
    const validate = schemas[resource]!;
    if (!validate(body)) return [400, status(400, 'BadRequest', `invalid ${route.r.kind}: ${ajv.errorsText(validate.errors)}`)];
    if (body.kind !== route.r.kind) return [400, status(400, 'BadRequest', `kind ${String(body.kind)} does not match ${route.r.kind}`)];
    if (resource === 'secrets') {
      for (const [k, v] of Object.entries((body.data as Record<string, string> | undefined) ?? {})) {
        if (!BASE64.test(v)) return [400, status(400, 'BadRequest', `Secret "${body.metadata?.name}" is invalid: data[${k}]: illegal base64 data`)];
      }
    } else {
      for (const w of (body.webhooks as { clientConfig?: { caBundle?: string } }[] | undefined) ?? []) {
        const ca = w.clientConfig?.caBundle;
        if (ca !== undefined && !BASE64.test(ca)) return [400, status(400, 'BadRequest', 'caBundle: illegal base64 data')];
      }
    }
    const objName = body.metadata?.name;
    if (!objName) return [422, status(422, 'Invalid', 'metadata.name: Required value')];

    if (method === 'POST') {
      if (name) return [405, status(405, 'MethodNotAllowed', 'POST to a named resource')];
      const k = keyOf(resource, objName, namespace);
      if (store.has(k)) return [409, status(409, 'AlreadyExists', `${resource} "${objName}" already exists`, details(objName))];
      const created = stamp({ ...body, metadata: { ...body.metadata, ...(namespace ? { namespace } : {}) } });
      store.set(k, created);
      return [201, created];
    }
    if (!name || objName !== name) return [400, status(400, 'BadRequest', 'the name of the object does not match the name on the URL')];
    const k = keyOf(resource, name, namespace);
    const hook = hooks.get(k);
    if (hook && store.has(k)) {
      hooks.delete(k);
      const before = store.get(k)!;
      store.set(k, stamp(hook(structuredClone(before)), before));
    }
    const existing = store.get(k);
    if (!existing) return [404, status(404, 'NotFound', `${resource} "${name}" not found`, details(name))];
    const wanted = body.metadata?.resourceVersion;
    if (wanted && wanted !== existing.metadata?.resourceVersion) {
      return [409, status(409, 'Conflict', `Operation cannot be fulfilled on ${resource}${group ? `.${group}` : ''} "${name}": the object has been modified; please apply your changes to the latest version and try again`, details(name))];
    }
    const updated = stamp(body, existing);
    store.set(k, updated);
    return [200, updated];
  }

  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return {
    url: `https://127.0.0.1:${port}`,
    token,
    log,
    get: (resource, name, namespace) => store.get(keyOf(resource, name, namespace)),
    seed: (resource, obj) => {
      store.set(keyOf(resource, obj.metadata?.name ?? '', obj.metadata?.namespace), stamp(obj));
    },
    holdReads: (resource, name, count) => {
      const [ns, n] = NAMESPACED.has(resource) ? name.split('/') : [undefined, name];
      held.set(keyOf(resource, n ?? name, ns), { count, waiting: [] });
    },
    beforeNextWrite: (resource, name, fn) => {
      const [ns, n] = NAMESPACED.has(resource) ? name.split('/') : [undefined, name];
      hooks.set(keyOf(resource, n ?? name, ns), fn);
    },
    close: () => new Promise((r) => {
      server.closeAllConnections();
      server.close(() => r());
    }),
  };
}

/**
 * The emulator over HTTPS with a fresh CA (serving certificate for localhost and 127.0.0.1), and a
 * kubeconfig that trusts only that CA and carries the emulator's token: what every test needs.
 */
export async function startTlsEmulator(): Promise<{ emu: Emulator; caPem: string; kubeConfig(): KubeConfig }> {
  const ca = await createCa({ validity: validityFor(1) });
  const pair = await issueServingCert({ ca, dnsNames: ['localhost'], ips: ['127.0.0.1'], validity: validityFor(1) });
  const emu = await startEmulator({ key: pair.keyPem, cert: pair.certPem });
  const kubeConfig = (): KubeConfig => {
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'emulated', server: emu.url, caData: Buffer.from(ca.certPem).toString('base64'), skipTLSVerify: false }],
      users: [{ name: 'tandem', token: emu.token }],
      contexts: [{ name: 'emulated', cluster: 'emulated', user: 'tandem' }],
      currentContext: 'emulated',
    });
    return kc;
  };
  return { emu, caPem: ca.certPem, kubeConfig };
}
