/**
 * The Telemetry API (`telemetry.istio.io` `Telemetry`) for one proxy, with Istio's precedence: the
 * root namespace's namespace-wide object (mesh-wide), then the proxy namespace's namespace-wide one,
 * then the proxy namespace's objects whose `selector.matchLabels` the proxy's labels satisfy — later
 * ones override earlier ones. A namespace-wide object is the oldest one without a selector. Objects
 * with `targetRef(s)` attach to gateways and waypoints, not sidecars, and are left out. Pure; the
 * decisions here (which providers log, which provider traces) become Envoy config in access-log.ts
 * and tracing.ts.
 */
import type { TelemetrySpec } from '../../../../config/kinds.js';
import { isKind, type TypedConfig } from '../../../../config/kinds.js';
import type { ExtensionProvider } from '../../../../config/mesh/mesh-config.js';
import type { MeshTelemetry } from '../../../model/options.js';
import type { MeshProxy } from '../../../model/proxy.js';
import type { MeshSnapshot } from '../../../model/snapshot.js';

/** Istio's workload modes: CLIENT is a sidecar's outbound side, SERVER its inbound side. */
export type WorkloadMode = 'CLIENT' | 'SERVER';

type AccessLogging = NonNullable<TelemetrySpec['accessLogging']>[number];
type Tracing = NonNullable<TelemetrySpec['tracing']>[number];
type CustomTag = NonNullable<Tracing['customTags']>[string];

const telemetryIndexes = new WeakMap<MeshSnapshot, ReadonlyMap<string, readonly TypedConfig<'Telemetry'>[]>>();

/** The snapshot's Telemetry objects by namespace, oldest first (the snapshot keeps creation order). */
function telemetriesByNamespace(snapshot: MeshSnapshot): ReadonlyMap<string, readonly TypedConfig<'Telemetry'>[]> {
  let index = telemetryIndexes.get(snapshot);
  if (!index) {
    const m = new Map<string, TypedConfig<'Telemetry'>[]>();
    for (const c of snapshot.configs.values()) {
      if (!isKind(c, 'Telemetry')) continue;
      const list = m.get(c.metadata.namespace);
      if (list) list.push(c);
      else m.set(c.metadata.namespace, [c]);
    }
    index = m;
    telemetryIndexes.set(snapshot, index);
  }
  return index;
}

function hasTargetRef(s: TelemetrySpec): boolean {
  return s.targetRef !== undefined || (s.targetRefs?.length ?? 0) > 0;
}

function selectorLabels(s: TelemetrySpec): Readonly<Record<string, string>> {
  return s.selector?.matchLabels ?? {};
}

function namespaceWide(list: readonly TypedConfig<'Telemetry'>[] | undefined): TelemetrySpec | undefined {
  return list?.find((c) => Object.keys(selectorLabels(c.spec)).length === 0 && !hasTargetRef(c.spec))?.spec;
}

/** The Telemetry specs that apply to a proxy, least specific first. */
export function applicableTelemetries(snapshot: MeshSnapshot, proxy: MeshProxy): TelemetrySpec[] {
  const index = telemetriesByNamespace(snapshot);
  const root = snapshot.options.rootNamespace;
  const out: TelemetrySpec[] = [];
  const rootWide = namespaceWide(index.get(root));
  if (rootWide) out.push(rootWide);
  if (proxy.namespace !== root) {
    const nsWide = namespaceWide(index.get(proxy.namespace));
    if (nsWide) out.push(nsWide);
  }
  for (const c of index.get(proxy.namespace) ?? []) {
    const sel = selectorLabels(c.spec);
    if (Object.keys(sel).length === 0 || hasTargetRef(c.spec)) continue;
    if (Object.entries(sel).every(([k, v]) => proxy.labels[k] === v)) out.push(c.spec);
  }
  return out;
}

/** Istio looks providers up by name, ignoring case. */
export function findProvider(mesh: MeshTelemetry, name: string): ExtensionProvider | undefined {
  const lower = name.toLowerCase();
  return mesh.extensionProviders.find((p) => p.name.toLowerCase() === lower);
}

function matchesMode(match: { mode?: string } | undefined, mode: WorkloadMode): boolean {
  return !match?.mode || match.mode === 'CLIENT_AND_SERVER' || match.mode === mode;
}

function providerNames(refs: readonly { name: string }[] | undefined): string[] {
  return (refs ?? []).map((r) => r.name);
}

export interface LoggingDecision {
  provider: string;
  disabled: boolean;
  /** a CEL expression: log only what it matches */
  filter: string | undefined;
}

/**
 * Which providers log for a proxy in one mode: undefined when neither a Telemetry nor
 * `defaultProviders.accessLogging` says anything (then the mesh config's `accessLogFile` decides).
 * Istio's merge: the providers of the most specific level that names any are in scope; walking from
 * mesh-wide to workload, an entry without providers inherits its parent's, `disabled` switches a
 * provider off and a later enabling entry switches it on again; the filter is the one last given
 * with the provider.
 */
export function accessLoggingDecisions(specs: readonly TelemetrySpec[], mesh: MeshTelemetry, mode: WorkloadMode): LoggingDecision[] | undefined {
  const levels: AccessLogging[][] = specs.map((s) => s.accessLogging ?? []).filter((l) => l.length > 0);
  const defaults = mesh.defaultProviders.accessLogging;
  if (levels.length === 0 && defaults.length === 0) return undefined;
  const decided = new Map<string, { disabled: boolean; filter: string | undefined }>();
  if (levels.length === 0) {
    for (const d of defaults) decided.set(d, { disabled: false, filter: undefined });
  } else {
    let inScopeNames = defaults;
    const filters = new Map<string, string | undefined>();
    for (const level of levels) {
      const names = new Set<string>();
      for (const entry of level) {
        if (!matchesMode(entry.match, mode)) continue;
        for (const n of providerNames(entry.providers)) {
          names.add(n);
          filters.set(n, entry.filter?.expression);
        }
      }
      if (names.size > 0) inScopeNames = [...names];
    }
    const inScope = new Set(inScopeNames);
    let parent = defaults;
    for (const level of levels) {
      for (const entry of level) {
        let names = providerNames(entry.providers);
        if (names.length === 0) names = parent;
        parent = names;
        for (const n of names) {
          if (!inScope.has(n) || !matchesMode(entry.match, mode)) continue;
          decided.set(n, entry.disabled === true ? { disabled: true, filter: undefined } : { disabled: false, filter: filters.get(n) });
        }
      }
    }
  }
  return [...decided].map(([provider, d]) => ({ provider, ...d }));
}

export interface TracingDecision {
  provider: ExtensionProvider | undefined;
  disabled: boolean;
  /** undefined: the default sampling */
  randomSamplingPercentage: number | undefined;
  customTags: Readonly<Record<string, CustomTag>> | undefined;
}

function percentage(v: unknown): number | undefined {
  if (typeof v === 'number') return v;
  // protobuf JSON of a DoubleValue is the number; an object form `{value}` is tolerated as the validator does
  if (typeof v === 'object' && v !== null && typeof (v as { value?: unknown }).value === 'number') return (v as { value: number }).value;
  return undefined;
}

/**
 * The tracing of a proxy in one mode: undefined when neither a Telemetry nor
 * `defaultProviders.tracing` configures any. Istio's merge: start from the first default provider;
 * each tracing entry (least specific first) matching the mode sets the provider (its first one) and
 * overrides the fields it gives. No provider found means no tracing.
 */
export function tracingDecision(specs: readonly TelemetrySpec[], mesh: MeshTelemetry, mode: WorkloadMode): TracingDecision | undefined {
  const entries: Tracing[] = specs.flatMap((s) => s.tracing ?? []);
  const defaults = mesh.defaultProviders.tracing;
  if (entries.length === 0 && defaults.length === 0) return undefined;
  const d: TracingDecision = {
    provider: defaults[0] === undefined ? undefined : findProvider(mesh, defaults[0]),
    disabled: false,
    randomSamplingPercentage: undefined,
    customTags: undefined,
  };
  for (const e of entries) {
    if (!matchesMode(e.match, mode)) continue;
    const names = providerNames(e.providers);
    if (names[0] !== undefined) d.provider = findProvider(mesh, names[0]);
    if (e.disableSpanReporting !== undefined) d.disabled = e.disableSpanReporting;
    if (e.customTags !== undefined) d.customTags = e.customTags;
    const pct = percentage(e.randomSamplingPercentage);
    if (pct !== undefined) d.randomSamplingPercentage = pct;
  }
  if (!d.provider) d.disabled = true;
  return d;
}
