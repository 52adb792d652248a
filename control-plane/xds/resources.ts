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
  const name = nameOf(type, json);
  const value = encodeProtoJson(MESSAGE_TYPES[type], json);
  if (prev && prev.name === name && sameBytes(prev.value, value)) return prev;
  // A content hash, not a counter: a client that reconnects to a restarted control
  // plane with initial_resource_versions must not match a different resource by chance.
  const version = createHash('sha256').update(value).digest('base64url').slice(0, 16);
  return { type, name, value, any: encodeAnyBytes(type, value), version };
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

export class Generation {
  private readonly views = new Map<string, ResourceSet>();

  constructor(
    readonly version: string,
    readonly snapshot: RegistrySnapshot,
    /** resources every proxy may name: service clusters and endpoints, passthrough, gRPC API listeners and routes */
    readonly global: ResourceSet,
    readonly structure: string,
    private readonly options: TranslateOptions,
    private previous: Generation | undefined,
  ) {}

  /** Per-proxy resources (capture listeners, inbound clusters, sidecar route configurations), cached per view. */
  view(proxy: Pick<ProxyInfo, 'namespace' | 'appPorts'>): ResourceSet {
    const key = viewKey(proxy);
    const hit = this.views.get(key);
    if (hit) return hit;
    const prev = this.previous?.peekView(key);
    let set: ResourceSet;
    if (prev && this.previous?.structure === this.structure) {
      set = prev;
    } else {
      set = emptySet();
      const add = (type: XdsType, json: Json): void => {
        const r = makeResource(type, json, prev?.[type].get(nameOf(type, json)));
        set[type].set(r.name, r);
      };
      const services = this.snapshot.services;
      for (const c of inboundClusters(proxy.appPorts)) add('cluster', c);
      add('listener', outboundListener(services, this.options));
      add('listener', inboundListener(proxy.appPorts));
      for (const r of sidecarRouteConfigs(services, proxy.namespace, this.options)) add('route', r);
    }
    this.views.set(key, set);
    return set;
  }

  private peekView(key: string): ResourceSet | undefined {
    return this.views.get(key);
  }

  /** Drops the link to the previous generation once every view has been rebuilt or is no longer needed. */
  forgetPrevious(): void {
    this.previous = undefined;
  }
}

/** Builds generations from registry snapshots, re-encoding only services that changed. */
export class ResourceBuilder {
  private version = 0;
  private memo = new Map<string, ServiceResources>();
  private current: Generation | undefined;

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
    this.current = new Generation(String(this.version), snapshot, global, structureKey(snapshot.services), this.options, prev);
    return this.current;
  }
}
