/**
 * The mesh snapshot: the registry and the validated Istio config as one immutable value with the
 * indexes translation needs (services by host and namespace, VirtualServices, DestinationRules and
 * Sidecars with their hosts resolved and exportTo applied). Built by a pure function; a change
 * builds a new snapshot, so translations of one snapshot can be cached by it.
 */
import { isObject } from '../../common/objects.js';
import { isKind, type TypedConfig } from '../../config/kinds.js';
import { configKey, type ConfigObject } from '../../config/model.js';
import type { RegistrySnapshot } from '../registry/types.js';
import { isWildcard, resolveHost } from './hosts.js';
import { networkingSelector } from './selectors.js';
import type { MeshOptions } from './options.js';
import { registryServices, serviceEntryServices, type MeshService } from './services.js';
import { effectiveExportTo, type ExportTo } from './visibility.js';

export interface IndexedVirtualService {
  key: string;
  config: TypedConfig<'VirtualService'>;
  namespace: string;
  /** spec.hosts resolved in the object's namespace */
  hosts: readonly string[];
  exportTo: ExportTo;
  /** position in creation order (Istio: oldest first, then namespace/name) */
  order: number;
}

export interface IndexedDestinationRule {
  key: string;
  config: TypedConfig<'DestinationRule'>;
  namespace: string;
  host: string;
  exportTo: ExportTo;
  selector?: Readonly<Record<string, string>>;
  order: number;
}

export interface EgressImport {
  /** a namespace name, `.` (the proxy's), `*`, or `~` */
  namespace: string;
  /** `*`, `*.suffix` or a name; `~` imports nothing */
  host: string;
}

export interface IndexedSidecar {
  key: string;
  config: TypedConfig<'Sidecar'>;
  namespace: string;
  selector?: Readonly<Record<string, string>>;
  /** the union of the egress listeners' hosts; undefined when the Sidecar has no egress (import all) */
  imports?: readonly EgressImport[];
  order: number;
}

export interface MeshSnapshot {
  readonly options: MeshOptions;
  readonly services: readonly MeshService[];
  /** exact host → services (registry first, then ServiceEntries in creation order) */
  readonly servicesByHost: ReadonlyMap<string, readonly MeshService[]>;
  /** services whose host is a wildcard (`*.example.com`) */
  readonly wildcardServices: readonly MeshService[];
  readonly servicesByNamespace: ReadonlyMap<string, readonly MeshService[]>;
  /** VirtualServices bound to the mesh gateway (sidecars), in creation order */
  readonly virtualServices: readonly IndexedVirtualService[];
  readonly destinationRules: readonly IndexedDestinationRule[];
  /** the same, by namespace: a lookup reads only the proxy's, the service's and the root namespace */
  readonly destinationRulesByNamespace: ReadonlyMap<string, readonly IndexedDestinationRule[]>;
  readonly sidecars: readonly IndexedSidecar[];
  /** every config object, by configKey */
  readonly configs: ReadonlyMap<string, ConfigObject>;
}

export interface MeshSnapshotInput {
  registry: RegistrySnapshot;
  configs: readonly ConfigObject[];
  options: MeshOptions;
}

/** Istio orders config by creation time, then by namespace and name, so that the oldest object wins. */
function byCreation(a: ConfigObject, b: ConfigObject): number {
  const ta = a.metadata.creationTimestamp ?? '';
  const tb = b.metadata.creationTimestamp ?? '';
  if (ta !== tb) return ta < tb ? -1 : 1;
  return configKey(a).localeCompare(configKey(b));
}

/** A VirtualService applies to sidecars when it names no gateways or names `mesh`. */
function boundToMesh(gateways: readonly string[] | undefined): boolean {
  return !gateways || gateways.length === 0 || gateways.includes('mesh');
}

/**
 * `ns/host` of a Sidecar egress listener. `.` stays as written: it means the namespace of the proxy the
 * Sidecar applies to, which for a root-namespace default is every namespace in turn.
 */
export function parseEgressHost(entry: string): EgressImport {
  const slash = entry.indexOf('/');
  const ns = slash < 0 ? '*' : entry.slice(0, slash);
  const host = slash < 0 ? entry : entry.slice(slash + 1);
  if (ns === '~') return { namespace: '~', host: '~' };
  return { namespace: ns, host };
}

/**
 * Objects reach the snapshot validated; the few fields the indexes cannot do without are still checked
 * (an object without them is left out, never a crash), so that one bad object cannot break a push.
 */
function indexable(o: ConfigObject): boolean {
  return isObject(o) && isObject(o.metadata) && typeof o.metadata.name === 'string' && isObject(o.spec);
}

function withNamespace(o: ConfigObject): ConfigObject {
  // Objects read from files may omit the namespace; Istio puts them in `default`.
  return o.metadata.namespace ? o : { ...o, metadata: { ...o.metadata, namespace: 'default' } };
}

export function buildMeshSnapshot(input: MeshSnapshotInput): MeshSnapshot {
  const o = input.options;
  const configs = input.configs.filter(indexable).map(withNamespace).sort(byCreation);
  const services: MeshService[] = registryServices(input.registry, o);
  const virtualServices: IndexedVirtualService[] = [];
  const destinationRules: IndexedDestinationRule[] = [];
  const sidecars: IndexedSidecar[] = [];
  const byKey = new Map<string, ConfigObject>();
  for (const c of configs) {
    byKey.set(configKey(c), c);
    const ns = c.metadata.namespace;
    if (isKind(c, 'ServiceEntry')) {
      services.push(...serviceEntryServices(c, input.registry, o));
    } else if (isKind(c, 'VirtualService')) {
      if (!boundToMesh(c.spec.gateways)) continue;
      virtualServices.push({
        key: configKey(c),
        config: c,
        namespace: ns,
        hosts: (c.spec.hosts ?? []).map((h) => resolveHost(h, ns, o.clusterDomain)),
        exportTo: effectiveExportTo(c.spec.exportTo, o.defaultVirtualServiceExportTo),
        order: virtualServices.length,
      });
    } else if (isKind(c, 'DestinationRule')) {
      if (typeof c.spec.host !== 'string') continue;
      const dr: IndexedDestinationRule = {
        key: configKey(c),
        config: c,
        namespace: ns,
        host: resolveHost(c.spec.host, ns, o.clusterDomain),
        exportTo: effectiveExportTo(c.spec.exportTo, o.defaultDestinationRuleExportTo),
        order: destinationRules.length,
      };
      const sel = c.spec.workloadSelector?.matchLabels;
      if (sel && Object.keys(sel).length > 0) dr.selector = sel;
      destinationRules.push(dr);
    } else if (isKind(c, 'Sidecar')) {
      const sc: IndexedSidecar = { key: configKey(c), config: c, namespace: ns, order: sidecars.length };
      const sel = networkingSelector(c.spec.workloadSelector);
      if (sel && Object.keys(sel).length > 0) sc.selector = sel;
      const egress = c.spec.egress;
      if (egress && egress.length > 0) sc.imports = egress.flatMap((l) => (l.hosts ?? []).map((h) => parseEgressHost(h)));
      sidecars.push(sc);
    }
  }
  const servicesByHost = new Map<string, MeshService[]>();
  const servicesByNamespace = new Map<string, MeshService[]>();
  const wildcardServices: MeshService[] = [];
  const append = <V>(m: Map<string, V[]>, k: string, v: V): void => {
    const list = m.get(k);
    if (list) list.push(v);
    else m.set(k, [v]);
  };
  for (const s of services) {
    if (isWildcard(s.hostname)) wildcardServices.push(s);
    else append(servicesByHost, s.hostname, s);
    append(servicesByNamespace, s.namespace, s);
  }
  const destinationRulesByNamespace = new Map<string, IndexedDestinationRule[]>();
  for (const r of destinationRules) {
    const list = destinationRulesByNamespace.get(r.namespace);
    if (list) list.push(r);
    else destinationRulesByNamespace.set(r.namespace, [r]);
  }
  return Object.freeze({
    options: o,
    services: Object.freeze(services),
    servicesByHost,
    wildcardServices: Object.freeze(wildcardServices),
    servicesByNamespace,
    virtualServices: Object.freeze(virtualServices),
    destinationRules: Object.freeze(destinationRules),
    destinationRulesByNamespace,
    sidecars: Object.freeze(sidecars),
    configs: byKey,
  });
}
