import type { V1Container, V1EnvVar, V1LifecycleHandler, V1Probe } from '@kubernetes/client-node';
import { UserError } from '../common/errors.js';
import { parseIstioBool } from './labels.js';
import { isObject } from '../common/objects.js';

/**
 * App probe rewrite, Istio's mapping: with capture (and later mTLS) the
 * kubelet cannot reach the app's probe ports directly, so each httpGet /
 * tcpSocket / grpc probe (and httpGet / tcpSocket lifecycle hook) of an app
 * container is pointed at the proxy's status port, 15020, on
 * `/app-health/<container>/livez|readyz|startupz` (hooks:
 * `/app-lifecycle/<container>/poststartz|prestopz`), and the original is kept
 * in Istio's ISTIO_KUBE_APP_PROBERS JSON for the proxy to forward.
 */
export const REWRITE_PROBES_ANNOTATION = 'sidecar.istio.io/rewriteAppHTTPProbers';
export const KUBE_APP_PROBERS_ENV = 'ISTIO_KUBE_APP_PROBERS';
export const PROBE_STATUS_PORT = 15020;

type Port = number | string;
/** One entry of ISTIO_KUBE_APP_PROBERS, fields in the order Istio writes them. */
export interface AppProber {
  httpGet?: { path?: string; port: number; host?: string; scheme?: string; httpHeaders?: Array<{ name: string; value: string }> };
  tcpSocket?: { port: number; host?: string };
  grpc?: { port: number; service?: string };
  timeoutSeconds?: number;
}
export type AppProbers = Record<string, AppProber>;

const PROBES = [
  ['readinessProbe', 'readyz'],
  ['livenessProbe', 'livez'],
  ['startupProbe', 'startupz'],
] as const;
const HOOKS = [
  ['postStart', 'poststartz'],
  ['preStop', 'prestopz'],
] as const;

/** Go's strconv.ParseBool spellings plus Istio's y/yes/on, n/no/off. */
export function boolAnnotation(annotations: Record<string, string> | undefined, key: string, def: boolean): boolean {
  const raw = annotations?.[key];
  if (raw === undefined) return def;
  const v = raw.trim();
  if (v === '1' || v === 't' || v === 'T') return true;
  if (v === '0' || v === 'f' || v === 'F') return false;
  const b = parseIstioBool(v);
  if (b === undefined) throw new UserError(`invalid annotation ${key}="${raw}": expected "true" or "false"`);
  return b;
}

function resolvePort(port: Port | undefined, named: ReadonlyMap<string, number>): number | undefined {
  if (typeof port === 'number') return Number.isInteger(port) && port > 0 && port < 65536 ? port : undefined;
  if (typeof port !== 'string') return undefined;
  if (/^\d+$/.test(port)) return resolvePort(Number(port), named);
  return named.get(port);
}

/** The prober for a probe or hook, named ports resolved; undefined when it has nothing to forward (exec, sleep, unknown port). */
export function proberOf(handler: V1Probe | V1LifecycleHandler, named: ReadonlyMap<string, number>): AppProber | undefined {
  const timeout = (handler as V1Probe).timeoutSeconds;
  // Every prober below is built here, so it can take the field itself (last, where Istio writes it).
  const withTimeout = (p: AppProber): AppProber => {
    if (typeof timeout === 'number' && timeout > 0) p.timeoutSeconds = timeout;
    return p;
  };
  if (handler.httpGet) {
    const g = handler.httpGet;
    const port = resolvePort(g.port as Port, named);
    if (port === undefined) return undefined;
    // Go marshals struct fields in declaration order: path, port, host, scheme, httpHeaders.
    const httpGet: NonNullable<AppProber['httpGet']> = g.path ? { path: g.path, port } : { port };
    if (g.host) httpGet.host = g.host;
    if (g.scheme) httpGet.scheme = g.scheme;
    if (g.httpHeaders && g.httpHeaders.length > 0) httpGet.httpHeaders = g.httpHeaders.map((h) => ({ name: h.name, value: h.value }));
    return withTimeout({ httpGet });
  }
  if (handler.tcpSocket) {
    const port = resolvePort(handler.tcpSocket.port as Port, named);
    if (port === undefined) return undefined;
    return withTimeout({ tcpSocket: { port, ...(handler.tcpSocket.host ? { host: handler.tcpSocket.host } : {}) } });
  }
  const grpc = (handler as V1Probe).grpc;
  if (grpc) {
    const port = resolvePort(grpc.port, named);
    if (port === undefined) return undefined;
    return withTimeout({ grpc: { port, ...(grpc.service ? { service: grpc.service } : {}) } });
  }
  return undefined;
}

/** The probe the kubelet runs after the rewrite: the same timings, an HTTP GET on the status port. */
function rewrittenProbe(probe: V1Probe, path: string): V1Probe {
  const httpGet = probe.httpGet;
  const get: NonNullable<V1Probe['httpGet']> = { path, port: PROBE_STATUS_PORT };
  // HTTPS becomes HTTP to the proxy, which speaks HTTPS to the app (as Istio). The host is
  // dropped: the kubelet must reach the pod's own status port, and the proxy sends the original host.
  if (httpGet?.scheme) get.scheme = 'HTTP';
  if (httpGet?.httpHeaders) get.httpHeaders = httpGet.httpHeaders;
  // The timings stay, in their order, the handler goes last. A plain loop (object rest is several
  // times slower); an own __proto__ key would set the prototype here, so it takes the spread.
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(probe)) {
    if (k === 'httpGet' || k === 'tcpSocket' || k === 'grpc') continue;
    if (k === '__proto__') {
      const { httpGet: _get, tcpSocket: _tcp, grpc: _grpc, ...rest } = probe;
      return { ...rest, httpGet: get };
    }
    out[k] = (probe as Record<string, unknown>)[k];
  }
  out['httpGet'] = get;
  return out as V1Probe;
}

function alreadyRewritten(h: V1Probe | V1LifecycleHandler | undefined, path: string): boolean {
  const g = h?.httpGet;
  return g !== undefined && g.path === path && Number(g.port) === PROBE_STATUS_PORT;
}

/** ISTIO_KUBE_APP_PROBERS of a proxy already in the pod (a previous injection or the user's own istio-proxy). */
export function previousProbers(containers: ReadonlyArray<V1Container> | undefined): AppProbers {
  const raw = envOf(containers, KUBE_APP_PROBERS_ENV);
  if (raw === undefined) return {};
  try {
    const parsed = JSON.parse(raw) as unknown;
    return isObject(parsed) ? (parsed as AppProbers) : {};
  } catch {
    return {};
  }
}

type ProbeField = (typeof PROBES)[number][0];
type HookField = (typeof HOOKS)[number][0];
/** What the rewrite changes in one container. */
interface ContainerRewrite {
  probes: Array<[ProbeField, V1Probe]>;
  hooks: Array<[HookField, V1LifecycleHandler]>;
}

/**
 * Plans the rewrite of one app container without touching it: records the
 * originals in `out` (in the order the rewrite visits them) and returns the
 * new probes and hooks, or undefined when nothing changes.
 */
function planRewrite(c: V1Container, previous: AppProbers, canServe: (key: string, prober: AppProber) => boolean, out: AppProbers): ContainerRewrite | undefined {
  let plan: ContainerRewrite | undefined;
  const named = new Map<string, number>();
  for (const p of c.ports ?? []) if (p.name) named.set(p.name, p.containerPort);
  for (const [field, suffix] of PROBES) {
    const probe = c[field];
    if (!probe) continue;
    const key = `/app-health/${c.name}/${suffix}`;
    if (alreadyRewritten(probe, key)) {
      const prev = previous[key];
      if (prev) out[key] = prev;
      continue;
    }
    const prober = proberOf(probe, named);
    if (!prober || !canServe(key, prober)) continue;
    out[key] = prober;
    (plan ??= { probes: [], hooks: [] }).probes.push([field, rewrittenProbe(probe, key)]);
  }
  const lifecycle = c.lifecycle;
  if (!lifecycle) return plan;
  for (const [field, suffix] of HOOKS) {
    const hook = lifecycle[field];
    if (!hook) continue;
    const key = `/app-lifecycle/${c.name}/${suffix}`;
    if (alreadyRewritten(hook, key)) {
      const prev = previous[key];
      if (prev) out[key] = prev;
      continue;
    }
    if (!hook.httpGet && !hook.tcpSocket) continue;
    const prober = proberOf(hook, named);
    if (!prober || !canServe(key, prober)) continue;
    out[key] = prober;
    (plan ??= { probes: [], hooks: [] }).hooks.push([field, { httpGet: { path: key, port: PROBE_STATUS_PORT } }]);
  }
  return plan;
}

/**
 * Rewrites the probes and hooks of the app containers and returns the
 * originals keyed by path, without touching its input: each changed container
 * comes back as a new object (its other fields shared with the original) in
 * `replaced`, keyed by the original, for the caller to put in its place.
 * `canServe` says whether the proxy can forward a prober (tandem's Envoy
 * bootstrap decides): anything it cannot serve is left as the user wrote it,
 * never pointed at a path that would fail. Probes a previous injection already
 * rewrote keep their recorded original.
 */
export function rewriteAppProbesCopying(
  containers: readonly V1Container[],
  proxyName: string,
  previous: AppProbers,
  canServe: (key: string, prober: AppProber) => boolean,
): { probers: AppProbers; replaced: Map<V1Container, V1Container> } {
  const probers: AppProbers = {};
  const replaced = new Map<V1Container, V1Container>();
  for (const c of containers) {
    if (c.name === proxyName) continue;
    const plan = planRewrite(c, previous, canServe, probers);
    if (!plan) continue;
    const copy: V1Container = { ...c };
    for (const [field, probe] of plan.probes) copy[field] = probe;
    if (plan.hooks.length > 0) {
      const lifecycle = { ...c.lifecycle };
      for (const [field, hook] of plan.hooks) lifecycle[field] = hook;
      copy.lifecycle = lifecycle;
    }
    replaced.set(c, copy);
  }
  return { probers, replaced };
}

/** Go's encoding/json sorts map keys; the same text for the same probes keeps injection deterministic. */
export function probersJson(p: AppProbers): string {
  const sorted: AppProbers = {};
  for (const k of Object.keys(p).sort()) sorted[k] = p[k] as AppProber;
  return JSON.stringify(sorted);
}

/** The first value of an environment variable among containers (a previous injection's proxy). */
export function envOf(containers: ReadonlyArray<V1Container> | undefined, name: string): string | undefined {
  for (const c of containers ?? []) {
    const v = c.env?.find((e) => e.name === name)?.value;
    if (v !== undefined) return v;
  }
  return undefined;
}

/** Sets (or replaces) one environment variable of a container. */
export function setEnv(c: V1Container, name: string, value: string): void {
  const env: V1EnvVar[] = (c.env ??= []);
  const i = env.findIndex((e) => e.name === name);
  if (i >= 0) env[i] = { name, value };
  else env.push({ name, value });
}
