import { createHash } from 'node:crypto';
import protobuf from 'protobufjs';
import { encodeProtoJson } from '../proto/json.js';
import { TYPE_PREFIX } from '../proto/root.js';
import type { RegistrySnapshot, Service } from '../registry/types.js';
import { viewKey, type ProxyInfo } from './proxy.js';
import {
  apiListener,
  apiRouteConfig,
  inboundClusters,
  inboundListener,
  isHttp,
  loadAssignment,
  outboundListener,
  passthroughClusters,
  serviceCluster,
  sidecarRouteConfigs,
  type Json,
  type TranslateOptions,
} from './translate.js';

/**
 * Encoded resources, one immutable generation per registry change. A resource
 * whose bytes did not change keeps its object identity across generations, so
 * "did anything this proxy sees change?" is an identity comparison, and a
 * resource is encoded once per version no matter how many proxies receive it.
 */

export type XdsType = 'cluster' | 'endpoint' | 'listener' | 'route';

/** Make-before-break: clusters, then their endpoints, then listeners, then routes. */
export const PUSH_ORDER: readonly XdsType[] = ['cluster', 'endpoint', 'listener', 'route'];

export const MESSAGE_TYPES: Record<XdsType, string> = {
  cluster: 'envoy.config.cluster.v3.Cluster',
  endpoint: 'envoy.config.endpoint.v3.ClusterLoadAssignment',
  listener: 'envoy.config.listener.v3.Listener',
  route: 'envoy.config.route.v3.RouteConfiguration',
};

const BY_URL = new Map<string, XdsType>(Object.entries(MESSAGE_TYPES).map(([k, v]) => [TYPE_PREFIX + v, k as XdsType]));

export function typeOfUrl(url: string): XdsType | undefined {
  return BY_URL.get(url);
}

export function urlOfType(t: XdsType): string {
  return TYPE_PREFIX + MESSAGE_TYPES[t];
}

export interface Resource {
  readonly type: XdsType;
  readonly name: string;
  /** the resource message itself */
  readonly value: Uint8Array;
  /** the resource wrapped in google.protobuf.Any, ready to embed in a response */
  readonly any: Uint8Array;
  /** per-resource version for the incremental protocol: a hash of the encoded resource */
  readonly version: string;
}

export type ResourceSet = Record<XdsType, Map<string, Resource>>;

function emptySet(): ResourceSet {
  return { cluster: new Map(), endpoint: new Map(), listener: new Map(), route: new Map() };
}

function nameOf(type: XdsType, json: Json): string {
  return String(type === 'endpoint' ? json['cluster_name'] : json['name']);
}

function encodeAnyBytes(type: XdsType, value: Uint8Array): Uint8Array {
  const w = protobuf.Writer.create();
  w.uint32((1 << 3) | 2).string(urlOfType(type));
  w.uint32((2 << 3) | 2).bytes(value);
  return w.finish();
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.compare(a, b) === 0;
}

/** Encodes (strictly, see proto/json.ts); reuses `prev` when the bytes are identical. */
function makeResource(type: XdsType, json: Json, prev: Resource | undefined): Resource {
  return resourceOfBytes(type, nameOf(type, json), encodeProtoJson(MESSAGE_TYPES[type], json), prev);
}

function resourceOfBytes(type: XdsType, name: string, value: Uint8Array, prev: Resource | undefined): Resource {
  if (prev && prev.name === name && sameBytes(prev.value, value)) return prev;
  // A content hash, not a counter: a client that reconnects to a restarted control
  // plane with initial_resource_versions must not match a different resource by chance.
  const version = createHash('sha256').update(value).digest('base64url').slice(0, 16);
  return { type, name, value, any: encodeAnyBytes(type, value), version };
}

const ROUTE_CONFIG = MESSAGE_TYPES.route;
const VIRTUAL_HOST = 'envoy.config.route.v3.VirtualHost';
const VIRTUAL_HOSTS_TAG = (2 << 3) | 2; // RouteConfiguration.virtual_hosts

/**
 * Encoded virtual hosts by their JSON. A sidecar route configuration differs between
 * namespaces only in the virtual hosts of that namespace's own services (short
 * names), so the other virtual hosts are encoded once and shared by every namespace
 * and, while they do not change, by every generation.
 */
export class VirtualHostCache {
  private entries = new Map<string, Uint8Array>();
  private used = new Map<string, Uint8Array>();

  encode(vhost: Json): Uint8Array {
    const key = JSON.stringify(vhost);
    let bytes = this.used.get(key) ?? this.entries.get(key);
    if (!bytes) bytes = encodeProtoJson(VIRTUAL_HOST, vhost);
    this.used.set(key, bytes);
    return bytes;
  }

  /** Starts a new generation: entries not used since the last call are dropped at the next one. */
  rotate(): void {
    this.entries = this.used;
    this.used = new Map();
  }
}

/**
 * A RouteConfiguration from its JSON, its virtual hosts encoded through `cache`.
 * Each part goes through the strict encoder; the bytes are the configuration
 * without virtual hosts followed by the virtual hosts (protobuf fields may come in
 * any order; repeated ones keep theirs).
 */
export function encodeRouteConfig(json: Json, cache: VirtualHostCache): Uint8Array {
  const vhosts = (json['virtual_hosts'] as Json[] | undefined) ?? [];
  const parts: Uint8Array[] = [encodeProtoJson(ROUTE_CONFIG, { ...json, virtual_hosts: [] })];
  for (const vh of vhosts) {
    const bytes = cache.encode(vh);
    parts.push(protobuf.Writer.create().uint32(VIRTUAL_HOSTS_TAG).uint32(bytes.length).finish(), bytes);
  }
  return Buffer.concat(parts);
}

interface ServiceResources {
  list: Resource[];
}

function serviceJson(s: Service, o: TranslateOptions): Array<[XdsType, Json]> {
  const out: Array<[XdsType, Json]> = [];
  for (const p of s.ports) {
    out.push(['cluster', serviceCluster(s, p, o)], ['endpoint', loadAssignment(s, p, o)]);
    if (isHttp(p)) out.push(['listener', apiListener(s, p, o)], ['route', apiRouteConfig(s, p, o)]);
  }
  return out;
}

/** The part of the registry the per-proxy listeners and routes depend on (not HTTP endpoints). */
function structureKey(services: readonly Service[]): string {
  return JSON.stringify(
    services.map((s) => [
      s.name,
      s.namespace,
      s.addresses,
      s.ports.map((p) => [p.name, p.port, p.protocol, isHttp(p) ? [] : p.endpoints.map((e) => e.address)]),
    ]),
  );
}

/**
 * What a proxy's set of `type` depends on besides the generation, given how views
 * are made: clusters and listeners on the app ports (inbound parts; the rest is
 * global or the same for all), routes on the namespace (short names), endpoints on
 * nothing. Proxies with equal keys get equal sets, and so share responses.
 */
export function scopeKey(type: XdsType, proxy: Pick<ProxyInfo, 'namespace' | 'appPorts'>): string {
  switch (type) {
    case 'cluster':
    case 'listener':
      return proxy.appPorts.join(',');
    case 'route':
      return proxy.namespace;
    case 'endpoint':
      return '';
  }
}

interface InboundParts {
  clusters: Map<string, Resource>;
  listener: Resource;
}

// The inbound clusters and listener depend on the app ports only, never on the registry:
// encoded once per port set for the life of the process (bounded: cleared when large).
const inboundCache = new Map<string, InboundParts>();
const INBOUND_CACHE_MAX = 4096;

function inboundParts(appPorts: readonly number[]): InboundParts {
  const key = appPorts.join(',');
  const hit = inboundCache.get(key);
  if (hit) return hit;
  const clusters = new Map<string, Resource>();
  for (const c of inboundClusters(appPorts)) {
    const r = makeResource('cluster', c, undefined);
    clusters.set(r.name, r);
  }
  const parts = { clusters, listener: makeResource('listener', inboundListener(appPorts), undefined) };
  if (inboundCache.size >= INBOUND_CACHE_MAX) inboundCache.clear();
  inboundCache.set(key, parts);
  return parts;
}

export class Generation {
  private readonly views = new Map<string, ResourceSet>();
  private readonly routes = new Map<string, Map<string, Resource>>();

  constructor(
    readonly version: string,
    readonly snapshot: RegistrySnapshot,
    /** resources every proxy may name: service clusters and endpoints, passthrough, gRPC API listeners and routes */
    readonly global: ResourceSet,
    readonly structure: string,
    /** the sidecars' outbound capture listener: the same for every namespace, so encoded once per generation */
    readonly outbound: Resource,
    private readonly options: TranslateOptions,
    private readonly vhosts: VirtualHostCache,
    private previous: Generation | undefined,
  ) {}

  /**
   * Per-proxy resources (capture listeners, inbound clusters, sidecar route
   * configurations), cached per view. The parts are shared between views: the
   * outbound listener per generation, route configurations per namespace, inbound
   * parts per app-port set.
   */
  view(proxy: Pick<ProxyInfo, 'namespace' | 'appPorts'>): ResourceSet {
    const key = viewKey(proxy);
    const hit = this.views.get(key);
    if (hit) return hit;
    const inbound = inboundParts(proxy.appPorts);
    const set: ResourceSet = {
      cluster: inbound.clusters,
      endpoint: new Map(),
      listener: new Map([[this.outbound.name, this.outbound], [inbound.listener.name, inbound.listener]]),
      route: this.namespaceRoutes(proxy.namespace),
    };
    this.views.set(key, set);
    return set;
  }

  /** The sidecar route configurations as seen from `namespace` (short names differ per namespace). */
  private namespaceRoutes(namespace: string): Map<string, Resource> {
    const hit = this.routes.get(namespace);
    if (hit) return hit;
    const prev = this.previous?.peekRoutes(namespace);
    let routes: Map<string, Resource>;
    if (prev && this.previous?.structure === this.structure) {
      routes = prev;
    } else {
      routes = new Map();
      for (const json of sidecarRouteConfigs(this.snapshot.services, namespace, this.options)) {
        const name = nameOf('route', json);
        const r = resourceOfBytes('route', name, encodeRouteConfig(json, this.vhosts), prev?.get(name));
        routes.set(r.name, r);
      }
      if (prev && sameMembers(prev, routes)) routes = prev;
    }
    this.routes.set(namespace, routes);
    return routes;
  }

  private peekRoutes(namespace: string): Map<string, Resource> | undefined {
    return this.routes.get(namespace);
  }

  /** Drops the link to the previous generation once every view has been rebuilt or is no longer needed. */
  forgetPrevious(): void {
    this.previous = undefined;
  }
}

/** Whether two sets hold the same resource objects under the same names. */
export function sameMembers(a: ReadonlyMap<string, Resource>, b: ReadonlyMap<string, Resource>): boolean {
  if (a === b) return true;
  if (a.size !== b.size) return false;
  for (const [k, v] of a) if (b.get(k) !== v) return false;
  return true;
}

/** Builds generations from registry snapshots, re-encoding only services that changed. */
export class ResourceBuilder {
  private version = 0;
  private memo = new Map<string, ServiceResources>();
  private current: Generation | undefined;
  private readonly vhosts = new VirtualHostCache();

  constructor(private readonly options: TranslateOptions) {}

  build(snapshot: RegistrySnapshot): Generation {
    const prev = this.current;
    const nextMemo = new Map<string, ServiceResources>();
    const global = emptySet();
    const put = (r: Resource): void => {
      // the first definition of a name wins; names embed namespace/name/port, so clashes mean a broken registry
      if (!global[r.type].has(r.name)) global[r.type].set(r.name, r);
    };
    for (const s of snapshot.services) {
      const key = JSON.stringify(s);
      let entry = this.memo.get(key) ?? nextMemo.get(key);
      if (!entry) {
        entry = {
          list: serviceJson(s, this.options).map(([type, json]) => makeResource(type, json, prev?.global[type].get(nameOf(type, json)))),
        };
      }
      nextMemo.set(key, entry);
      entry.list.forEach(put);
    }
    for (const c of passthroughClusters()) put(makeResource('cluster', c, prev?.global.cluster.get(nameOf('cluster', c))));
    this.memo = nextMemo;
    this.version += 1;
    prev?.forgetPrevious();
    const structure = structureKey(snapshot.services);
    // Encoded here rather than on the first sidecar's request: every sidecar needs it.
    const same = prev !== undefined && prev.structure === structure;
    const outbound = same ? prev.outbound : makeResource('listener', outboundListener(snapshot.services, this.options), prev?.outbound);
    if (!same) {
      // The virtual hosts every namespace shares (all but its own services'): encoded
      // here, once, so that the first sidecar of each namespace encodes only its own.
      this.vhosts.rotate();
      for (const json of sidecarRouteConfigs(snapshot.services, '', this.options)) for (const vh of (json['virtual_hosts'] as Json[] | undefined) ?? []) this.vhosts.encode(vh);
    }
    this.current = new Generation(String(this.version), snapshot, global, structure, outbound, this.options, this.vhosts, prev);
    return this.current;
  }
}
