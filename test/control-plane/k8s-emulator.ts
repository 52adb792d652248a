import http from 'node:http';
import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';

/**
 * EMULATION of the Kubernetes API server's list and watch, for two collections
 * (core/v1 Services, discovery.k8s.io/v1 EndpointSlices). Not a real apiserver: it
 * reproduces the wire behaviour the informers depend on —
 * - list: `{kind: <Kind>List, apiVersion, metadata: {resourceVersion}, items}`;
 * - watch (`?watch=true&resourceVersion=N`): a chunked stream of JSON lines
 *   `{type: ADDED|MODIFIED|DELETED|BOOKMARK|ERROR, object}` replaying every event
 *   after N, then live ones; each object carries its new metadata.resourceVersion;
 * - a resourceVersion older than the compaction point gets the apiserver's
 *   "too old resource version" answer: an ERROR event with a 410 Status, then EOF;
 * - BOOKMARK events carry only `metadata.resourceVersion`;
 * - the server may end a watch at any time (as the apiserver does on timeout);
 * - more collections (custom resources, namespaces) can be added while it runs, as installing a CRD
 *   does; `GET /apis/<group>/<version>` answers discovery (an APIResourceList) for those present.
 * Collections added with `addCollection` also take writes, as the apiserver's REST handlers do:
 * discovery (`GET /api/v1`, `GET /apis/<group>/<version>`: an APIResourceList), namespaced list,
 * item GET, POST (409 AlreadyExists), PUT (409 Conflict on a stale metadata.resourceVersion; status
 * kept when the kind has a status subresource), PUT `/status` (only status taken), DELETE; each
 * write is validated by the collection's `validate` (strict schemas) and streamed to watchers; a
 * virtual kind (`review`, e.g. TokenReview) answers a POST with a computed object and stores nothing.
 * Not emulated: PATCH, field selectors (lists and watches return every object), admission, RBAC.
 */
type Obj = Record<string, any>;

interface Collection {
  kind: string;
  apiVersion: string;
  objects: Map<string, Obj>;
  log: Array<{ rv: number; type: string; object: Obj }>;
  watchers: Set<http.ServerResponse>;
  compactedBelow: number;
  failNext: number | undefined;
  rest?: RestOptions;
}

export interface RestOptions {
  /** plural resource name, e.g. `configmaps` */
  plural: string;
  namespaced: boolean;
  /** the kind has a status subresource (PUT .../status) */
  status?: boolean;
  /** a virtual kind (TokenReview): a POST to the collection is answered with review(body), nothing stored */
  review?: (obj: Obj) => Obj;
  /** a reason to refuse a written object (422 Invalid), e.g. from a strict schema; `old` on updates */
  validate?: (obj: Obj, old?: Obj) => string | undefined;
}

export const SERVICES = '/api/v1/services';
export const SLICES = '/apis/discovery.k8s.io/v1/endpointslices';
export const PODS = '/api/v1/pods';

export class EmulatedApiServer {
  private rv = 1000;
  private readonly server = http.createServer((req, res) => this.handle(req, res));
  readonly requests: Array<{ path: string; watch: boolean; resourceVersion: string | null }> = [];
  /** writes to REST collections, in order, with the status answered */
  readonly writes: Array<{ method: string; path: string; status: number }> = [];
  private readonly collections: Record<string, Collection> = {
    [SERVICES]: { kind: 'Service', apiVersion: 'v1', objects: new Map(), log: [], watchers: new Set(), compactedBelow: 0, failNext: undefined },
    [SLICES]: { kind: 'EndpointSlice', apiVersion: 'discovery.k8s.io/v1', objects: new Map(), log: [], watchers: new Set(), compactedBelow: 0, failNext: undefined },
    [PODS]: { kind: 'Pod', apiVersion: 'v1', objects: new Map(), log: [], watchers: new Set(), compactedBelow: 0, failNext: undefined },
  };

  async start(): Promise<number> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return (this.server.address() as AddressInfo).port;
  }

  async close(): Promise<void> {
    for (const c of Object.values(this.collections)) for (const w of c.watchers) w.destroy();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /**
   * Serves one more collection from now on (a CRD being established): list and watch, cluster-scoped
   * when `scope` is false; with RestOptions it also takes item reads and writes (see the header).
   * Adding a path that exists keeps its objects.
   */
  addCollection(path: string, kind: string, apiVersion: string, scope: boolean | RestOptions = true): void {
    const rest = typeof scope === 'object' ? scope : undefined;
    this.collections[path] ??= { kind, apiVersion, objects: new Map(), log: [], watchers: new Set(), compactedBelow: 0, failNext: undefined };
    if (rest) this.collections[path].rest = rest;
    this.namespaced.set(path, rest ? rest.namespaced : (scope as boolean));
  }

  /** Stops serving a collection (a CRD deleted): its watches are cut, its objects gone. */
  removeCollection(path: string): void {
    const c = this.col(path);
    for (const w of c.watchers) w.destroy();
    delete this.collections[path];
  }

  /** Destroys every open watch connection of a collection mid-stream (a network failure, not a clean end). */
  dropWatches(path: string): void {
    const c = this.col(path);
    for (const w of c.watchers) w.destroy();
    c.watchers.clear();
  }

  private readonly namespaced = new Map<string, boolean>();

  private col(path: string): Collection {
    const c = this.collections[path];
    if (!c) throw new Error(`no collection ${path}`);
    return c;
  }

  /** Creates, updates or deletes an object, as a controller would, and streams the event. */
  apply(path: string, type: 'ADDED' | 'MODIFIED' | 'DELETED', object: Obj): number {
    const c = this.col(path);
    const rv = ++this.rv;
    const stored = { apiVersion: c.apiVersion, kind: c.kind, ...structuredClone(object), metadata: { ...object['metadata'], resourceVersion: String(rv) } };
    const key = `${stored.metadata.namespace}/${stored.metadata.name}`;
    if (type === 'DELETED') c.objects.delete(key);
    else c.objects.set(key, stored);
    c.log.push({ rv, type, object: stored });
    for (const w of c.watchers) w.write(JSON.stringify({ type, object: stored }) + '\n');
    return rv;
  }

  /** Sends a BOOKMARK at the current resourceVersion to every open watch; returns it. */
  bookmark(path: string): number {
    const c = this.col(path);
    const rv = ++this.rv;
    for (const w of c.watchers) w.write(JSON.stringify({ type: 'BOOKMARK', object: { kind: c.kind, apiVersion: c.apiVersion, metadata: { resourceVersion: String(rv) } } }) + '\n');
    return rv;
  }

  /** Ends every open watch of a collection (the apiserver's watch timeout). */
  endWatches(path: string): void {
    const c = this.col(path);
    for (const w of c.watchers) w.end();
    c.watchers.clear();
  }

  /** Forgets history: watches from a resourceVersion older than the current one get 410 Gone. */
  compact(path: string): void {
    this.col(path).compactedBelow = this.rv;
  }

  /** The next watch request on `path` is answered with this HTTP status. */
  failNextWatch(path: string, status: number): void {
    this.col(path).failNext = status;
  }

  openWatches(path: string): number {
    return this.col(path).watchers.size;
  }

  /** The stored object, or undefined. */
  get(path: string, name: string, namespace?: string): Obj | undefined {
    return this.col(path).objects.get(`${namespace}/${name}`);
  }

  private restRoute(pathname: string): { path: string; c: Collection; namespace?: string; name?: string; status: boolean } | undefined {
    for (const [path, c] of Object.entries(this.collections)) {
      if (!c.rest) continue;
      const base = path.slice(0, path.lastIndexOf('/'));
      const re = c.rest.namespaced
        ? new RegExp(`^${base}/namespaces/([^/]+)/${c.rest.plural}(?:/([^/]+))?(/status)?$`)
        : new RegExp(`^${base}/${c.rest.plural}/([^/]+)(/status)?$`);
      const m = re.exec(pathname);
      if (!m) continue;
      return c.rest.namespaced
        ? { path, c, namespace: m[1], ...(m[2] ? { name: m[2] } : {}), status: m[3] !== undefined }
        : { path, c, name: m[1], status: m[2] !== undefined };
    }
    return undefined;
  }

  /** Discovery (`/api/v1`, `/apis/<group>/<version>`): an APIResourceList of the collections under it, or undefined when none. */
  private discovery(pathname: string): Obj | undefined {
    const prefix = `${pathname}/`;
    const under = Object.entries(this.collections).filter(([p]) => p.startsWith(prefix) && !p.slice(prefix.length).includes('/'));
    if (under.length === 0) return undefined;
    return {
      kind: 'APIResourceList', apiVersion: 'v1', groupVersion: pathname.replace(/^\/apis?\//, ''),
      resources: under.flatMap(([p, c]) => {
        if (!c.rest) return [{ name: p.slice(prefix.length), singularName: '', namespaced: this.namespaced.get(p) ?? true, kind: c.kind, verbs: ['get', 'list', 'watch'] }];
        return [
          { name: c.rest.plural, singularName: '', namespaced: c.rest.namespaced, kind: c.kind, verbs: ['create', 'delete', 'get', 'list', 'update', 'watch'] },
          ...(c.rest.status ? [{ name: `${c.rest.plural}/status`, singularName: '', namespaced: c.rest.namespaced, kind: c.kind, verbs: ['get', 'update'] }] : []),
        ];
      }),
    };
  }

  private handleRest(req: http.IncomingMessage, res: http.ServerResponse, url: URL): boolean {
    const send = (code: number, body: unknown): void => {
      if (req.method !== 'GET') this.writes.push({ method: req.method ?? '', path: url.pathname, status: code });
      res.writeHead(code, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    };
    const fail = (code: number, reason: string, message: string): void => send(code, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', reason, message, code });
    if (req.method === 'GET') {
      const d = this.discovery(url.pathname);
      if (d) {
        send(200, d);
        return true;
      }
    }
    const virtual = this.collections[url.pathname];
    if (virtual?.rest?.review && req.method === 'POST') {
      let raw = '';
      req.setEncoding('utf8');
      req.on('data', (chunk: string) => (raw += chunk));
      req.on('end', () => {
        try {
          send(201, virtual.rest!.review!(JSON.parse(raw) as Obj));
        } catch {
          fail(400, 'BadRequest', 'the request body is not valid JSON');
        }
      });
      return true;
    }
    const route = this.restRoute(url.pathname);
    if (!route || url.searchParams.get('watch') === 'true') return false;
    const { c, namespace, name } = route;
    const key = `${namespace}/${name}`;
    if (req.method === 'GET' && !name) {
      this.requests.push({ path: url.pathname, watch: false, resourceVersion: null });
      send(200, { kind: `${c.kind}List`, apiVersion: c.apiVersion, metadata: { resourceVersion: String(this.rv) }, items: [...c.objects.values()].filter((o) => o['metadata']?.namespace === namespace) });
      return true;
    }
    if (req.method === 'GET') {
      const o = c.objects.get(key);
      if (o) send(200, o);
      else fail(404, 'NotFound', `${c.rest!.plural} "${name}" not found`);
      return true;
    }
    let raw = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (raw += chunk));
    req.on('end', () => {
      let body: Obj = {};
      if (raw) {
        try {
          body = JSON.parse(raw) as Obj;
        } catch {
          fail(400, 'BadRequest', 'the request body is not valid JSON');
          return;
        }
      }
      const existing = c.objects.get(key);
      if (req.method === 'DELETE') {
        if (!existing) fail(404, 'NotFound', `${c.rest!.plural} "${name}" not found`);
        else {
          this.apply(route.path, 'DELETED', existing);
          send(200, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', details: { name, kind: c.rest!.plural } });
        }
        return;
      }
      const objName = body['metadata']?.name as string | undefined;
      if (req.method === 'POST' && !name) {
        if (!objName) return fail(422, 'Invalid', 'metadata.name: Required value');
        const k = `${namespace}/${objName}`;
        if (c.objects.has(k)) return fail(409, 'AlreadyExists', `${c.rest!.plural} "${objName}" already exists`);
        const created = { ...body, metadata: { ...body['metadata'], ...(namespace ? { namespace } : {}), uid: randomUUID(), creationTimestamp: new Date().toISOString().replace(/\.\d+Z$/, 'Z') } };
        const problem = c.rest!.validate?.(created);
        if (problem) return fail(422, 'Invalid', problem);
        this.apply(route.path, 'ADDED', created);
        send(201, c.objects.get(k));
        return;
      }
      if (req.method !== 'PUT' || !name) return fail(405, 'MethodNotAllowed', `${req.method} is not supported by this emulation`);
      if (!existing) return fail(404, 'NotFound', `${c.rest!.plural} "${name}" not found`);
      if (objName !== name) return fail(400, 'BadRequest', 'the name of the object does not match the name on the URL');
      const wanted = body['metadata']?.resourceVersion as string | undefined;
      if (wanted && wanted !== existing['metadata']?.resourceVersion) return fail(409, 'Conflict', `Operation cannot be fulfilled on ${c.rest!.plural} "${name}": the object has been modified; please apply your changes to the latest version and try again`);
      if (route.status && !c.rest!.status) return fail(404, 'NotFound', `${c.rest!.plural} has no status subresource`);
      // The status subresource takes only status; the main resource keeps the stored status.
      const updated = route.status
        ? { ...existing, status: body['status'] }
        : { ...body, metadata: { ...body['metadata'], uid: existing['metadata']?.uid, creationTimestamp: existing['metadata']?.creationTimestamp }, ...(c.rest!.status ? { status: existing['status'] } : {}) };
      if (updated['status'] === undefined) delete updated['status'];
      const problem = c.rest!.validate?.(updated, existing);
      if (problem) return fail(422, 'Invalid', problem);
      this.apply(route.path, 'MODIFIED', updated);
      send(200, c.objects.get(key));
    });
    return true;
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://x');
    if (this.handleRest(req, res, url)) return;
    const c = this.collections[url.pathname];
    const watch = url.searchParams.get('watch') === 'true';
    const resourceVersion = url.searchParams.get('resourceVersion');
    this.requests.push({ path: url.pathname, watch, resourceVersion });
    const discovered = !c && req.method === 'GET' && /^\/apis\/[^/]+\/[^/]+$/.test(url.pathname) ? this.discovery(url.pathname) : undefined;
    if (discovered) {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(discovered));
      return;
    }
    if (!c || req.method !== 'GET') {
      res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', code: 404, reason: 'NotFound' }));
      return;
    }
    if (!watch) {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ kind: `${c.kind}List`, apiVersion: c.apiVersion, metadata: { resourceVersion: String(this.rv) }, items: [...c.objects.values()] }));
      return;
    }
    if (c.failNext !== undefined) {
      const status = c.failNext;
      c.failNext = undefined;
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', code: status }));
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
    res.flushHeaders(); // the apiserver answers a watch at once, events follow
    const from = Number(resourceVersion ?? '0');
    if (from < c.compactedBelow) {
      const status = { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: `too old resource version: ${from} (${c.compactedBelow})`, reason: 'Expired', code: 410 };
      res.end(JSON.stringify({ type: 'ERROR', object: status }) + '\n');
      return;
    }
    for (const e of c.log) if (e.rv > from) res.write(JSON.stringify({ type: e.type, object: e.object }) + '\n');
    c.watchers.add(res);
    res.on('close', () => c.watchers.delete(res));
  }
}

/** A kubeconfig for the emulator on `port` (plain HTTP, no credentials): what every emulated-apiserver test connects with. */
export function emulatorKubeConfig(port: number): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'emulated', server: `http://127.0.0.1:${port}`, skipTLSVerify: true }],
    users: [{ name: 'u' }],
    contexts: [{ name: 'c', cluster: 'emulated', user: 'u' }],
    currentContext: 'c',
  });
  return kc;
}
