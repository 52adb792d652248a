import * as grpc from '@grpc/grpc-js';
import { silentLogger, type Logger } from '../../../common/logger.js';
import { decodeDiscoveryRequest, decodeRequestToJson, decodeToJson } from '../../proto/decode.js';
import { envoyRoot } from '../../proto/root.js';
import type { ConfigStore } from '../../../config/store/types.js';
import type { ConfigObject } from '../../../config/model.js';
import { DEFAULT_MESH_OPTIONS, type MeshOptions } from '../../model/options.js';
import type { ServiceRegistry } from '../../registry/types.js';
import { TRANSLATED_KINDS, type IstioInputs } from '../cache/mesh-inputs.js';
import { inconsistencies, proxyResources } from '../cache/consistency.js';
import { ResourceBuilder, type Generation } from '../cache/generation.js';
import { DEFAULT_TRANSLATE_OPTIONS, MESSAGE_TYPES, type TranslateOptions, type XdsType } from '../translate/common.js';
import { AdsContext, type ProxyStatus, type TypeStatus, type XdsMetrics, type XdsStats } from './context.js';
import { Debouncer, DEFAULT_DEBOUNCE, type DebounceOptions } from './debounce.js';
import { DeltaStream } from './delta.js';
import { SotwStream } from './sotw.js';

export interface XdsOptions {
  registry: ServiceRegistry;
  /** Istio config (config/store): its changes are debounced with the registry's; none means no Istio config */
  config?: Pick<ConfigStore, 'snapshot' | 'onChange' | 'synced'>;
  /** the mesh options in force (from MeshConfig: model/options.ts meshOptionsFromMeshConfig); `setMesh` replaces them */
  mesh?: MeshOptions;
  /** besides the config store's `synced`: no proxy is answered before this resolves (e.g. the registry's first read) */
  ready?: Promise<unknown>;
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
  /** new mesh options (a changed mesh ConfigMap): pushed like a config change */
  setMesh(options: MeshOptions): void;
  /** resolves once the registry and the config store have synced and proxies are answered */
  readonly ready: Promise<void>;
  /** ends the open streams and stops watching the registry (the registry itself and the gRPC server stay open) */
  close(): void;
  stats(): XdsStats;
  /** per connected proxy: subscriptions, sent/ACKed versions, NACKs */
  proxies(): ProxyStatus[];
  /**
   * The resources of the current generation a connected proxy subscribes to (what it was last
   * sent, unless a push is pending), decoded to proto3 JSON by type; undefined for an unknown id.
   */
  configDump(id: string): Record<string, unknown[]> | undefined;
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
  let closed = false;
  const log = opts.log ?? silentLogger;
  envoyRoot(); // load the protos before the first stream, not during it
  const builder = new ResourceBuilder({ ...DEFAULT_TRANSLATE_OPTIONS, ...opts.translate });
  let mesh = opts.mesh ?? DEFAULT_MESH_OPTIONS;
  const istioInputs = (): IstioInputs | undefined => {
    if (!opts.config && !opts.mesh) return undefined;
    const snap = opts.config?.snapshot();
    const configs: ConfigObject[] = snap ? TRANSLATED_KINDS.flatMap((k) => snap.list(k)) : [];
    return { configs, options: mesh };
  };
  const build = (): Generation => builder.build(opts.registry.snapshot(), istioInputs());
  const ctx = new AdsContext(build(), log, opts.metrics);
  const streams = new Set<{ stream: Stream; call: Call }>();
  // Until the registry and the config store have synced, requests wait: a proxy answered from a
  // partial view would drop the clusters and routes it already runs.
  const mustWait = opts.config !== undefined || opts.ready !== undefined;
  let isReady = !mustWait;
  const waiting = new Set<() => void>();
  const ready = !mustWait ? Promise.resolve() : Promise.all([opts.config?.synced, opts.ready]).then(() => {
    if (closed) return;
    const gen = build();
    ctx.setGeneration(gen);
    isReady = true;
    for (const s of streams) s.stream.onGeneration(gen);
    for (const w of [...waiting]) w();
    waiting.clear();
    log.info({ version: gen.version, mode: gen.mode }, 'xDS ready: registry and config synced');
  });
  ready.catch((err: unknown) => log.error({ err: (err as Error).message }, 'xDS: the registry or the config store never synced; no proxy is answered'));

  const assertConsistent = (gen: Generation): void => {
    for (const { stream } of streams) {
      if (!stream.proxy) continue;
      for (const problem of inconsistencies(proxyResources(gen, stream.proxy))) log.error({ proxy: stream.proxy.id, version: gen.version, ...problem }, 'xDS consistency: a resource refers to one the proxy cannot get');
    }
  };

  let dirty = false;
  const debouncer = new Debouncer({ ...DEFAULT_DEBOUNCE, ...opts.debounce }, () => {
    if (!dirty || !isReady) return;
    dirty = false;
    const t0 = performance.now();
    let gen;
    try {
      gen = build();
    } catch (err) {
      log.error({ err: (err as Error).stack }, 'could not translate the registry and config; keeping the previous configuration');
      return;
    }
    ctx.setGeneration(gen);
    if (opts.checkConsistency) assertConsistent(gen);
    for (const s of streams) s.stream.onGeneration(gen);
    log.info({ version: gen.version, mode: gen.mode, services: gen.snapshot.services.length, streams: streams.size, translated: gen.counts.translated, carried: gen.counts.carried, ms: Math.round(performance.now() - t0) }, 'xDS push');
  });
  const changed = (): void => {
    dirty = true;
    debouncer.trigger();
  };
  const unsubscribe = opts.registry.onChange(changed);
  const unsubscribeConfig = opts.config?.onChange(changed);

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
      waiting.delete(flush);
      entry.stream.close();
      ctx.streamClosed();
    };
    const handle = (req: Json): void => {
      if (done) return;
      try {
        entry.stream.onRequest(req);
      } catch (err) {
        log.error({ err: (err as Error).stack }, 'xDS request failed');
        call.emit('error', { code: grpc.status.INTERNAL, details: 'internal error' });
      }
    };
    const queued: Json[] = [];
    const flush = (): void => {
      waiting.delete(flush);
      for (const req of queued.splice(0)) handle(req);
    };
    call.on('data', (req: Json) => {
      if (isReady) return handle(req);
      queued.push(req);
      waiting.add(flush);
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

  return {
    push: () => {
      if (closed) return;
      changed();
    },
    setMesh: (options: MeshOptions) => {
      if (closed) return;
      mesh = options;
      changed();
    },
    ready,
    stats: () => ({ ...ctx.stats, parts: { ...ctx.stats.parts } }),
    proxies: () => [...streams].map((s) => s.stream.status()),
    configDump: (id: string) => {
      const entry = [...streams].find((s) => s.stream.proxy?.id === id);
      const proxy = entry?.stream.proxy;
      if (!entry || !proxy) return undefined;
      const status = entry.stream.status();
      const all = proxyResources(ctx.generation(), proxy);
      const out: Record<string, unknown[]> = {};
      for (const [type, st] of Object.entries(status.types) as Array<[XdsType, TypeStatus]>) {
        const wanted = st.wildcard ? undefined : new Set(st.names);
        out[type] = [...all[type].values()].filter((r) => !wanted || wanted.has(r.name)).map((r) => decodeToJson(MESSAGE_TYPES[type], r.value));
      }
      return out;
    },
    close: () => {
      if (closed) return;
      closed = true;
      unsubscribe();
      unsubscribeConfig?.();
      debouncer.cancel();
      for (const s of streams) s.call.end();
    },
  };
}
