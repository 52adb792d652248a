import * as grpc from '@grpc/grpc-js';
import { silentLogger, type Logger } from '../../../common/logger.js';
import { decodeDiscoveryRequest, decodeRequestToJson } from '../../proto/decode.js';
import { envoyRoot } from '../../proto/root.js';
import type { RegistrySnapshot, ServiceRegistry } from '../../registry/types.js';
import { inconsistencies, proxyResources } from '../cache/consistency.js';
import { ResourceBuilder, type Generation } from '../cache/generation.js';
import { DEFAULT_TRANSLATE_OPTIONS, type TranslateOptions } from '../translate/common.js';
import { AdsContext, type ProxyStatus, type XdsMetrics, type XdsStats } from './context.js';
import { Debouncer, DEFAULT_DEBOUNCE, type DebounceOptions } from './debounce.js';
import { DeltaStream } from './delta.js';
import { SotwStream } from './sotw.js';

export interface XdsOptions {
  registry: ServiceRegistry;
  /** push debounce: quiet period and maximum delay, default 100 ms / 10 s */
  debounce?: Partial<DebounceOptions>;
  translate?: Partial<TranslateOptions>;
  log?: Logger;
  metrics?: XdsMetrics;
  /**
   * Debug assertion: after each generation, check every connected proxy's resources
   * for dangling EDS/RDS references (cache/consistency.ts) and log each as an error.
   * Decodes every resource a proxy can get: for tests and debugging, not production.
   */
  checkConsistency?: boolean;
}

/** The xDS services registered on a gRPC server. */
export interface XdsHandle {
  /**
   * Rebuilds from the registry's current snapshot after the debounce, as a registry
   * change does: for inputs that change outside the registry (Istio config, later).
   * Proxies are sent only what changed for them.
   */
  push(): void;
  /** ends the open streams and stops watching the registry (the registry itself and the gRPC server stay open) */
  close(): void;
  stats(): XdsStats;
  /** per connected proxy: subscriptions, sent/ACKed versions, NACKs */
  proxies(): ProxyStatus[];
}

const SERVICE = 'envoy.service.discovery.v3.AggregatedDiscoveryService';
const REQUEST = 'envoy.service.discovery.v3.DiscoveryRequest';
const DELTA_REQUEST = 'envoy.service.discovery.v3.DeltaDiscoveryRequest';

type Json = Record<string, unknown>;
type Call = grpc.ServerDuplexStream<Json, Buffer>;
type Stream = SotwStream | DeltaStream;

function method(name: string, requestType: string): grpc.MethodDefinition<Json, Buffer> {
  const decode = requestType === REQUEST ? decodeDiscoveryRequest : (b: Buffer): Json => decodeRequestToJson(requestType, b);
  return {
    path: `/${SERVICE}/${name}`,
    requestStream: true,
    responseStream: true,
    requestSerialize: () => {
      throw new Error('server side only');
    },
    requestDeserialize: decode,
    // responses are encoded by the streams (resource bytes are cached per version)
    responseSerialize: (b: Buffer) => b,
    responseDeserialize: (b: Buffer) => b,
  };
}

/**
 * Registers ADS (state of the world and incremental) over a service registry on
 * `server`, which the caller creates, binds and shuts down: other services (the CA,
 * SDS) can share its port.
 */
export function registerXds(servers: grpc.Server | readonly grpc.Server[], opts: XdsOptions): XdsHandle {
  const log = opts.log ?? silentLogger;
  envoyRoot(); // load the protos before the first stream, not during it
  const builder = new ResourceBuilder({ ...DEFAULT_TRANSLATE_OPTIONS, ...opts.translate });
  const ctx = new AdsContext(builder.build(opts.registry.snapshot()), log, opts.metrics);
  const streams = new Set<{ stream: Stream; call: Call }>();

  const assertConsistent = (gen: Generation): void => {
    for (const { stream } of streams) {
      if (!stream.proxy) continue;
      for (const problem of inconsistencies(proxyResources(gen, stream.proxy))) log.error({ proxy: stream.proxy.id, version: gen.version, ...problem }, 'xDS consistency: a resource refers to one the proxy cannot get');
    }
  };

  let latest: RegistrySnapshot | undefined;
  const debouncer = new Debouncer({ ...DEFAULT_DEBOUNCE, ...opts.debounce }, () => {
    if (!latest) return;
    const snap = latest;
    latest = undefined;
    const t0 = performance.now();
    let gen;
    try {
      gen = builder.build(snap);
    } catch (err) {
      log.error({ err: (err as Error).message }, 'could not translate the registry; keeping the previous configuration');
      return;
    }
    ctx.setGeneration(gen);
    if (opts.checkConsistency) assertConsistent(gen);
    for (const s of streams) s.stream.onGeneration(gen);
    log.info({ version: gen.version, services: snap.services.length, streams: streams.size, ms: Math.round(performance.now() - t0) }, 'xDS push');
  });
  const unsubscribe = opts.registry.onChange((snap) => {
    latest = snap;
    debouncer.trigger();
  });

  const serve = (call: Call, make: (send: (b: Buffer) => void, fail: (m: string) => void) => Stream): void => {
    const entry = {
      call,
      stream: make(
        (b) => call.write(b),
        // grpc-js ends a server stream with a status when 'error' is emitted on it
        (message) => call.emit('error', { code: grpc.status.INVALID_ARGUMENT, details: message }),
      ),
    };
    streams.add(entry);
    ctx.streamOpened();
    let done = false;
    const finish = (): void => {
      if (done) return;
      done = true;
      streams.delete(entry);
      entry.stream.close();
      ctx.streamClosed();
    };
    call.on('data', (req: Json) => {
      try {
        entry.stream.onRequest(req);
      } catch (err) {
        log.error({ err: (err as Error).stack }, 'xDS request failed');
        call.emit('error', { code: grpc.status.INTERNAL, details: 'internal error' });
      }
    });
    call.on('end', () => {
      finish();
      call.end();
    });
    call.on('error', finish);
    call.on('close', finish);
    call.on('cancelled', finish);
  };

  // One set of streams and caches for every server it is registered on (plaintext 15010 and TLS 15012).
  for (const server of Array.isArray(servers) ? servers : [servers as grpc.Server]) {
    server.addService(
      { StreamAggregatedResources: method('StreamAggregatedResources', REQUEST), DeltaAggregatedResources: method('DeltaAggregatedResources', DELTA_REQUEST) },
      {
        StreamAggregatedResources: (call: Call) => serve(call, (send, fail) => new SotwStream(ctx, send, fail)),
        DeltaAggregatedResources: (call: Call) => serve(call, (send, fail) => new DeltaStream(ctx, send, fail)),
      },
    );
  }

  let closed = false;
  return {
    push: () => {
      if (closed) return;
      latest = opts.registry.snapshot();
      debouncer.trigger();
    },
    stats: () => ({ ...ctx.stats }),
    proxies: () => [...streams].map((s) => s.stream.status()),
    close: () => {
      if (closed) return;
      closed = true;
      unsubscribe();
      debouncer.cancel();
      for (const s of streams) s.call.end();
    },
  };
}
