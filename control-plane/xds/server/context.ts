import protobuf from 'protobufjs';
import type { LRUCache } from 'lru-cache';
import type { Logger } from '../../../common/logger.js';
import { memo } from '../../memo.js';
import { DISCOVERY_RESPONSE, lengthDelimitedKey } from '../../proto/wire.js';
import type { Generation, PartCounts } from '../cache/generation.js';
import { scopeKey } from '../cache/keys.js';
import { sameMembers, urlOfType, type Resource, type ResourceMap } from '../cache/resource.js';
import type { Subscription } from '../cache/subscription.js';
import type { ProxyInfo } from '../proxy.js';
import type { XdsType } from '../translate/common.js';

/** Where the control plane reports pushes, NACKs and streams (common/metrics.ts' TandemMetrics fits). */
export interface XdsMetrics {
  xdsStreamOpened(): void;
  xdsStreamClosed(): void;
  recordXdsPush(type: string, count?: number): void;
  recordXdsNack(type: string): void;
}

export interface TypeStatus {
  wildcard: boolean;
  names: string[];
  sentVersion: string;
  ackedVersion: string;
  /** names of the resources the proxy last ACKed: its last good configuration */
  acked: string[];
  acks: number;
  nacks: number;
  lastError?: string;
  /** the nonce of the last response sent for this type ('' before the first) */
  sentNonce?: string;
  /** the nonce of the last response the proxy ACKed */
  ackedNonce?: string;
  /** the nonce and version of the last response the proxy NACKed (its error is lastError) */
  nackedNonce?: string;
  nackedVersion?: string;
  /** the last responses sent, oldest first (at most SENT_HISTORY): version, nonce, number of resources */
  sent?: SentResponse[];
}

export interface SentResponse {
  version: string;
  nonce: string;
  resources: number;
  /** the names the response removed (incremental protocol only) */
  removed?: number;
}

export interface ProxyStatus {
  id: string;
  protocol: 'sotw' | 'delta';
  types: Partial<Record<XdsType, TypeStatus>>;
}

export interface XdsStats {
  streams: number;
  pushes: number;
  nacks: number;
  generations: number;
  version: string;
  /** the current generation's per-proxy parts so far: translated, or carried over unchanged from the previous generation */
  parts: PartCounts;
}


/** A whole DiscoveryResponse, nonce included, shared by every stream it is sent to. */
export interface SharedResponse {
  readonly bytes: Buffer;
  readonly nonce: string;
  readonly type: XdsType;
  readonly version: string;
}

/**
 * What streams need from the server: the current generation, and resolution, diffing
 * and response encoding, each memoised so that N proxies with the same view and
 * subscription cost one computation, not N. Resolved sets are immutable and shared:
 * streams compare them by identity and never modify them.
 */
export class AdsContext {
  private current: Generation;
  // generation -> "type|view" -> subscription key -> set; the subscription key is the
  // interned string of a Subscription (thousands of EDS names), never concatenated
  // (bounded per generation: scopes and subscriptions come from the proxies' requests)
  private readonly resolved = new WeakMap<Generation, LRUCache<string, LRUCache<string, ResourceMap>>>();
  private readonly diffs = new WeakMap<ResourceMap, WeakMap<ResourceMap, ResourceMap>>();
  private readonly sames = new WeakMap<ResourceMap, WeakMap<ResourceMap, boolean>>();
  private readonly responses = new WeakMap<ResourceMap, SharedResponse>();
  private responseCount = 0;
  readonly stats: XdsStats;

  constructor(
    initial: Generation,
    readonly log: Logger,
    private readonly metrics: XdsMetrics | undefined,
  ) {
    this.current = initial;
    this.stats = { streams: 0, pushes: 0, nacks: 0, generations: 1, version: initial.version, parts: initial.counts };
  }

  generation(): Generation {
    return this.current;
  }

  setGeneration(gen: Generation): void {
    this.current = gen;
    this.stats.generations += 1;
    this.stats.version = gen.version;
    this.stats.parts = gen.counts;
  }

  /** The resources of `type` a proxy receives: its whole view for a wildcard subscription, plus the named ones that exist. */
  resolve(gen: Generation, proxy: ProxyInfo, type: XdsType, sub: Subscription): ResourceMap {
    let perGen = this.resolved.get(gen);
    if (!perGen) {
      perGen = memo();
      this.resolved.set(gen, perGen);
    }
    const outer = `${type}|${scopeKey(type, proxy, gen.mode)}`;
    let perView = perGen.get(outer);
    if (!perView) {
      perView = memo();
      perGen.set(outer, perView);
    }
    const hit = perView.get(sub.key);
    if (hit) return hit;
    const view = gen.view(proxy);
    // Listeners: a sidecar's wildcard gets its capture listeners; gRPC API listeners are only ever named.
    const set = new Map<string, Resource>(sub.wildcard ? (type === 'listener' ? view.listener : [...gen.global[type], ...view[type]]) : []);
    for (const n of sub.names) {
      const r = view[type].get(n) ?? gen.global[type].get(n);
      if (r) set.set(n, r);
    }
    perView.set(sub.key, set);
    return set;
  }

  /** The members of `next` that are new or different in `prev`. */
  changed(prev: ResourceMap, next: ResourceMap): ResourceMap {
    let inner = this.diffs.get(prev);
    const hit = inner?.get(next);
    if (hit) return hit;
    const out = new Map<string, Resource>();
    for (const [name, r] of next) if (prev.get(name) !== r) out.set(name, r);
    if (!inner) {
      inner = new WeakMap();
      this.diffs.set(prev, inner);
    }
    inner.set(next, out);
    return out;
  }

  same(a: ResourceMap, b: ResourceMap): boolean {
    if (a === b) return true;
    if (a.size !== b.size) return false;
    let inner = this.sames.get(a);
    const hit = inner?.get(b);
    if (hit !== undefined) return hit;
    const eq = sameMembers(a, b);
    if (!inner) {
      inner = new WeakMap();
      this.sames.set(a, inner);
    }
    inner.set(b, eq);
    return eq;
  }

  /** version_info, resources and type_url of a DiscoveryResponse; the stream appends its nonce. */
  responseBody(gen: Generation, type: XdsType, resources: ResourceMap): Buffer {
    const w = protobuf.Writer.create();
    w.uint32(lengthDelimitedKey(DISCOVERY_RESPONSE.version_info)).string(gen.version);
    for (const r of resources.values()) w.uint32(lengthDelimitedKey(DISCOVERY_RESPONSE.resources)).bytes(r.any);
    w.uint32(lengthDelimitedKey(DISCOVERY_RESPONSE.type_url)).string(urlOfType(type));
    return Buffer.from(w.finish());
  }

  /**
   * The complete DiscoveryResponse for `resources`, encoded once and shared by every
   * stream that sends this set. The nonce is per response, not per stream: it is
   * unique within any one stream except when a stream is sent the very same
   * response (same bytes, same version) again, where telling the two copies apart
   * does not matter.
   */
  response(gen: Generation, type: XdsType, resources: ResourceMap): SharedResponse {
    const hit = this.responses.get(resources);
    if (hit && hit.type === type && hit.version === gen.version) return hit;
    const body = this.responseBody(gen, type, resources);
    const nonce = String(++this.responseCount);
    const w = protobuf.Writer.create();
    w.uint32(lengthDelimitedKey(DISCOVERY_RESPONSE.nonce)).string(nonce);
    const tail = w.finish();
    const bytes = Buffer.allocUnsafe(body.length + tail.length);
    body.copy(bytes, 0);
    bytes.set(tail, body.length);
    const res = { bytes, nonce, type, version: gen.version };
    this.responses.set(resources, res);
    return res;
  }

  recordPush(type: XdsType): void {
    this.stats.pushes += 1;
    this.metrics?.recordXdsPush(urlOfType(type));
  }

  recordNack(type: XdsType): void {
    this.stats.nacks += 1;
    this.metrics?.recordXdsNack(urlOfType(type));
  }

  streamOpened(): void {
    this.stats.streams += 1;
    this.metrics?.xdsStreamOpened();
  }

  streamClosed(): void {
    this.stats.streams -= 1;
    this.metrics?.xdsStreamClosed();
  }
}
