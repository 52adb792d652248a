import { isPort } from '../common/names.js';
import { isObject } from '../common/objects.js';

/**
 * The app's Kubernetes probes as the sidecar's status port (15020) serves them: parsed from
 * ISTIO_KUBE_APP_PROBERS entries, and the gRPC health request the Lua filter sends.
 */

/** Kubernetes' default probe timeout. */
export const DEFAULT_PROBE_TIMEOUT_S = 1;
/** How often Envoy connects to a tcpSocket probe's port; the probe answers from the latest result. */
export const TCP_PROBE_INTERVAL_S = 2;
interface ProbeBase {
  key: string;
  port: number;
  timeoutSeconds?: number;
}
export interface HttpAppProbe extends ProbeBase {
  kind: 'http';
  path: string;
  https: boolean;
  host?: string;
  headers: Array<{ name: string; value: string }>;
}
export interface GrpcAppProbe extends ProbeBase {
  kind: 'grpc';
  /** grpc.health.v1 service name; '' asks about the server as a whole */
  service: string;
}
export interface TcpAppProbe extends ProbeBase {
  kind: 'tcp';
}
export type AppProbe = HttpAppProbe | GrpcAppProbe | TcpAppProbe;

const PROBE_KEY = /^\/app-health\/[^/]+\/(livez|readyz|startupz)$/;

export function numericPort(raw: unknown): number | undefined {
  return (typeof raw === 'number' || typeof raw === 'string') && isPort(raw) ? Number(raw) : undefined;
}

/**
 * Parses one entry of `appProbes`; undefined when the bootstrap cannot serve it
 * (named port, a tcpSocket probe of another host, exec, an unknown key).
 * httpGet is routed to the app; grpc is a grpc.health.v1 Check made by the Lua
 * filter; tcpSocket is Envoy's active TCP health check of the port.
 */
export function parseAppProbe(key: string, value: unknown): AppProbe | undefined {
  if (!PROBE_KEY.test(key) || !isObject(value)) return undefined;
  const timeout = typeof value['timeoutSeconds'] === 'number' && value['timeoutSeconds'] > 0 ? { timeoutSeconds: value['timeoutSeconds'] } : {};
  const get = value['httpGet'];
  if (isObject(get)) {
    const port = numericPort(get['port']);
    if (port === undefined) return undefined;
    const rawPath = typeof get['path'] === 'string' && get['path'] !== '' ? get['path'] : '/';
    const headers: Array<{ name: string; value: string }> = [];
    if (Array.isArray(get['httpHeaders'])) {
      for (const h of get['httpHeaders'] as unknown[]) {
        if (isObject(h) && typeof h['name'] === 'string' && typeof h['value'] === 'string') headers.push({ name: h['name'], value: h['value'] });
      }
    }
    const probe: HttpAppProbe = {
      kind: 'http',
      key,
      port,
      path: rawPath.startsWith('/') ? rawPath : `/${rawPath}`,
      https: String(get['scheme'] ?? 'HTTP').toUpperCase() === 'HTTPS',
      headers,
      ...timeout,
    };
    if (typeof get['host'] === 'string' && get['host'] !== '') probe.host = get['host'];
    return probe;
  }
  const grpc = value['grpc'];
  if (isObject(grpc)) {
    const port = numericPort(grpc['port']);
    if (port === undefined) return undefined;
    const service = grpc['service'] === undefined ? '' : grpc['service'];
    if (typeof service !== 'string') return undefined;
    return { kind: 'grpc', key, port, service, ...timeout };
  }
  const tcp = value['tcpSocket'];
  if (isObject(tcp)) {
    const port = numericPort(tcp['port']);
    // Another host would need DNS and a cluster per name; the kubelet can keep probing it directly.
    if (port === undefined || (typeof tcp['host'] === 'string' && tcp['host'] !== '')) return undefined;
    return { kind: 'tcp', key, port, ...timeout };
  }
  return undefined;
}

/**
 * The HTTP/2 body of a grpc.health.v1.Health/Check call: gRPC's 5-byte prefix
 * (uncompressed, big-endian length) and HealthCheckRequest{service} (field 1, string).
 */
export function grpcHealthCheckFrame(service: string): Buffer {
  const name = Buffer.from(service, 'utf8');
  const varint: number[] = [];
  for (let n = name.length; ; n = Math.floor(n / 128)) {
    if (n < 128) {
      varint.push(n);
      break;
    }
    varint.push((n % 128) | 128);
  }
  const message = name.length === 0 ? Buffer.alloc(0) : Buffer.concat([Buffer.from([0x0a, ...varint]), name]);
  const prefix = Buffer.alloc(5);
  prefix.writeUInt32BE(message.length, 1);
  return Buffer.concat([prefix, message]);
}

