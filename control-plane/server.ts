import * as grpc from '@grpc/grpc-js';
import { decodeDiscoveryRequest, decodeRequestToJson } from './proto/decode.js';
import { envoyRoot } from './proto/root.js';
import { silentLogger, type Logger, type RegistrySnapshot, type ServiceRegistry } from './registry/types.js';
import { AdsContext, type ProxyStatus, type XdsMetrics, type XdsStats } from './xds/context.js';
import { Debouncer, DEFAULT_DEBOUNCE, type DebounceOptions } from './xds/debounce.js';
import { DeltaStream } from './xds/delta.js';
import { ResourceBuilder } from './xds/resources.js';
import { SotwStream } from './xds/sotw.js';
import { DEFAULT_TRANSLATE_OPTIONS, type TranslateOptions } from './xds/translate.js';

export interface ControlPlaneOptions {
  /** listen address, default 0.0.0.0 */
  host?: string;
  /** default 15010; 0 picks a free port */
  port?: number;
  registry: ServiceRegistry;
  /** push debounce: quiet period and maximum delay, default 100 ms / 10 s */
  debounce?: Partial<DebounceOptions>;
  translate?: Partial<TranslateOptions>;
  log?: Logger;
  metrics?: XdsMetrics;
}

export interface ControlPlane {
  /** the bound port */
  port: number;
  /** stops accepting streams, ends the open ones and stops watching the registry (the registry itself stays open) */
  close(): Promise<void>;
  stats(): XdsStats;
  /** per connected proxy: subscriptions, sent/ACKed versions, NACKs */
  proxies(): ProxyStatus[];
}

const SERVICE = 'envoy.service.discovery.v3.AggregatedDiscoveryService';
const REQUEST = 'envoy.service.discovery.v3.DiscoveryRequest';
const DELTA_REQUEST = 'envoy.service.discovery.v3.DeltaDiscoveryRequest';

type Json = Record<string, unknown>;

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

/** Starts the ADS server (state of the world and incremental) over a service registry. */
export async function startControlPlane(opts: ControlPlaneOptions): Promise<ControlPlane> {
  const log = opts.log ?? silentLogger;
  envoyRoot(); // load the protos before the first stream, not during it
  const builder = new ResourceBuilder({ ...DEFAULT_TRANSLATE_OPTIONS, ...opts.translate });
  const ctx = new AdsContext(builder.build(opts.registry.snapshot()), log, opts.metrics);
  const streams = new Set<{ stream: SotwStream | DeltaStream; call: grpc.ServerDuplexStream<Json, Buffer> }>();

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
    for (const s of streams) s.stream.onGeneration(gen);
    log.info({ version: gen.version, services: snap.services.length, streams: streams.size, ms: Math.round(performance.now() - t0) }, 'xDS push');
  });
  const unsubscribe = opts.registry.onChange((snap) => {
    latest = snap;
    debouncer.trigger();
  });

  const serve = (call: grpc.ServerDuplexStream<Json, Buffer>, make: (send: (b: Buffer) => void, fail: (m: string) => void) => SotwStream | DeltaStream): void => {
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

  const server = new grpc.Server({ 'grpc.max_send_message_length': -1, 'grpc.max_receive_message_length': 16 * 1024 * 1024 });
  server.addService(
    { StreamAggregatedResources: method('StreamAggregatedResources', REQUEST), DeltaAggregatedResources: method('DeltaAggregatedResources', DELTA_REQUEST) },
    {
      StreamAggregatedResources: (call: grpc.ServerDuplexStream<Json, Buffer>) => serve(call, (send, fail) => new SotwStream(ctx, send, fail)),
      DeltaAggregatedResources: (call: grpc.ServerDuplexStream<Json, Buffer>) => serve(call, (send, fail) => new DeltaStream(ctx, send, fail)),
    },
  );
  const host = opts.host ?? '0.0.0.0';
  const address = host.includes(':') ? `[${host}]:${opts.port ?? 15010}` : `${host}:${opts.port ?? 15010}`;
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(address, grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p)));
  });
  log.info({ address: `${host}:${port}` }, 'xDS server listening');

  let closed: Promise<void> | undefined;
  return {
    port,
    stats: () => ({ ...ctx.stats }),
    proxies: () => [...streams].map((s) => s.stream.status()),
    close: () => {
      closed ??= (async () => {
        unsubscribe();
        debouncer.cancel();
        for (const s of streams) s.call.end();
        await new Promise<void>((resolve) => {
          const force = setTimeout(() => {
            server.forceShutdown();
            resolve();
          }, 2000);
          server.tryShutdown(() => {
            clearTimeout(force);
            resolve();
          });
        });
      })();
      return closed;
    },
  };
}
