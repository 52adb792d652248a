import { RAW_NAMES } from '../../proto/decode.js';
import type { Generation } from '../cache/generation.js';
import { PUSH_ORDER, typeOfUrl, urlOfType, type ResourceMap } from '../cache/resource.js';
import { subscription } from '../cache/subscription.js';
import type { ProxyInfo } from '../proxy.js';
import type { XdsType } from '../translate/common.js';
import { AdsStream, nackDetail, recordNackOf, recordSent, type StreamTypeState } from './stream.js';

/**
 * One state-of-the-world ADS stream (StreamAggregatedResources). Per type it keeps
 * the subscription (wildcard or named), the last response (nonce, version, the
 * resources in it) and the last ACKed response. Rules followed:
 * - a request whose nonce is not the latest one sent for its type is stale and ignored;
 * - error_detail set = NACK: counted and logged, and the proxy is taken to still run
 *   the last ACKed resources (what Envoy does), so later diffs start from there;
 * - first request for a type: respond, even with an empty set; a changed
 *   subscription: respond for CDS/LDS always (so clients learn that named resources
 *   do not exist), for EDS/RDS when there is something the client does not have;
 * - a new generation: respond only for types whose resources (as this proxy sees
 *   them) changed, in the order CDS, EDS, LDS, RDS; CDS and LDS responses hold the
 *   whole state of the world, EDS and RDS responses only what changed (absence is
 *   not deletion for those types, per the xDS protocol).
 */

type Json = Record<string, unknown> & { [RAW_NAMES]?: Uint8Array };

const NOTHING: ResourceMap = new Map();
const NO_NAMES: readonly string[] = [];

interface TypeState extends StreamTypeState {
  /** shared, immutable sets (see AdsContext): replaced, never modified */
  sent: ResourceMap;
  acked: ResourceMap;
  /** resource_names of the last request, as received, and their raw bytes when the decoder kept them */
  lastNames: readonly string[];
  lastRaw?: Uint8Array;
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

const PARTIAL_TYPES: ReadonlySet<XdsType> = new Set(['endpoint', 'route']);

export class SotwStream extends AdsStream<TypeState> {
  protected readonly protocol = 'sotw';

  protected opened(proxy: ProxyInfo): void {
    this.ctx.log.info({ proxy: proxy.id, namespace: proxy.namespace, agent: proxy.userAgent }, 'xDS stream opened');
  }

  onRequest(req: Json): void {
    const proxy = this.accept(req);
    if (!proxy) return;
    const url = typeof req['type_url'] === 'string' ? req['type_url'] : '';
    const type = typeOfUrl(url);
    if (!type) {
      this.ctx.log.debug({ proxy: proxy.id, type: url }, 'ignoring request for an unsupported type');
      return;
    }
    const nonce = typeof req['response_nonce'] === 'string' ? req['response_nonce'] : '';
    let st = this.states.get(type);
    const first = st === undefined;
    if (st && nonce !== st.nonce) return; // stale: a newer response is in flight
    if (!st) {
      st = { sub: subscription(false, []), nonce: '', ackedNonce: '', history: [], sentVersion: '', sent: NOTHING, ackedVersion: '', acked: NOTHING, acks: 0, nacks: 0, lastNames: NO_NAMES };
      this.states.set(type, st);
    } else {
      const err = nackDetail(req);
      if (err) {
        const rejected = st.sentVersion;
        recordNackOf(st, nonce, String(err['message'] ?? ''));
        st.sent = st.acked;
        st.sentVersion = st.ackedVersion;
        this.ctx.recordNack(type);
        this.ctx.log.warn(
          { proxy: proxy.id, type: urlOfType(type), rejectedVersion: rejected, keptVersion: req['version_info'], error_detail: err['message'] },
          'xDS NACK: the proxy keeps its last good configuration',
        );
      } else if (!first) {
        st.acks += 1;
        st.ackedNonce = nonce;
        st.acked = st.sent;
        st.ackedVersion = st.sentVersion;
      }
    }
    // Every ACK repeats the whole subscription (an Envoy's EDS names can be thousands),
    // almost always byte for byte: comparing with the last request's bytes (or list)
    // is far cheaper than decoding and looking up each name.
    const raw = req[RAW_NAMES] instanceof Uint8Array ? req[RAW_NAMES] : undefined;
    const lastRaw = st.lastRaw;
    const lastNames = st.lastNames;
    if (raw) {
      // only the bytes are kept: 100 proxies x thousands of decoded names would be megabytes
      st.lastRaw = raw;
      st.lastNames = NO_NAMES;
      if (!first && lastRaw && Buffer.compare(raw, lastRaw) === 0) return;
    }
    const names = Array.isArray(req['resource_names']) ? (req['resource_names'] as string[]) : NO_NAMES;
    if (!raw) {
      st.lastRaw = undefined;
      st.lastNames = names;
      if (!first && !lastRaw && sameList(names, lastNames)) return;
    }
    const prev = st.sub;
    let star = false;
    let named = 0;
    let differs = false;
    for (const n of names) {
      if (n === '*') star = true;
      else {
        named += 1;
        if (!differs && !prev.names.has(n)) differs = true;
      }
    }
    const wildcard = star || (names.length === 0 && (first || prev.wildcard));
    const changed = first || differs || wildcard !== prev.wildcard || named !== prev.names.size;
    if (changed) {
      st.sub = subscription(wildcard, star ? names.filter((n) => n !== '*') : names);
      this.push(type, this.ctx.generation(), true);
    }
  }

  /** Pushes every subscribed type whose resources changed in `gen`, in make-before-break order. */
  onGeneration(gen: Generation): void {
    if (this.closed || !this.proxy) return;
    for (const type of PUSH_ORDER) if (this.states.has(type)) this.push(type, gen, false);
  }

  private push(type: XdsType, gen: Generation, force: boolean): void {
    const st = this.states.get(type);
    if (!st || !this.proxy) return;
    const resources = this.ctx.resolve(gen, this.proxy, type, st.sub);
    let toSend = resources;
    if (PARTIAL_TYPES.has(type)) {
      // EDS and RDS clients never read absence as deletion, so a response may carry only
      // what is new or changed for this proxy: one endpoint change is one small message.
      toSend = this.ctx.changed(st.sent, resources);
      if (toSend.size === 0 && !(force && st.nonce === '')) {
        st.sent = resources;
        return;
      }
    } else if (!force && this.ctx.same(resources, st.sent)) {
      return;
    }
    if (type === 'cluster') {
      // A redefined cluster is re-initialised by Envoy and waits for its endpoints
      // again: make sure the next EDS response carries them even if unchanged.
      const eds = this.states.get('endpoint');
      if (eds) {
        const redefined = [...this.ctx.changed(st.sent, resources).keys()].filter((n) => st.sent.has(n) && eds.sent.has(n));
        if (redefined.length > 0) {
          const copy = new Map(eds.sent);
          for (const n of redefined) copy.delete(n);
          eds.sent = copy;
        }
      }
    }
    // the same bytes (nonce included) for every proxy that is sent this set: no per-stream encoding
    const res = this.ctx.response(gen, type, toSend);
    recordSent(st, { version: gen.version, nonce: res.nonce, resources: toSend.size });
    st.sent = resources;
    this.ctx.recordPush(type);
    this.send(res.bytes);
  }
}
