import { isPort } from '../../common/names.js';
import { isObject } from '../../common/objects.js';

/**
 * What the control plane knows about a connected proxy, read from the xDS `node`
 * of its first request (the bootstrap sets id and metadata: NAMESPACE, LABELS,
 * INSTANCE_IPS, APP_PORTS).
 */
export interface ProxyInfo {
  id: string;
  namespace: string;
  /** the pod's labels (metadata LABELS) */
  labels: Readonly<Record<string, string>>;
  /** the pod's IPs (metadata INSTANCE_IPS, comma-separated) */
  ips: readonly string[];
  appPorts: number[];
  /**
   * a proxyless gRPC client rather than an Envoy sidecar: metadata `GENERATOR: grpc` (what Istio's
   * gRPC bootstrap sets) or a gRPC user agent (grpc-js-xds sends `gRPC Node Pure JS`)
   */
  proxyless: boolean;
  userAgent: string;
}

function ports(v: unknown): number[] {
  const raw = Array.isArray(v) ? v : typeof v === 'string' ? v.split(',') : [];
  const out = raw.map((x) => (typeof x === 'string' ? x.trim() : x)).filter((x): x is number | string => (typeof x === 'number' || typeof x === 'string') && isPort(x));
  return [...new Set(out.map(Number))].sort((a, b) => a - b);
}

function labels(v: unknown): Record<string, string> {
  if (!isObject(v)) return {};
  return Object.fromEntries(Object.entries(v).filter((e): e is [string, string] => typeof e[1] === 'string'));
}

function ips(v: unknown): string[] {
  const raw = Array.isArray(v) ? v : typeof v === 'string' ? v.split(',') : [];
  return raw.filter((x): x is string => typeof x === 'string').map((x) => x.trim()).filter((x) => x !== '');
}

/** Reads the proxy identity from a decoded (proto3 JSON) envoy.config.core.v3.Node. */
export function proxyFromNode(node: unknown): ProxyInfo {
  const n = isObject(node) ? node : {};
  const id = typeof n['id'] === 'string' ? n['id'] : '';
  const md = isObject(n['metadata']) ? n['metadata'] : {};
  let namespace = typeof md['NAMESPACE'] === 'string' && md['NAMESPACE'] !== '' ? md['NAMESPACE'] : '';
  if (!namespace) {
    // sidecar~<ip>~<pod>.<ns>~<ns>.svc.<domain>
    const parts = id.split('~');
    namespace = parts.length === 4 ? (parts[3]?.split('.')[0] ?? '') : '';
  }
  const userAgent = typeof n['user_agent_name'] === 'string' ? n['user_agent_name'] : '';
  return {
    id,
    namespace: namespace || 'default',
    labels: labels(md['LABELS']),
    ips: ips(md['INSTANCE_IPS']),
    appPorts: ports(md['APP_PORTS']),
    proxyless: md['GENERATOR'] === 'grpc' || /^grpc/i.test(userAgent),
    userAgent,
  };
}
