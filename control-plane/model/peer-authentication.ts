/**
 * PeerAuthentication → the mutual-TLS mode a workload accepts, per port. Pure; Istio's rules
 * (pilot/pkg/security/authn ComposePeerAuthentication and model getConfigsForWorkload):
 * - the candidates are the PeerAuthentications of the workload's namespace and of the root namespace
 *   whose selector is a subset of the workload's labels (no selector selects every workload);
 * - a selector-less one in the root namespace is mesh-wide, one elsewhere is namespace-wide, one with a
 *   selector outside the root namespace is workload-level (a selector in the root namespace is ignored);
 * - in each scope the oldest wins (creation time, then namespace/name: the snapshot's order);
 * - UNSET (or no mtls) inherits: port → workload → namespace → mesh → PERMISSIVE;
 * - portLevelMtls is read from the workload-level policy only.
 */
import { isObject } from '../../common/objects.js';
import { isKind, type MtlsMode, type TypedConfig } from '../../config/kinds.js';
import { configKey, type ConfigObject } from '../../config/model.js';
import { labelsMatch, networkingSelector } from './selectors.js';

/** The modes a resolved policy can have: UNSET never survives resolution. */
export type EffectiveMtlsMode = Exclude<MtlsMode, 'UNSET'>;

export interface WorkloadMtls {
  /** the workload-wide mode */
  mode: EffectiveMtlsMode;
  /** ports whose mode the workload-level policy sets (UNSET ports already carry the workload mode) */
  ports: ReadonlyMap<number, EffectiveMtlsMode>;
}

export interface Workload {
  namespace: string;
  labels: Readonly<Record<string, string>>;
}

type PeerAuthentication = TypedConfig<'PeerAuthentication'>;

/** PeerAuthentications grouped by namespace, each list oldest first. */
export type PeerAuthenticationIndex = ReadonlyMap<string, readonly PeerAuthentication[]>;

function byCreation(a: PeerAuthentication, b: PeerAuthentication): number {
  const ta = a.metadata.creationTimestamp ?? '';
  const tb = b.metadata.creationTimestamp ?? '';
  if (ta !== tb) return ta < tb ? -1 : 1;
  return configKey(a).localeCompare(configKey(b));
}

function setMode(m: { mode?: MtlsMode } | undefined): EffectiveMtlsMode | undefined {
  const mode = isObject(m) ? m.mode : undefined;
  return mode === 'STRICT' || mode === 'PERMISSIVE' || mode === 'DISABLE' ? mode : undefined;
}

function selectorOf(pa: PeerAuthentication): Readonly<Record<string, string>> | undefined {
  const sel = networkingSelector(pa.spec.selector);
  return sel && Object.keys(sel).length > 0 ? sel : undefined;
}

/** The index of the PeerAuthentications among `configs` (any order; objects without a namespace are in `default`, as everywhere else). */
export function indexPeerAuthentications(configs: Iterable<ConfigObject>): PeerAuthenticationIndex {
  const out = new Map<string, PeerAuthentication[]>();
  for (const c of configs) {
    if (!isKind(c, 'PeerAuthentication') || !isObject(c.spec)) continue;
    const ns = c.metadata.namespace || 'default';
    const list = out.get(ns) ?? [];
    list.push(c);
    out.set(ns, list);
  }
  for (const list of out.values()) list.sort(byCreation);
  return out;
}

/** The mode a workload accepts, workload-wide and per port. */
export function workloadMtls(index: PeerAuthenticationIndex, rootNamespace: string, w: Workload): WorkloadMtls {
  let mesh: PeerAuthentication | undefined;
  let namespace: PeerAuthentication | undefined;
  let workload: PeerAuthentication | undefined;
  const lookIn = w.namespace === rootNamespace ? [w.namespace] : [w.namespace, rootNamespace];
  for (const ns of lookIn) {
    for (const pa of index.get(ns) ?? []) {
      const sel = selectorOf(pa);
      if (!labelsMatch(sel, w.labels)) continue;
      // lists are oldest first: the first one found in a scope is the one that wins
      if (!sel) {
        if (ns === rootNamespace) mesh ??= pa;
        else namespace ??= pa;
      } else if (ns !== rootNamespace) {
        workload ??= pa;
      }
    }
  }
  let mode: EffectiveMtlsMode = 'PERMISSIVE';
  for (const pa of [mesh, namespace, workload]) mode = setMode(pa?.spec.mtls) ?? mode;
  const ports = new Map<number, EffectiveMtlsMode>();
  for (const [port, m] of Object.entries(workload?.spec.portLevelMtls ?? {})) {
    const n = Number(port);
    if (Number.isInteger(n) && n > 0 && n < 65536) ports.set(n, setMode(m) ?? mode);
  }
  return { mode, ports };
}

/** The mode for one port of a workload. */
export function portMtls(m: WorkloadMtls, port: number): EffectiveMtlsMode {
  return m.ports.get(port) ?? m.mode;
}

/**
 * What a client can know of a destination's mode without knowing the destination workload's labels:
 * the mesh- and namespace-wide policies (Istio's best-effort inference for auto mTLS). Workload-level
 * policies are not consulted, as in Istio.
 */
export function namespaceMtls(index: PeerAuthenticationIndex, rootNamespace: string, namespace: string): EffectiveMtlsMode {
  let mode: EffectiveMtlsMode = 'PERMISSIVE';
  const pick = (ns: string): EffectiveMtlsMode | undefined => {
    const pa = (index.get(ns) ?? []).find((p) => !selectorOf(p));
    return setMode(pa?.spec.mtls);
  };
  mode = pick(rootNamespace) ?? mode;
  if (namespace !== rootNamespace) mode = pick(namespace) ?? mode;
  return mode;
}
