import * as grpc from '@grpc/grpc-js';
import { decodeToJson } from '../../control-plane/proto/decode.js';
import { encodeProtoJson } from '../../control-plane/proto/json.js';
import { urlOfType } from '../../control-plane/xds/cache/resource.js';
import type { XdsType } from '../../control-plane/xds/translate/common.js';

/** A raw ADS client over @grpc/grpc-js: requests and responses as proto3 JSON, encoded with Envoy's protos. */
export type J = Record<string, any>;

const SVC = '/envoy.service.discovery.v3.AggregatedDiscoveryService';

export const URL: Readonly<Record<XdsType, string>> = {
  cluster: urlOfType('cluster'),
  endpoint: urlOfType('endpoint'),
  listener: urlOfType('listener'),
  route: urlOfType('route'),
};

export class RawAds {
  private readonly client: grpc.Client;
  private readonly call: grpc.ClientDuplexStream<J, J>;
  private readonly queue: J[] = [];
  private waiters: Array<(r: J) => void> = [];
  ended = false;
  error: grpc.ServiceError | undefined;

  constructor(port: number, readonly delta = false) {
    this.client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
    const reqType = delta ? 'envoy.service.discovery.v3.DeltaDiscoveryRequest' : 'envoy.service.discovery.v3.DiscoveryRequest';
    const resType = delta ? 'envoy.service.discovery.v3.DeltaDiscoveryResponse' : 'envoy.service.discovery.v3.DiscoveryResponse';
    this.call = this.client.makeBidiStreamRequest(
      `${SVC}/${delta ? 'DeltaAggregatedResources' : 'StreamAggregatedResources'}`,
      (req: J) => Buffer.from(encodeProtoJson(reqType, req)),
      (b: Buffer) => decodeToJson(resType, b) as J,
    );
    this.call.on('data', (r: J) => {
      const w = this.waiters.shift();
      if (w) w(r);
      else this.queue.push(r);
    });
    this.call.on('error', (e: grpc.ServiceError) => {
      this.error = e;
    });
    this.call.on('end', () => {
      this.ended = true;
    });
  }

  send(req: J): void {
    this.call.write(req);
  }

  next(timeoutMs = 3000): Promise<J> {
    const q = this.queue.shift();
    if (q) return Promise.resolve(q);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new Error(`no response within ${timeoutMs} ms`));
      }, timeoutMs);
      const waiter = (r: J): void => {
        clearTimeout(timer);
        resolve(r);
      };
      this.waiters.push(waiter);
    });
  }

  /** true when nothing arrives within `ms` */
  async quiet(ms: number): Promise<boolean> {
    if (this.queue.length > 0) return false;
    try {
      await this.next(ms);
      return false;
    } catch {
      return true;
    }
  }

  close(): void {
    this.call.cancel();
    this.client.close();
  }
}

export function names(resp: J): string[] {
  return (resp['resources'] as J[] | undefined ?? []).map((r) => (r['@type'] ? (r['name'] ?? r['cluster_name']) : r['name'])).sort();
}

export function sidecarNode(ns = 'shop', appPorts: number[] = [8080]): J {
  return { id: `sidecar~10.0.0.5~app-1.${ns}~${ns}.svc.cluster.local`, user_agent_name: 'envoy', metadata: { NAMESPACE: ns, APP_PORTS: appPorts } };
}

/** Polls until `probe()` holds (the server handles ACKs asynchronously); returns the last result. */
export async function waitFor(probe: () => boolean, timeoutMs = 3000): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (!probe()) {
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, 10));
  }
  return true;
}
