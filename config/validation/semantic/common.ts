import { isIP } from 'node:net';
import { isObject } from '../../../common/objects.js';
import { isDns1123Label, isDns1123Subdomain, isPort } from '../../../common/names.js';
import type { ConfigProblem } from '../../model.js';
import { re2Problem } from '../regex.js';

/**
 * The building blocks of Istio's semantic rules (istio/istio pkg/config/validation), shared by every
 * kind's validator. All are pure: they read untyped input (the structural pass has already refused wrong
 * types, but these never assume it) and append problems with the field path.
 */

export class Problems {
  readonly list: ConfigProblem[] = [];
  add(path: string, message: string): void {
    this.list.push({ path, message });
  }
}

export type Json = Record<string, unknown>;

/** A field as an object (null and other types read as absent: the structural pass reports them). */
export function obj(v: unknown): Json | undefined {
  return isObject(v) ? v : undefined;
}

export function arr(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}

export function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

export function num(v: unknown): number | undefined {
  return typeof v === 'number' ? v : undefined;
}

export function entries(v: unknown): [string, unknown][] {
  return isObject(v) ? Object.entries(v) : [];
}

export function has(o: Json | undefined, key: string): boolean {
  return o !== undefined && o[key] !== undefined && o[key] !== null;
}

// ---- durations ---------------------------------------------------------------

const UNIT_MS: Record<string, number> = { ns: 1e-6, us: 1e-3, 'µs': 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Go's time.ParseDuration (the form Istio's YAML and Kubernetes CEL accept) in milliseconds; undefined if malformed. */
export function parseDuration(s: string): number | undefined {
  if (!/^([0-9]*(\.[0-9]*)?(ns|us|µs|ms|s|m|h))+$/.test(s)) return s === '0' ? 0 : undefined;
  let total = 0;
  for (const m of s.matchAll(/([0-9]*(?:\.[0-9]*)?)(ns|us|µs|ms|s|m|h)/g)) {
    const n = Number(m[1]);
    if (m[1] === '' || m[1] === '.' || !Number.isFinite(n)) return undefined;
    total += n * (UNIT_MS[m[2] ?? ''] ?? NaN);
  }
  return Number.isFinite(total) ? total : undefined;
}

/** Istio's ValidateDuration: at least 1ms and whole milliseconds. */
export function checkDuration(p: Problems, path: string, v: unknown, opts: { wholeSeconds?: boolean } = {}): number | undefined {
  if (v === undefined || v === null) return undefined;
  const s = str(v);
  const ms = s === undefined ? undefined : parseDuration(s);
  if (ms === undefined) {
    p.add(path, `invalid duration ${JSON.stringify(v)} (expected a number with a unit: ms, s, m, h)`);
    return undefined;
  }
  if (ms < 1) p.add(path, 'duration must be greater than 1ms');
  else if (!Number.isInteger(ms)) p.add(path, 'only durations to ms precision are supported');
  else if (opts.wholeSeconds && ms % 1000 !== 0) p.add(path, 'duration is accurate only to seconds precision');
  return ms;
}

// ---- names, hosts, addresses ----------------------------------------------------

/** Istio's DNS-1123 label (case-insensitive, unlike Kubernetes object names). */
const ISTIO_LABEL = /^[a-zA-Z0-9](?:[-a-zA-Z0-9]*[a-zA-Z0-9])?$/;
const WILDCARD_LABEL = /^(?:\*|(?:\*|\*-)?[a-zA-Z0-9](?:[-a-zA-Z0-9]*[a-zA-Z0-9])?)$/;

function labelsProblem(domain: string, whole: string): string | undefined {
  for (const l of domain.split('.')) {
    if (l.length > 63 || !ISTIO_LABEL.test(l)) return `domain name "${whole}" invalid (label "${l}" invalid)`;
  }
  return undefined;
}

/** Istio's ValidateWildcardDomain: `*`, `*.example.com`, `*foo.example.com` or a plain domain; at most 255 chars. */
export function wildcardDomainProblem(domain: string): string | undefined {
  if (domain.length === 0) return 'empty domain name not allowed';
  if (domain.length > 255) return `domain name "${domain}" too long (max 255)`;
  const dot = domain.indexOf('.');
  const first = dot < 0 ? domain : domain.slice(0, dot);
  if (first.length > 63 || !WILDCARD_LABEL.test(first)) return `domain name "${domain}" invalid (label "${first}" invalid)`;
  return dot < 0 ? undefined : labelsProblem(domain.slice(dot + 1), domain);
}

export function checkWildcardHost(p: Problems, path: string, v: unknown): void {
  const s = str(v);
  if (s === undefined) return;
  const problem = wildcardDomainProblem(s);
  if (problem !== undefined) p.add(path, problem);
}

export function isIpAddress(s: string): boolean {
  return isIP(s) !== 0;
}

export function isCidr(s: string): boolean {
  const [ip, bits, extra] = s.split('/');
  if (extra !== undefined || ip === undefined || bits === undefined || !/^\d{1,3}$/.test(bits)) return false;
  const family = isIP(ip);
  return family !== 0 && Number(bits) <= (family === 4 ? 32 : 128);
}

export function isIpOrCidr(s: string): boolean {
  return isIpAddress(s) || isCidr(s);
}

export function checkPort(p: Problems, path: string, v: unknown): void {
  if (v === undefined || v === null) return;
  if ((typeof v !== 'number' && typeof v !== 'string') || !isPort(typeof v === 'number' ? v : String(v))) p.add(path, `port number ${JSON.stringify(v)} must be in the range 1..65535`);
}

export function checkNamespace(p: Problems, path: string, v: unknown): void {
  const s = str(v);
  if (s !== undefined && !isDns1123Label(s)) p.add(path, `invalid namespace "${s}": must be a DNS-1123 label`);
}

export function checkDns1123Label(p: Problems, path: string, v: unknown, what: string): void {
  const s = str(v);
  if (s !== undefined && !isDns1123Label(s)) p.add(path, `${what} "${s}" must be a DNS-1123 label (lower case letters, digits and '-', at most 63 characters)`);
}

// ---- labels and selectors ----------------------------------------------------------

const QUALIFIED_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;

/** Kubernetes label key and value rules (Istio's labels.Instance.Validate). */
export function checkLabels(p: Problems, path: string, v: unknown): void {
  for (const [k, val] of entries(v)) {
    const at = `${path}[${k}]`;
    const slash = k.lastIndexOf('/');
    const prefix = slash < 0 ? undefined : k.slice(0, slash);
    const name = slash < 0 ? k : k.slice(slash + 1);
    if ((prefix !== undefined && !isDns1123Subdomain(prefix)) || name.length > 63 || !QUALIFIED_NAME.test(name)) {
      p.add(at, `invalid label key "${k}"`);
    }
    const s = str(val);
    if (s !== undefined && s !== '' && (s.length > 63 || !QUALIFIED_NAME.test(s))) p.add(at, `invalid label value "${s}"`);
  }
}

/** A `selector`/`workloadSelector` with `matchLabels` (security) or `labels` (networking). */
export function checkSelector(p: Problems, path: string, v: unknown, field: 'matchLabels' | 'labels'): void {
  const sel = obj(v);
  if (sel === undefined) return;
  checkLabels(p, `${path}.${field}`, sel[field]);
}

// ---- exportTo ---------------------------------------------------------------------

/** Istio's exportTo: `.`, `*`, `~` or namespace names; `*` and `~` stand alone; no duplicates. */
export function checkExportTo(p: Problems, path: string, v: unknown): void {
  const list = arr(v);
  const seen = new Set<string>();
  list.forEach((e, i) => {
    const s = str(e);
    if (s === undefined) return;
    if (seen.has(s)) p.add(`${path}[${i}]`, `duplicate entry "${s}" in exportTo`);
    seen.add(s);
    if (s !== '.' && s !== '*' && s !== '~' && !isDns1123Label(s)) p.add(`${path}[${i}]`, `invalid exportTo value "${s}": must be ".", "*", "~" or a namespace name`);
  });
  if (seen.has('*') && seen.size > 1) p.add(path, 'cannot have both public (*) and non-public exportTo values');
  if (seen.has('~') && seen.size > 1) p.add(path, 'if ~ is specified it must be the only exportTo value');
}

// ---- HTTP ---------------------------------------------------------------------------

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

export function checkHeaderName(p: Problems, path: string, name: string): void {
  if (name === '') p.add(path, 'header name must not be empty');
  else if (!TOKEN.test(name.startsWith(':') ? name.slice(1) : name)) p.add(path, `invalid header name "${name}"`);
}

/** Header names a route may add/set/remove: not pseudo-headers nor Host (Envoy owns them); authority only where allowed. */
export function checkHeaderOperationName(p: Problems, path: string, name: string, authorityAllowed: boolean): void {
  checkHeaderName(p, path, name);
  const lower = name.toLowerCase();
  const authority = lower === ':authority' || lower === 'host';
  if ((name.startsWith(':') || lower === 'host') && !(authority && authorityAllowed)) p.add(path, `invalid header "${name}": pseudo-headers and Host cannot be modified`);
}

/** A StringMatch (`exact` / `prefix` / `regex`): the regex must be RE2 (what Envoy compiles). */
export function checkStringMatch(p: Problems, path: string, v: unknown): void {
  const m = obj(v);
  if (m === undefined) return;
  const re = str(m.regex);
  if (re !== undefined) {
    const bad = re2Problem(re);
    if (bad !== undefined) p.add(`${path}.regex`, bad);
  }
}

export function checkRegex(p: Problems, path: string, v: unknown): void {
  const s = str(v);
  if (s === undefined) return;
  const bad = re2Problem(s);
  if (bad !== undefined) p.add(path, bad);
}

/** `{value: 0..100}` percentages (fault, mirror). */
export function checkPercentage(p: Problems, path: string, v: unknown): void {
  const value = num(obj(v)?.value);
  if (value !== undefined && (value < 0 || value > 100)) p.add(`${path}.value`, `percentage ${value} must be in the range 0..100`);
}

export const PROTOCOLS = new Set(['HTTP', 'HTTPS', 'GRPC', 'GRPC-WEB', 'HTTP2', 'MONGO', 'REDIS', 'MYSQL', 'TCP', 'TLS', 'UDP', 'THRIFT', 'HBONE', 'DUBBO', 'MQTT']);

export function checkProtocol(p: Problems, path: string, v: unknown): void {
  const s = str(v);
  if (s !== undefined && !PROTOCOLS.has(s.toUpperCase())) p.add(path, `unsupported protocol "${s}"`);
}

/** A `Port` of Gateway servers and Sidecar listeners: number, protocol, name. */
export function checkServicePort(p: Problems, path: string, v: unknown, opts: { numberRequired: boolean }): void {
  const port = obj(v);
  if (port === undefined) return;
  if (port.number === undefined && opts.numberRequired) p.add(`${path}.number`, 'port number is required');
  else checkPort(p, `${path}.number`, port.number);
  checkProtocol(p, `${path}.protocol`, port.protocol);
  checkPort(p, `${path}.targetPort`, port.targetPort);
}

/** `ns/host` (Sidecar egress, Gateway server hosts): ns is `*`, `.`, `~` or a namespace; host `*` or a wildcard domain. */
export function checkNamespacedHost(p: Problems, path: string, v: unknown, opts: { namespaceRequired: boolean }): void {
  const s = str(v);
  if (s === undefined) return;
  const parts = s.split('/');
  if (parts.length > 2 || (parts.length === 1 && opts.namespaceRequired)) {
    p.add(path, `host "${s}" must be of the form namespace/dnsName`);
    return;
  }
  const [ns, host] = parts.length === 2 ? [parts[0] ?? '', parts[1] ?? ''] : ['*', parts[0] ?? ''];
  if (ns !== '*' && ns !== '.' && ns !== '~' && !isDns1123Label(ns)) p.add(path, `invalid namespace "${ns}" in host "${s}": must be "*", ".", "~" or a namespace name`);
  if (host !== '*') {
    const problem = wildcardDomainProblem(host);
    if (problem !== undefined) p.add(path, problem);
  }
}
