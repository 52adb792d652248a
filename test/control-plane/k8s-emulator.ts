import http from 'node:http';
import type { AddressInfo } from 'node:net';

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
}

export const SERVICES = '/api/v1/services';
export const SLICES = '/apis/discovery.k8s.io/v1/endpointslices';

export class EmulatedApiServer {
  private rv = 1000;
  private readonly server = http.createServer((req, res) => this.handle(req, res));
  readonly requests: Array<{ path: string; watch: boolean; resourceVersion: string | null }> = [];
  private readonly collections: Record<string, Collection> = {
    [SERVICES]: { kind: 'Service', apiVersion: 'v1', objects: new Map(), log: [], watchers: new Set(), compactedBelow: 0, failNext: undefined },
    [SLICES]: { kind: 'EndpointSlice', apiVersion: 'discovery.k8s.io/v1', objects: new Map(), log: [], watchers: new Set(), compactedBelow: 0, failNext: undefined },
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

  /** Serves one more collection from now on (a CRD being established); cluster-scoped when `namespaced` is false. */
  addCollection(path: string, kind: string, apiVersion: string, namespaced = true): void {
    this.collections[path] ??= { kind, apiVersion, objects: new Map(), log: [], watchers: new Set(), compactedBelow: 0, failNext: undefined };
    this.namespaced.set(path, namespaced);
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

  /** Discovery for `/apis/<group>/<version>`: the collections under it, or undefined when none. */
  private discovery(groupVersion: string): object | undefined {
    const prefix = `/apis/${groupVersion}/`;
    const resources = Object.entries(this.collections)
      .filter(([p]) => p.startsWith(prefix) && !p.slice(prefix.length).includes('/'))
      .map(([p, c]) => ({ name: p.slice(prefix.length), singularName: '', namespaced: this.namespaced.get(p) ?? true, kind: c.kind, verbs: ['get', 'list', 'watch'] }));
    return resources.length === 0 ? undefined : { kind: 'APIResourceList', apiVersion: 'v1', groupVersion, resources };
  }

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

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://x');
    const c = this.collections[url.pathname];
    const watch = url.searchParams.get('watch') === 'true';
    const resourceVersion = url.searchParams.get('resourceVersion');
    this.requests.push({ path: url.pathname, watch, resourceVersion });
    const discovered = !c && req.method === 'GET' && /^\/apis\/[^/]+\/[^/]+$/.test(url.pathname) ? this.discovery(url.pathname.slice('/apis/'.length)) : undefined;
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
