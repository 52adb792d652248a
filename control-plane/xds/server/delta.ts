import protobuf from 'protobufjs';
import { DELTA_DISCOVERY_RESPONSE as RESPONSE, lengthDelimitedKey as key, RESOURCE } from '../../proto/wire.js';
import type { Generation } from '../cache/generation.js';
import { PUSH_ORDER, typeOfUrl, urlOfType, type Resource } from '../cache/resource.js';
import { subscription } from '../cache/subscription.js';
import type { ProxyInfo } from '../proxy.js';
import type { XdsType } from '../translate/common.js';
import { AdsStream, nackDetail, recordNackOf, recordSent, type StreamTypeState } from './stream.js';

/**
 * One incremental ADS stream (DeltaAggregatedResources). Per type it tracks the
 * subscription and the version of every resource the client holds; responses
 * carry only resources that are new or changed for the client, and
 * `removed_resources` for those it holds or asked for that do not exist.
 * Subscription changes apply whatever the nonce (they are deltas); a NACK puts
 * the client's holdings back to what it last ACKed.
 */

type Json = Record<string, unknown>;

interface TypeState extends StreamTypeState {
  wildcard: boolean;
  names: Set<string>;
  /** name -> resource version the client holds, as far as we know */
  known: Map<string, string>;
  acked: Map<string, string>;
}

const W = (o: unknown): string[] => (Array.isArray(o) ? o.map(String) : []);

export class DeltaStream extends AdsStream<TypeState> {
  protected readonly protocol = 'delta';
  private nonces = 0;

  protected opened(proxy: ProxyInfo): void {
    this.ctx.log.info({ proxy: proxy.id, namespace: proxy.namespace }, 'delta xDS stream opened');
  }

  onRequest(req: Json): void {
    const proxy = this.accept(req);
    if (!proxy) return;
    const type = typeOfUrl(typeof req['type_url'] === 'string' ? req['type_url'] : '');
    if (!type) return;
    const subscribe = W(req['resource_names_subscribe']);
    const unsubscribe = W(req['resource_names_unsubscribe']);
    const nonce = typeof req['response_nonce'] === 'string' ? req['response_nonce'] : '';
    let st = this.states.get(type);
    const first = st === undefined;
    if (!st) {
      const initial = new Map(Object.entries((req['initial_resource_versions'] as Record<string, string> | undefined) ?? {}));
      st = {
        wildcard: subscribe.length === 0 || subscribe.includes('*'),
        names: new Set(),
        sub: subscription(false, []),
        known: initial,
        acked: new Map(initial),
        nonce: '',
        ackedNonce: '',
        history: [],
        sentVersion: '',
        ackedVersion: '',
        acks: 0,
        nacks: 0,
      };
      this.states.set(type, st);
    } else if (nonce !== '') {
      const err = nackDetail(req);
      if (err) {
        recordNackOf(st, nonce, String(err['message'] ?? ''));
        st.known = new Map(st.acked);
        this.ctx.recordNack(type);
        this.ctx.log.warn({ proxy: proxy.id, type: urlOfType(type), nonce, error_detail: err['message'] }, 'delta xDS NACK: the proxy keeps its last good configuration');
      } else if (nonce === st.nonce) {
        st.acks += 1;
        st.ackedNonce = nonce;
        st.acked = new Map(st.known);
        st.ackedVersion = st.sentVersion;
      }
    }
    for (const n of subscribe) if (n !== '*') st.names.add(n);
    if (subscribe.includes('*')) st.wildcard = true;
    for (const n of unsubscribe) {
      if (n === '*') st.wildcard = false;
      st.names.delete(n);
      st.known.delete(n);
    }
    if (first || subscribe.length > 0 || unsubscribe.length > 0) st.sub = subscription(st.wildcard, st.names);
    if (first || subscribe.length > 0) this.push(type, this.ctx.generation(), first ? 'all' : new Set(subscribe));
  }

  onGeneration(gen: Generation): void {
    if (this.closed || !this.proxy) return;
    for (const type of PUSH_ORDER) if (this.states.has(type)) this.push(type, gen, undefined);
  }

  /**
   * Sends what the client lacks. `asked` lists names just subscribed (or 'all' on the
   * first request): those that do not exist are reported as removed, once.
   */
  private push(type: XdsType, gen: Generation, asked: Set<string> | 'all' | undefined): void {
    const st = this.states.get(type);
    if (!st || !this.proxy) return;
    const want = this.ctx.resolve(gen, this.proxy, type, st.sub);
    const changed: Resource[] = [];
    for (const r of want.values()) if (st.known.get(r.name) !== r.version) changed.push(r);
    const removed: string[] = [];
    for (const name of st.known.keys()) if (!want.has(name)) removed.push(name);
    if (asked && asked !== 'all') for (const n of asked) if (n !== '*' && !want.has(n) && !st.known.has(n)) removed.push(n);
    if (changed.length === 0 && removed.length === 0 && asked !== 'all') return;
    const nonce = String(++this.nonces);
    const w = protobuf.Writer.create();
    w.uint32(key(RESPONSE.system_version_info)).string(gen.version);
    for (const r of changed) {
      const res = protobuf.Writer.create();
      res.uint32(key(RESOURCE.version)).string(r.version);
      res.uint32(key(RESOURCE.resource)).bytes(r.any);
      res.uint32(key(RESOURCE.name)).string(r.name);
      w.uint32(key(RESPONSE.resources)).bytes(res.finish());
    }
    w.uint32(key(RESPONSE.type_url)).string(urlOfType(type));
    w.uint32(key(RESPONSE.nonce)).string(nonce);
    for (const n of removed) w.uint32(key(RESPONSE.removed_resources)).string(n);
    for (const r of changed) st.known.set(r.name, r.version);
    for (const n of removed) st.known.delete(n);
    recordSent(st, { version: gen.version, nonce, resources: changed.length, removed: removed.length });
    this.ctx.recordPush(type);
    this.send(Buffer.from(w.finish()));
  }
}
