/**
 * What the control plane needs to know about a connected proxy, read from the
 * xDS `node` of its first request (the bootstrap sets id and metadata).
 */
export interface ProxyInfo {
  id: string;
  namespace: string;
  appPorts: number[];
  userAgent: string;
}

type Obj = Record<string, unknown>;

function asObj(v: unknown): Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Obj) : {};
}

function ports(v: unknown): number[] {
  const raw = Array.isArray(v) ? v : typeof v === 'string' ? v.split(',') : [];
  const out = raw.map((x) => Number(typeof x === 'string' ? x.trim() : x)).filter((n) => Number.isInteger(n) && n > 0 && n < 65536);
  return [...new Set(out)].sort((a, b) => a - b);
}

/** Reads the proxy identity from a decoded (proto3 JSON) envoy.config.core.v3.Node. */
export function proxyFromNode(node: unknown): ProxyInfo {
  const n = asObj(node);
  const id = typeof n['id'] === 'string' ? n['id'] : '';
  const md = asObj(n['metadata']);
  let namespace = typeof md['NAMESPACE'] === 'string' && md['NAMESPACE'] !== '' ? md['NAMESPACE'] : '';
  if (!namespace) {
    // sidecar~<ip>~<pod>.<ns>~<ns>.svc.<domain>
    const parts = id.split('~');
    namespace = parts.length === 4 ? (parts[3]?.split('.')[0] ?? '') : '';
  }
  return {
    id,
    namespace: namespace || 'default',
    appPorts: ports(md['APP_PORTS']),
    userAgent: typeof n['user_agent_name'] === 'string' ? n['user_agent_name'] : '',
  };
}

/** Proxies with the same view receive identical per-proxy resources. */
export function viewKey(p: Pick<ProxyInfo, 'namespace' | 'appPorts'>): string {
  return `${p.namespace}|${p.appPorts.join(',')}`;
}
