import type { Subscription } from '../cache/subscription.js';
import { proxyFromNode, type ProxyInfo } from '../proxy.js';
import type { XdsType } from '../translate/common.js';
import type { AdsContext, ProxyStatus, SentResponse, TypeStatus } from './context.js';

type Json = Record<string, unknown>;

/** What both stream kinds keep per type and report in status(). */
export interface StreamTypeState {
  sub: Subscription;
  /** the resources the proxy last ACKed, by name */
  acked: ReadonlyMap<string, unknown>;
  sentVersion: string;
  ackedVersion: string;
  acks: number;
  nacks: number;
  lastError?: string;
  /** the nonce of the last response sent */
  nonce: string;
  ackedNonce: string;
  nackedNonce?: string;
  nackedVersion?: string;
  /** the last responses sent, oldest first, bounded by SENT_HISTORY */
  history: SentResponse[];
}

/** How many sent responses per type /debug/syncz shows: enough to follow a push and its ACK or NACK, bounded per stream. */
export const SENT_HISTORY = 8;

/** Records a response sent for a type (its nonce, version and size) in the state /debug/syncz reports. */
export function recordSent(st: StreamTypeState, sent: SentResponse): void {
  st.nonce = sent.nonce;
  st.sentVersion = sent.version;
  st.history.push(sent);
  if (st.history.length > SENT_HISTORY) st.history.shift();
}

/** Records a NACK of the response with `nonce`: the error, and which response it refused. */
export function recordNackOf(st: StreamTypeState, nonce: string, message: string): void {
  st.nacks += 1;
  st.lastError = message;
  st.nackedNonce = nonce;
  st.nackedVersion = st.history.find((h) => h.nonce === nonce)?.version ?? st.sentVersion;
}

/** The request's error_detail when it is a NACK (a non-zero code or a message), else undefined. */
export function nackDetail(req: Json): Json | undefined {
  const err = req['error_detail'] as Json | undefined;
  return err && (Number(err['code'] ?? 0) !== 0 || (typeof err['message'] === 'string' && err['message'] !== '')) ? err : undefined;
}

/** The parts of an ADS stream that do not depend on the protocol variant (state of the world or delta). */
export abstract class AdsStream<S extends StreamTypeState> {
  proxy: ProxyInfo | undefined;
  protected readonly states = new Map<XdsType, S>();
  protected closed = false;

  constructor(
    protected readonly ctx: AdsContext,
    protected readonly send: (body: Buffer) => void,
    private readonly fail: (message: string) => void,
  ) {}

  protected abstract readonly protocol: ProxyStatus['protocol'];
  /** Logs the stream's first request, once the proxy is known. */
  protected abstract opened(proxy: ProxyInfo): void;

  /**
   * The proxy this request comes from, taken from the first request's node; undefined
   * when the stream is closed or failed because the first request carried no node.
   */
  protected accept(req: Json): ProxyInfo | undefined {
    if (this.closed) return undefined;
    if (!this.proxy) {
      if (!req['node']) {
        this.fail(`the first ${this.protocol === 'delta' ? 'DeltaDiscoveryRequest' : 'DiscoveryRequest'} on a stream must carry node`);
        return undefined;
      }
      this.proxy = proxyFromNode(req['node']);
      this.opened(this.proxy);
    }
    return this.proxy;
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
        sentNonce: st.nonce,
        ackedNonce: st.ackedNonce,
        ...(st.nackedNonce !== undefined ? { nackedNonce: st.nackedNonce, nackedVersion: st.nackedVersion ?? '' } : {}),
        sent: st.history.map((h) => ({ ...h })),
      };
    }
    return { id: this.proxy?.id ?? '', protocol: this.protocol, types };
  }

  close(): void {
    this.closed = true;
  }
}
