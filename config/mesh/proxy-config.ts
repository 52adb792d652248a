import { LRUCache } from 'lru-cache';
import { parse as parseYaml } from 'yaml';
import { UserError } from '../../common/errors.js';

/**
 * Istio's ProxyConfig, the part tandem implements: the mesh-wide default from
 * the injector config (`proxyConfig`) with the pod's `proxy.istio.io/config`
 * annotation (YAML or JSON) merged over it, field by field, as Istio does.
 */
export const PROXY_CONFIG_ANNOTATION = 'proxy.istio.io/config';

export interface ProxyConfigSettings {
  /** Start the app only once the proxy is ready. */
  holdApplicationUntilProxyStarts: boolean;
  /** How long the proxy drains on shutdown, in whole seconds (Istio default 5s). */
  terminationDrainSeconds: number;
  /** Envoy worker threads; 0 lets Envoy use every core. */
  concurrency: number;
  /** Extra environment of the proxy container (ISTIO_META_* and friends). */
  proxyMetadata: Record<string, string>;
}

export const DEFAULT_PROXY_CONFIG: ProxyConfigSettings = {
  holdApplicationUntilProxyStarts: false,
  terminationDrainSeconds: 5,
  concurrency: 2,
  proxyMetadata: {},
};

/** ProxyConfig fields Istio has and tandem accepts without acting on them (no pilot-agent, or handled elsewhere). */
const ACCEPTED_IGNORED = new Set([
  'configPath', 'binaryPath', 'serviceCluster', 'drainDuration', 'discoveryAddress', 'discoveryRefreshDelay', 'zipkinAddress',
  'statsdUdpAddress', 'proxyAdminPort', 'controlPlaneAuthPolicy', 'customConfigFile', 'statNameLength', 'tracing',
  'statusPort', 'extraStatTags', 'proxyStatsMatcher', 'terminationDrainDuration', 'meshId', 'readinessProbe',
  'privateKeyProvider', 'caCertificatesPem', 'image', 'tracingServiceName', 'envoyMetricsService', 'envoyAccessLogService',
  'interceptionMode', 'sds', 'gatewayTopology', 'runtimeValues', 'proxyHeaders', 'fileFlushInterval', 'fileFlushMinSizeKb',
  'parentShutdownDuration', 'proxyBootstrapTemplatePath', 'holdApplicationUntilProxyStarts', 'concurrency', 'proxyMetadata',
  'trustDomain', 'trustDomainAliases', 'outlierLogPath', 'clusterName', 'sidecarConfig',
]);
const IMPLEMENTED = ['holdApplicationUntilProxyStarts', 'terminationDrainDuration', 'concurrency', 'proxyMetadata'];

const DURATION_PART = /(\d+(?:\.\d+)?)(h|ms|m|s|us|µs|ns)/g;
const UNIT_SECONDS: Record<string, number> = { h: 3600, m: 60, s: 1, ms: 1e-3, us: 1e-6, 'µs': 1e-6, ns: 1e-9 };

/** Go/protobuf duration text (`5s`, `1m30s`, `1.5s`, `500ms`) to seconds; undefined when malformed. */
export function parseDuration(text: string): number | undefined {
  const s = text.trim();
  if (s === '' || s === '0') return s === '0' ? 0 : undefined;
  let total = 0;
  let consumed = 0;
  for (const m of s.matchAll(DURATION_PART)) {
    if (m.index !== consumed) return undefined;
    total += Number(m[1]) * (UNIT_SECONDS[m[2] as string] as number);
    consumed += m[0].length;
  }
  return consumed === s.length ? total : undefined;
}

const ENV_NAME = /^[-._a-zA-Z][-._a-zA-Z0-9]*$/;

/**
 * Reads a ProxyConfig document over `base`. `where` names the source in errors
 * (the annotation, or the config file's field); warnings collect fields tandem
 * accepts but does not act on.
 */
export function mergeProxyConfig(base: ProxyConfigSettings, doc: unknown, where: string, warnings?: { list: string[]; source: string }): ProxyConfigSettings {
  if (doc === null || doc === undefined) return { ...base, proxyMetadata: { ...base.proxyMetadata } };
  if (typeof doc !== 'object' || Array.isArray(doc)) throw new UserError(`${where}: must be a mapping of ProxyConfig fields`);
  const d = doc as Record<string, unknown>;
  const out: ProxyConfigSettings = { ...base, proxyMetadata: { ...base.proxyMetadata } };
  for (const key of Object.keys(d)) {
    if (!ACCEPTED_IGNORED.has(key)) throw new UserError(`${where}: unknown ProxyConfig field "${key}"`);
    if (!IMPLEMENTED.includes(key) && warnings) warnings.list.push(`${warnings.source}: ProxyConfig field ${key} has no effect in tandem (no pilot-agent)`);
  }
  const hold = d.holdApplicationUntilProxyStarts;
  if (hold !== undefined && hold !== null) {
    if (typeof hold !== 'boolean') throw new UserError(`${where}: holdApplicationUntilProxyStarts must be true or false, got ${JSON.stringify(hold)}`);
    out.holdApplicationUntilProxyStarts = hold;
  }
  const drain = d.terminationDrainDuration;
  if (drain !== undefined && drain !== null) {
    const secs = typeof drain === 'string' ? parseDuration(drain) : undefined;
    if (secs === undefined || secs < 0) throw new UserError(`${where}: terminationDrainDuration ${JSON.stringify(drain)} is not a duration (e.g. "5s", "1m30s")`);
    // Envoy's --drain-time-s and the preStop sleep take whole seconds; round up so the drain is never shorter.
    out.terminationDrainSeconds = Math.ceil(secs);
  }
  const conc = d.concurrency;
  if (conc !== undefined && conc !== null) {
    if (typeof conc !== 'number' || !Number.isInteger(conc) || conc < 0 || conc > 1024) throw new UserError(`${where}: concurrency must be an integer 0-1024, got ${JSON.stringify(conc)}`);
    out.concurrency = conc;
  }
  const meta = d.proxyMetadata;
  if (meta !== undefined && meta !== null) {
    if (typeof meta !== 'object' || Array.isArray(meta)) throw new UserError(`${where}: proxyMetadata must be a mapping of environment variable names to strings`);
    for (const [k, v] of Object.entries(meta as Record<string, unknown>)) {
      if (!ENV_NAME.test(k)) throw new UserError(`${where}: proxyMetadata key "${k}" is not an environment variable name`);
      if (typeof v !== 'string') throw new UserError(`${where}: proxyMetadata.${k} must be a string, got ${JSON.stringify(v)}`);
      out.proxyMetadata[k] = v;
    }
  }
  return out;
}

/**
 * Parsed annotation texts: the replicas of a workload carry the same text, and
 * YAML parsing would otherwise dominate their admission. Parsed documents are
 * only read, never changed.
 */
const PARSED_CACHE_SIZE = 256;
const parsedCache = new LRUCache<string, object>({ max: PARSED_CACHE_SIZE });

function parseAnnotation(raw: string): unknown {
  const hit = parsedCache.get(raw);
  if (hit !== undefined) return hit;
  let doc: unknown;
  try {
    // Usually JSON; YAML (a superset) only when that fails.
    doc = JSON.parse(raw);
  } catch {
    try {
      doc = parseYaml(raw);
    } catch (err) {
      throw new UserError(`invalid annotation ${PROXY_CONFIG_ANNOTATION}: not YAML or JSON: ${(err as Error).message.split('\n')[0]}`);
    }
  }
  // Scalars are cheap to parse again; lru-cache keeps objects (and never null or undefined).
  if (typeof doc === 'object' && doc !== null) parsedCache.set(raw, doc);
  return doc;
}

/** The pod's effective ProxyConfig: the mesh default, then its `proxy.istio.io/config` annotation. */
export function podProxyConfig(base: ProxyConfigSettings, annotations: Record<string, string> | undefined, warnings: string[]): ProxyConfigSettings {
  const raw = annotations?.[PROXY_CONFIG_ANNOTATION];
  if (raw === undefined || raw.trim() === '') return base;
  return mergeProxyConfig(base, parseAnnotation(raw), `invalid annotation ${PROXY_CONFIG_ANNOTATION}`, { list: warnings, source: `annotation ${PROXY_CONFIG_ANNOTATION}` });
}
