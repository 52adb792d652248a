import { parse as parseYaml } from 'yaml';
import { UserError } from '../../common/errors.js';
import { isDns1123Label, isPort } from '../../common/names.js';
import { isObject } from '../../common/objects.js';
// ProxyConfig and label selectors are parsed where the injector already parses them, so the mesh
// config and the injector cannot disagree (both modules are pure; they would sit better in config/ or common/).
import { DEFAULT_PROXY_CONFIG, mergeProxyConfig, type ProxyConfigSettings } from './proxy-config.js';
import { selectorProblem, type LabelSelector } from '../../common/label-selectors.js';

/**
 * The part of Istio's MeshConfig (`istio.io/api/mesh/v1alpha1`) tandem honours, with defaults filled.
 * config/README.md documents every field; Istio's code defaults are kept except `rootNamespace`, which
 * follows Istio's install (the control plane's own namespace): `tandem-system`.
 */
export type OutboundTrafficMode = 'ALLOW_ANY' | 'REGISTRY_ONLY';
export type AccessLogEncoding = 'TEXT' | 'JSON';

export interface ZipkinProvider {
  name: string;
  kind: 'zipkin';
  service: string;
  port: number;
  /** longest tag value kept (Istio default 256) */
  maxTagLength: number;
  enable64bitTraceId: boolean;
}

export interface OpenTelemetryProvider {
  name: string;
  kind: 'opentelemetry';
  service: string;
  port: number;
  maxTagLength: number;
  /** OTLP over HTTP to this path when set; OTLP over gRPC otherwise (Istio's rule) */
  httpPath: string | undefined;
}

export interface EnvoyFileAccessLogProvider {
  name: string;
  kind: 'envoyFileAccessLog';
  path: string;
  /** Envoy format string (text) or JSON labels; neither = Istio's default format */
  text: string | undefined;
  labels: Record<string, string> | undefined;
}

/** A provider type Istio has and tandem does not implement: kept so names resolve, warned at parse time. */
export interface UnsupportedProvider {
  name: string;
  kind: 'unsupported';
  type: string;
}

export type ExtensionProvider = ZipkinProvider | OpenTelemetryProvider | EnvoyFileAccessLogProvider | UnsupportedProvider;

export interface DefaultProviders {
  tracing: string[];
  metrics: string[];
  accessLogging: string[];
}

export interface MeshConfig {
  rootNamespace: string;
  trustDomain: string;
  outboundTrafficPolicy: { mode: OutboundTrafficMode };
  /** OR of label selectors over namespaces; empty = every namespace */
  discoverySelectors: LabelSelector[];
  defaultConfig: ProxyConfigSettings;
  defaultServiceExportTo: string[];
  defaultVirtualServiceExportTo: string[];
  defaultDestinationRuleExportTo: string[];
  accessLogFile: string;
  accessLogEncoding: AccessLogEncoding;
  accessLogFormat: string;
  enableTracing: boolean;
  extensionProviders: ExtensionProvider[];
  defaultProviders: DefaultProviders;
}

export const DEFAULT_ROOT_NAMESPACE = 'tandem-system';

/** Istio's DefaultMeshConfig() values for the fields above (rootNamespace aside, see the type's comment). */
export function defaultMeshConfig(): MeshConfig {
  return {
    rootNamespace: DEFAULT_ROOT_NAMESPACE,
    trustDomain: 'cluster.local',
    outboundTrafficPolicy: { mode: 'ALLOW_ANY' },
    discoverySelectors: [],
    defaultConfig: { ...DEFAULT_PROXY_CONFIG, proxyMetadata: { ...DEFAULT_PROXY_CONFIG.proxyMetadata } },
    defaultServiceExportTo: ['*'],
    defaultVirtualServiceExportTo: ['*'],
    defaultDestinationRuleExportTo: ['*'],
    accessLogFile: '',
    accessLogEncoding: 'TEXT',
    accessLogFormat: '',
    enableTracing: true,
    extensionProviders: [
      { name: 'prometheus', kind: 'unsupported', type: 'prometheus' },
      { name: 'stackdriver', kind: 'unsupported', type: 'stackdriver' },
      { name: 'envoy', kind: 'envoyFileAccessLog', path: '/dev/stdout', text: undefined, labels: undefined },
    ],
    defaultProviders: { tracing: [], metrics: [], accessLogging: [] },
  };
}

/** Istio MeshConfig fields tandem reads but does not act on: a warning says so, not "unknown". */
const ISTIO_FIELDS_NOT_HONOURED = new Set([
  'proxyListenPort', 'proxyInboundListenPort', 'proxyHttpPort', 'connectTimeout', 'protocolDetectionTimeout', 'tcpKeepalive',
  'ingressClass', 'ingressService', 'ingressControllerMode', 'ingressSelector', 'enableEnvoyAccessLogService',
  'disableEnvoyListenerLog', 'inboundTrafficPolicy', 'configSources', 'enableAutoMtls', 'trustDomainAliases',
  'caCertificates', 'localityLbSetting', 'dnsRefreshRate', 'h2UpgradePolicy', 'inboundClusterStatName',
  'outboundClusterStatName', 'certificates', 'thriftConfig', 'serviceSettings', 'enablePrometheusMerge',
  'verifyCertificateAtClient', 'ca', 'pathNormalization', 'defaultHttpRetryPolicy', 'meshMTLS', 'tlsDefaults',
  'serviceScopeConfigs', 'mixerCheckServer', 'mixerReportServer', 'disablePolicyChecks', 'policyCheckFailOpen',
  'sidecarToTelemetrySessionAffinity', 'authPolicy', 'rdsRefreshDelay', 'sdsUdsPath', 'enableSdsTokenMount',
  'sdsUseK8sSaJwt', 'outboundClusterStatName', 'meshId', 'network',
]);

/** Provider types Istio's ExtensionProvider has besides the three tandem implements. */
const OTHER_PROVIDER_TYPES = new Set([
  'envoyExtAuthzHttp', 'envoyExtAuthzGrpc', 'lightstep', 'datadog', 'stackdriver', 'opencensus', 'skywalking',
  'prometheus', 'envoyHttpAls', 'envoyTcpAls', 'envoyOtelAls', 'sds',
]);

export interface ParsedMeshConfig {
  mesh: MeshConfig;
  /** fields accepted without effect, unknown fields, unsupported providers: one line each, naming the source */
  warnings: string[];
}

/** Collects every wrong field (refused together, so one edit fixes them all) and every warning. */
class FieldReader {
  readonly problems: string[] = [];
  readonly warnings: string[] = [];
  constructor(private readonly source: string) {}
  fail(path: string, message: string): undefined {
    this.problems.push(`${path}: ${message}`);
    return undefined;
  }
  warn(path: string, message: string): void {
    this.warnings.push(`${this.source}: ${path}: ${message}`);
  }
  string(path: string, v: unknown): string | undefined {
    return typeof v === 'string' ? v : this.fail(path, `must be a string, got ${JSON.stringify(v)}`);
  }
  bool(path: string, v: unknown): boolean | undefined {
    return typeof v === 'boolean' ? v : this.fail(path, `must be true or false, got ${JSON.stringify(v)}`);
  }
  oneOf<T extends string>(path: string, v: unknown, allowed: readonly T[]): T | undefined {
    return typeof v === 'string' && (allowed as readonly string[]).includes(v) ? (v as T) : this.fail(path, `must be one of ${allowed.join(', ')}, got ${JSON.stringify(v)}`);
  }
  /** protobuf JSON accepts an int32 as a number or a decimal string */
  port(path: string, v: unknown): number | undefined {
    if ((typeof v === 'number' || typeof v === 'string') && isPort(v)) return Number(v);
    return this.fail(path, `must be a port number 1-65535, got ${JSON.stringify(v)}`);
  }
  count(path: string, v: unknown): number | undefined {
    const n = typeof v === 'string' && /^[0-9]+$/.test(v) ? Number(v) : v;
    return typeof n === 'number' && Number.isInteger(n) && n >= 0 ? n : this.fail(path, `must be a non-negative integer, got ${JSON.stringify(v)}`);
  }
  stringList(path: string, v: unknown): string[] | undefined {
    if (!Array.isArray(v)) return this.fail(path, `must be a list of strings, got ${JSON.stringify(v)}`);
    const bad = v.findIndex((s) => typeof s !== 'string');
    return bad < 0 ? (v as string[]) : this.fail(`${path}[${bad}]`, `must be a string, got ${JSON.stringify(v[bad])}`);
  }
  mapping(path: string, v: unknown): Record<string, unknown> | undefined {
    return isObject(v) ? v : this.fail(path, `must be a mapping, got ${JSON.stringify(v)}`);
  }
  /** Warns about keys outside `known` (Istio's schemas grow; an unknown key is not fatal). */
  known(path: string, o: Record<string, unknown>, known: readonly string[]): void {
    for (const k of Object.keys(o)) if (!known.includes(k)) this.warn(`${path}.${k}`, 'unknown field, ignored');
  }
}

const TRUST_DOMAIN = /^[a-z0-9._-]+$/;
const EXPORT_TO = (s: string): boolean => s === '*' || s === '.' || s === '~' || isDns1123Label(s);

/**
 * Parses Istio's mesh config YAML (the `mesh` key of Istio's ConfigMap, or a `--mesh-config` file) over
 * the defaults. Pure. Wrong types and values are refused with a UserError naming `source` and every
 * field path; unknown and not-honoured fields only warn. As in Istio, given fields replace the default,
 * except `defaultConfig` (merged field by field) and `extensionProviders` (merged by provider name).
 */
export function parseMeshConfig(text: string, source: string): ParsedMeshConfig {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new UserError(`${source}: not YAML: ${(err as Error).message.split('\n')[0]}`);
  }
  const mesh = defaultMeshConfig();
  const r = new FieldReader(source);
  if (doc === null || doc === undefined) return { mesh, warnings: [] };
  if (!isObject(doc)) throw new UserError(`${source}: must be a mapping of MeshConfig fields`);

  for (const [key, v] of Object.entries(doc)) {
    // protobuf JSON treats null as "unset"
    if (v === null) continue;
    switch (key) {
      case 'rootNamespace': {
        const s = r.string(key, v);
        if (s !== undefined) mesh.rootNamespace = isDns1123Label(s) ? s : (r.fail(key, `must be a namespace name (DNS-1123 label), got ${JSON.stringify(s)}`) ?? mesh.rootNamespace);
        break;
      }
      case 'trustDomain': {
        const s = r.string(key, v);
        if (s !== undefined) mesh.trustDomain = TRUST_DOMAIN.test(s) ? s : (r.fail(key, `must be a trust domain (lowercase letters, digits, ".", "-", "_"), got ${JSON.stringify(s)}`) ?? mesh.trustDomain);
        break;
      }
      case 'outboundTrafficPolicy': {
        const o = r.mapping(key, v);
        if (!o) break;
        r.known(key, o, ['mode', 'egressProxy']);
        if (o['egressProxy'] !== undefined) r.warn(`${key}.egressProxy`, 'has no effect in tandem');
        if (o['mode'] !== undefined) {
          const mode = r.oneOf(`${key}.mode`, o['mode'], ['ALLOW_ANY', 'REGISTRY_ONLY'] as const);
          if (mode) mesh.outboundTrafficPolicy = { mode };
        }
        break;
      }
      case 'discoverySelectors': {
        if (!Array.isArray(v)) {
          r.fail(key, 'must be a list of label selectors');
          break;
        }
        const sels: LabelSelector[] = [];
        v.forEach((s, i) => {
          const problem = selectorProblem(s);
          if (problem) r.fail(`${key}[${i}]`, problem);
          else sels.push(s as LabelSelector);
        });
        mesh.discoverySelectors = sels;
        break;
      }
      case 'defaultConfig': {
        const warnings = { list: [] as string[], source: `${source}: defaultConfig` };
        try {
          mesh.defaultConfig = mergeProxyConfig(mesh.defaultConfig, v, 'defaultConfig', warnings);
        } catch (err) {
          r.problems.push((err as Error).message);
        }
        r.warnings.push(...warnings.list);
        break;
      }
      case 'defaultServiceExportTo':
      case 'defaultVirtualServiceExportTo':
      case 'defaultDestinationRuleExportTo': {
        const list = r.stringList(key, v);
        if (!list) break;
        const bad = list.findIndex((s) => !EXPORT_TO(s));
        if (bad >= 0) r.fail(`${key}[${bad}]`, `must be "*", "." or a namespace name, got ${JSON.stringify(list[bad])}`);
        else mesh[key] = [...list];
        break;
      }
      case 'accessLogFile':
      case 'accessLogFormat': {
        const s = r.string(key, v);
        if (s !== undefined) mesh[key] = s;
        break;
      }
      case 'accessLogEncoding': {
        const e = r.oneOf(key, v, ['TEXT', 'JSON'] as const);
        if (e) mesh.accessLogEncoding = e;
        break;
      }
      case 'enableTracing': {
        const b = r.bool(key, v);
        if (b !== undefined) mesh.enableTracing = b;
        break;
      }
      case 'extensionProviders':
        mesh.extensionProviders = mergeProviders(mesh.extensionProviders, readProviders(r, v));
        break;
      case 'defaultProviders': {
        const o = r.mapping(key, v);
        if (!o) break;
        r.known(key, o, ['tracing', 'metrics', 'accessLogging']);
        for (const f of ['tracing', 'metrics', 'accessLogging'] as const) {
          if (o[f] === undefined || o[f] === null) continue;
          const list = r.stringList(`${key}.${f}`, o[f]);
          if (list) mesh.defaultProviders[f] = [...list];
        }
        break;
      }
      default:
        r.warn(key, ISTIO_FIELDS_NOT_HONOURED.has(key) ? 'has no effect in tandem' : 'unknown MeshConfig field, ignored');
    }
  }
  if (mesh.accessLogEncoding === 'JSON' && mesh.accessLogFormat !== '') {
    const problem = jsonFormatProblem(mesh.accessLogFormat);
    // Istio accepts such a config and logs with its default labels; so does tandem, saying so
    if (problem) r.warn('accessLogFormat', `with accessLogEncoding JSON must be a JSON object of log labels (${problem}); Istio's default JSON labels are used`);
  }
  const names = new Set(mesh.extensionProviders.map((p) => p.name));
  for (const f of ['tracing', 'metrics', 'accessLogging'] as const) {
    mesh.defaultProviders[f].forEach((n, i) => {
      if (!names.has(n)) r.fail(`defaultProviders.${f}[${i}]`, `names no extension provider (known: ${[...names].join(', ')}), got ${JSON.stringify(n)}`);
    });
  }
  if (r.problems.length > 0) throw new UserError(`${source}: ${r.problems.join('; ')}`);
  return { mesh, warnings: r.warnings };
}

function readProviders(r: FieldReader, v: unknown): ExtensionProvider[] {
  if (!Array.isArray(v)) return r.fail('extensionProviders', 'must be a list') ?? [];
  const out: ExtensionProvider[] = [];
  const seen = new Set<string>();
  v.forEach((raw, i) => {
    const at = `extensionProviders[${i}]`;
    const o = r.mapping(at, raw);
    if (!o) return;
    const name = o['name'];
    if (typeof name !== 'string' || name === '') return void r.fail(`${at}.name`, `must be a non-empty string, got ${JSON.stringify(name)}`);
    if (seen.has(name)) return void r.fail(`${at}.name`, `duplicate provider name ${JSON.stringify(name)}`);
    seen.add(name);
    const types = Object.keys(o).filter((k) => k !== 'name');
    if (types.length !== 1) return void r.fail(at, `must set exactly one provider type besides name, got ${types.length === 0 ? 'none' : types.join(', ')}`);
    const type = types[0] as string;
    const p = provider(r, `${at}.${type}`, name, type, o[type]);
    if (p) out.push(p);
  });
  return out;
}

function provider(r: FieldReader, at: string, name: string, type: string, raw: unknown): ExtensionProvider | undefined {
  if (OTHER_PROVIDER_TYPES.has(type)) {
    r.warn(at, `provider type ${type} is not implemented by tandem; "${name}" has no effect`);
    return { name, kind: 'unsupported', type };
  }
  const o = r.mapping(at, raw ?? {});
  if (!o) return undefined;
  switch (type) {
    case 'zipkin':
    case 'opentelemetry': {
      r.known(at, o, type === 'zipkin' ? ['service', 'port', 'maxTagLength', 'enable64bitTraceId', 'traceContextOption', 'path', 'timeout', 'headers'] : ['service', 'port', 'maxTagLength', 'http', 'grpc', 'resourceDetectors', 'dynatraceSampler']);
      const service = o['service'] === undefined ? r.fail(`${at}.service`, 'is required') : r.string(`${at}.service`, o['service']);
      if (service === '') r.fail(`${at}.service`, 'must not be empty');
      const port = o['port'] === undefined ? r.fail(`${at}.port`, 'is required') : r.port(`${at}.port`, o['port']);
      const maxTagLength = o['maxTagLength'] === undefined ? 256 : r.count(`${at}.maxTagLength`, o['maxTagLength']);
      if (service === undefined || port === undefined || maxTagLength === undefined) return undefined;
      if (type === 'zipkin') {
        const b = o['enable64bitTraceId'] === undefined ? false : r.bool(`${at}.enable64bitTraceId`, o['enable64bitTraceId']);
        return b === undefined ? undefined : { name, kind: 'zipkin', service, port, maxTagLength: maxTagLength || 256, enable64bitTraceId: b };
      }
      let httpPath: string | undefined;
      if (o['http'] !== undefined) {
        const http = r.mapping(`${at}.http`, o['http']);
        if (!http) return undefined;
        httpPath = http['path'] === undefined ? '/v1/traces' : r.string(`${at}.http.path`, http['path']);
        if (httpPath === undefined) return undefined;
      }
      return { name, kind: 'opentelemetry', service, port, maxTagLength: maxTagLength || 256, httpPath };
    }
    case 'envoyFileAccessLog': {
      r.known(at, o, ['path', 'logFormat']);
      const path = o['path'] === undefined ? '' : r.string(`${at}.path`, o['path']);
      let text: string | undefined;
      let labels: Record<string, string> | undefined;
      if (o['logFormat'] !== undefined) {
        const lf = r.mapping(`${at}.logFormat`, o['logFormat']);
        if (!lf) return undefined;
        r.known(`${at}.logFormat`, lf, ['text', 'labels', 'omitEmptyValues']);
        if (lf['text'] !== undefined && lf['labels'] !== undefined) return r.fail(`${at}.logFormat`, 'sets both text and labels');
        if (lf['text'] !== undefined) text = r.string(`${at}.logFormat.text`, lf['text']);
        if (lf['labels'] !== undefined) {
          const l = r.mapping(`${at}.logFormat.labels`, lf['labels']);
          // Istio's labels are a protobuf Struct: values may be strings or nested; tandem takes string values.
          const bad = l ? Object.entries(l).find(([, x]) => typeof x !== 'string') : undefined;
          if (bad) return r.fail(`${at}.logFormat.labels.${bad[0]}`, `must be a string, got ${JSON.stringify(bad[1])}`);
          labels = l as Record<string, string> | undefined;
        }
      }
      return path === undefined ? undefined : { name, kind: 'envoyFileAccessLog', path, text, labels };
    }
    default:
      r.warn(at, `unknown provider type ${type}; "${name}" has no effect`);
      return { name, kind: 'unsupported', type };
  }
}

/** Istio's merge: a given provider replaces the default of the same name; new names are appended. */
function mergeProviders(defaults: ExtensionProvider[], given: ExtensionProvider[]): ExtensionProvider[] {
  const out = defaults.map((d) => given.find((g) => g.name === d.name) ?? d);
  for (const g of given) if (!defaults.some((d) => d.name === g.name)) out.push(g);
  return out;
}

/** Why a JSON access-log format is unusable (Envoy's json_format is an object), or undefined. */
export function jsonFormatProblem(format: string): string | undefined {
  let v: unknown;
  try {
    v = JSON.parse(format);
  } catch (err) {
    return (err as Error).message;
  }
  return isObject(v) ? undefined : `got ${JSON.stringify(v)}`;
}
