import { createRequire } from 'node:module';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

/**
 * A black-box ADS client: Envoy's own protos (as shipped in @grpc/grpc-js-xds) through
 * @grpc/proto-loader, so these tests depend on the xDS wire protocol only, not on how
 * tandem encodes or decodes it. `raw()` opens a stream that sends arbitrary bytes.
 */

export const TYPE = {
  cluster: 'type.googleapis.com/envoy.config.cluster.v3.Cluster',
  endpoint: 'type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment',
  listener: 'type.googleapis.com/envoy.config.listener.v3.Listener',
  route: 'type.googleapis.com/envoy.config.route.v3.RouteConfiguration',
} as const;

export interface DiscoveryRequest {
  version_info?: string;
  node?: { id: string; cluster?: string; metadata?: unknown; user_agent_name?: string };
  resource_names?: string[];
  type_url?: string;
  response_nonce?: string;
  error_detail?: { code: number; message: string };
}

export interface DiscoveryResponse {
  version_info: string;
  resources: Array<{ type_url: string; value: Buffer }>;
  type_url: string;
  nonce: string;
}

const SERVICE = '/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources';

let codec: { encode(r: DiscoveryRequest): Buffer; decode(b: Buffer): DiscoveryResponse } | undefined;

function loadCodec(): NonNullable<typeof codec> {
  if (codec) return codec;
  const require = createRequire(import.meta.url);
  const deps = path.join(path.dirname(require.resolve('@grpc/grpc-js-xds/package.json')), 'deps');
  const def = protoLoader.loadSync('envoy/service/discovery/v3/ads.proto', {
    keepCase: true,
    longs: String,
    defaults: true,
    includeDirs: ['envoy-api', 'xds', 'googleapis', 'protoc-gen-validate'].map((d) => path.join(deps, d)),
  });
  const method = (def['envoy.service.discovery.v3.AggregatedDiscoveryService'] as Record<string, grpc.MethodDefinition<DiscoveryRequest, DiscoveryResponse>>)['StreamAggregatedResources'];
  if (!method) throw new Error('StreamAggregatedResources not found in Envoy protos');
  codec = { encode: (r) => method.requestSerialize(r), decode: (b) => method.responseDeserialize(b) };
  return codec;
}

export function sidecarNode(id: string, ns = 'shop'): NonNullable<DiscoveryRequest['node']> {
  return { id: `sidecar~10.0.0.5~${id}.${ns}~${ns}.svc.cluster.local`, user_agent_name: 'envoy', metadata: { fields: { NAMESPACE: { string_value: ns } } } };
}

export class AdsStream {
  readonly client: grpc.Client;
  readonly call: grpc.ClientDuplexStream<Buffer, DiscoveryResponse>;
  readonly received: DiscoveryResponse[] = [];
  private waiters: Array<() => void> = [];
  ended = false;
  error: grpc.ServiceError | undefined;

  /** `paused`: the client never reads (HTTP/2 flow control then stops the server's writes). */
  constructor(target: string, opts: { paused?: boolean; client?: grpc.Client } = {}) {
    const c = loadCodec();
    this.client = opts.client ?? new grpc.Client(target, grpc.credentials.createInsecure());
    this.call = this.client.makeBidiStreamRequest(SERVICE, (b: Buffer) => b, c.decode);
    if (!opts.paused) {
      this.call.on('data', (r: DiscoveryResponse) => {
        this.received.push(r);
        for (const w of this.waiters.splice(0)) w();
      });
    }
    this.call.on('error', (e: grpc.ServiceError) => {
      this.error = e;
      for (const w of this.waiters.splice(0)) w();
    });
    this.call.on('end', () => {
      this.ended = true;
      for (const w of this.waiters.splice(0)) w();
    });
  }

  send(req: DiscoveryRequest): void {
    this.call.write(loadCodec().encode(req));
  }

  /** Bytes that need not be a DiscoveryRequest at all. */
  sendRaw(bytes: Buffer): void {
    this.call.write(bytes);
  }

  /** Waits until `pred` holds for some received response (from index `from`) or the stream ends. */
  async until(pred: (r: DiscoveryResponse) => boolean, timeoutMs = 5000, from = 0): Promise<DiscoveryResponse | undefined> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const hit = this.received.slice(from).find(pred);
      if (hit) return hit;
      if (this.ended || this.error || Date.now() > end) return undefined;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.max(1, end - Date.now()));
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** Waits for the stream to end with a status; the status, or undefined if it stays open. */
  async status(timeoutMs = 5000): Promise<grpc.ServiceError | 'ended' | undefined> {
    const end = Date.now() + timeoutMs;
    while (!this.error && !this.ended && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
    return this.error ?? (this.ended ? 'ended' : undefined);
  }

  close(): void {
    this.call.cancel();
    this.client.close();
  }
}

/** The ACK of `r` (same version and nonce, same subscription). */
export function ack(r: DiscoveryResponse, names: string[] = []): DiscoveryRequest {
  return { type_url: r.type_url, version_info: r.version_info, response_nonce: r.nonce, resource_names: names };
}
