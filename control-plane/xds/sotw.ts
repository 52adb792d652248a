import { RAW_NAMES } from '../proto/decode.js';
import { proxyFromNode, type ProxyInfo } from './proxy.js';
import { PUSH_ORDER, typeOfUrl, urlOfType, type Generation, type Resource, type XdsType } from './resources.js';
import { subscription, type AdsContext, type ProxyStatus, type Subscription, type TypeStatus } from './context.js';

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

type ResourceMap = ReadonlyMap<string, Resource>;

const NOTHING: ResourceMap = new Map();
const NO_NAMES: readonly string[] = [];

interface TypeState {
  sub: Subscription;
  nonce: string;
  sentVersion: string;
  /** shared, immutable sets (see AdsContext): replaced, never modified */
  sent: ResourceMap;
  ackedVersion: string;
  acked: ResourceMap;
  acks: number;
  nacks: number;
  lastError?: string;
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

export class SotwStream {
  proxy: ProxyInfo | undefined;
  private readonly states = new Map<XdsType, TypeState>();
  private closed = false;

  constructor(
    private readonly ctx: AdsContext,
    private readonly send: (body: Buffer) => void,
    private readonly fail: (message: string) => void,
  ) {}

  onRequest(req: Json): void {
    if (this.closed) return;
    if (!this.proxy) {
      if (!req['node']) {
        this.fail('the first DiscoveryRequest on a stream must carry node');
        return;
      }
      this.proxy = proxyFromNode(req['node']);
      this.ctx.log.info({ proxy: this.proxy.id, namespace: this.proxy.namespace, agent: this.proxy.userAgent }, 'xDS stream opened');
    }
    const url = typeof req['type_url'] === 'string' ? req['type_url'] : '';
    const type = typeOfUrl(url);
    if (!type) {
      this.ctx.log.debug({ proxy: this.proxy.id, type: url }, 'ignoring request for an unsupported type');
      return;
    }
    const nonce = typeof req['response_nonce'] === 'string' ? req['response_nonce'] : '';
    let st = this.states.get(type);
    const first = st === undefined;
    if (st && nonce !== st.nonce) return; // stale: a newer response is in flight
    if (!st) {
      st = { sub: subscription(false, []), nonce: '', sentVersion: '', sent: NOTHING, ackedVersion: '', acked: NOTHING, acks: 0, nacks: 0, lastNames: NO_NAMES };
      this.states.set(type, st);
    } else {
      const err = req['error_detail'] as Json | undefined;
      if (err && (Number(err['code'] ?? 0) !== 0 || (typeof err['message'] === 'string' && err['message'] !== ''))) {
        const rejected = st.sentVersion;
        st.nacks += 1;
        st.lastError = String(err['message'] ?? '');
        st.sent = st.acked;
        st.sentVersion = st.ackedVersion;
        this.ctx.recordNack(type);
        this.ctx.log.warn(
          { proxy: this.proxy.id, type: urlOfType(type), rejectedVersion: rejected, keptVersion: req['version_info'], error_detail: err['message'] },
          'xDS NACK: the proxy keeps its last good configuration',
        );
      } else if (!first) {
        st.acks += 1;
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
    st.nonce = res.nonce;
    st.sentVersion = gen.version;
    st.sent = resources;
    this.ctx.recordPush(type);
    this.send(res.bytes);
  }

  status(): ProxyStatus {
    const types: Partial<Record<XdsType, TypeStatus>> = {};
    for (const [type, st] of this.states) {
      types[type] = {
        wildcard: st.sub.wildcard,
        names: [...st.sub.names],
        sentVersion: st.sentVersion,
        ackedVersion: st.ackedVersion,
        acked: [...st.acked.keys()],
        acks: st.acks,
        nacks: st.nacks,
        ...(st.lastError !== undefined ? { lastError: st.lastError } : {}),
      };
    }
    return { id: this.proxy?.id ?? '', protocol: 'sotw', types };
  }

  close(): void {
    this.closed = true;
  }
}
