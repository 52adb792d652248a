import { isDeepStrictEqual } from 'node:util';
import type { LRUCache } from 'lru-cache';
import { encodeProtoJson } from '../../proto/json.js';
import type { RegistrySnapshot, Service } from '../../registry/types.js';
import type { ProxyInfo } from '../proxy.js';
import { MESSAGE_TYPES, resourceName, type Json, type TranslateOptions, type XdsType } from '../translate/common.js';
import { MESH_RESOURCES, PROXY_GENERATORS, SERVICE_PORT_GENERATORS, type GeneratorMode, type ProxyGenerator, type ProxyInput } from '../translate/generators.js';
import { generatorsIn, generatorsOf, inputKey, projectProxy, registryKey, viewKey, type ProxyInputs } from './keys.js';
import type { MeshSnapshot } from '../../model/snapshot.js';
import { changeImpact, type ViewPart } from '../../model/depends-on.js';
import type { MeshProxy } from '../../model/proxy.js';
import { configChanges, istioMode, meshInputsKey, meshSnapshotOf, type IstioInputs } from './mesh-inputs.js';
import { memo } from '../../memo.js';
import { emptySet, makeResource, resourceOfBytes, sameMembers, type Resource, type ResourceSet } from './resource.js';
import { encodeRouteConfig, VirtualHostCache } from './vhosts.js';

/**
 * Generations: one immutable set of encoded resources per registry change. Global
 * resources (every proxy may name them) are built with the generation, re-encoding
 * only services that changed; per-proxy resources come from the generators, built
 * on first use per declared input and shared by every proxy with that input, and
 * across generations while their registry view is unchanged.
 */

type Parts = LRUCache<string, Map<string, Resource>>;

/** One generator's state for one content of its registry view. */
interface GeneratorState {
  readonly key: string;
  readonly services: readonly Service[];
  /** input key -> resources */
  readonly built: Parts;
  /** the parts built for the previous registry view, for identity reuse; dropped at the next build */
  previous: Parts | undefined;
  /** mesh generators: the snapshot the parts are built from, and the digest of its registry */
  readonly mesh?: MeshSnapshot;
  readonly registryDigest?: string;
  /**
   * Targeted re-translation: whether a previous part is still exactly right for this proxy input
   * (only config objects changed since `previous` was built, and none of them touches this proxy's
   * part: model/depends-on.ts). Absent: every part is translated afresh.
   */
  readonly carry?: (proxy: ProxyInputs) => boolean;
}

/** How many per-proxy parts a generation translated, and how many it carried over unchanged from the previous one. */
export interface PartCounts {
  translated: number;
  carried: number;
}

const PART_OF_TYPE: Readonly<Record<XdsType, ViewPart>> = { cluster: 'clusters', endpoint: 'endpoints', listener: 'listeners', route: 'routes' };

export class Generation {
  private readonly views = memo<string, ResourceSet>();
  readonly counts: PartCounts = { translated: 0, carried: 0 };

  constructor(
    readonly version: string,
    readonly snapshot: RegistrySnapshot,
    /** resources every proxy may name: service clusters and endpoints, passthrough, gRPC API listeners and routes */
    readonly global: ResourceSet,
    private readonly states: ReadonlyMap<ProxyGenerator, GeneratorState>,
    private readonly options: TranslateOptions,
    private readonly vhosts: VirtualHostCache,
    /** which generators make this generation (translate/generators.ts GeneratorMode) */
    readonly mode: GeneratorMode = 'plain',
    /** the registry, Istio config and mesh options as one snapshot (istio mode) */
    readonly mesh: MeshSnapshot | undefined = undefined,
  ) {}

  /** One generator's resources for one proxy input (only its declared fields are read). */
  part(g: ProxyGenerator, proxy: ProxyInputs): Map<string, Resource> {
    const st = this.states.get(g);
    if (!st) throw new Error(`generator ${g.name} is not part of this generation`);
    const projected = projectProxy(proxy as Pick<ProxyInfo, ProxyInput>, g.reads);
    const key = inputKey(g, projected);
    const hit = st.built.get(key);
    if (hit) return hit;
    const prev = st.previous?.get(key);
    if (prev && st.carry?.(projected)) {
      st.built.set(key, prev);
      this.counts.carried += 1;
      return prev;
    }
    this.counts.translated += 1;
    let out = new Map<string, Resource>();
    for (const json of g.generate(projected, st.services, this.options, this.mesh)) {
      const name = resourceName(g.type, json);
      const bytes = g.type === 'route' ? encodeRouteConfig(json, this.vhosts) : encodeProtoJson(MESSAGE_TYPES[g.type], json);
      out.set(name, resourceOfBytes(g.type, name, bytes, prev?.get(name)));
    }
    if (prev && sameMembers(prev, out)) out = prev;
    st.built.set(key, out);
    return out;
  }

  /** The per-proxy resources (capture listeners, inbound clusters, sidecar route configurations) of a proxy, by type. */
  view(proxy: Pick<ProxyInfo, ProxyInput>): ResourceSet {
    const key = viewKey(proxy, this.mode);
    const hit = this.views.get(key);
    if (hit) return hit;
    const set = emptySet();
    for (const type of Object.keys(set) as XdsType[]) {
      const gens = generatorsOf(type, this.mode);
      // one generator: its part as is (shared by every view with that input)
      if (gens.length === 1) set[type] = this.part(gens[0]!, proxy);
      else for (const g of gens) for (const [n, r] of this.part(g, proxy)) set[type].set(n, r);
    }
    this.views.set(key, set);
    return set;
  }
}

/** Builds generations from registry snapshots, re-encoding only what changed. */
export class ResourceBuilder {
  private version = 0;
  private memo = new Map<string, Resource[]>();
  private current: Generation | undefined;
  private readonly states = new Map<ProxyGenerator, GeneratorState>();
  private readonly vhosts = new VirtualHostCache();

  constructor(private readonly options: TranslateOptions) {}

  /**
   * `istio`: the Istio config and mesh options; with traffic config (or a non-default traffic
   * option) in it every proxy's resources come from the Istio translation, otherwise they are
   * exactly what the registry alone makes.
   */
  build(snapshot: RegistrySnapshot, istio?: IstioInputs): Generation {
    const prev = this.current;
    const mode: GeneratorMode = istio && istioMode(istio) ? 'istio' : 'plain';
    const global = emptySet();
    const put = (r: Resource): void => {
      // the first definition of a name wins; names embed namespace/name/port, so clashes mean a broken registry
      if (!global[r.type].has(r.name)) global[r.type].set(r.name, r);
    };
    const make = (type: XdsType, json: Json): Resource => makeResource(type, json, prev?.global[type].get(resourceName(type, json)));
    const nextMemo = new Map<string, Resource[]>();
    // istio mode: the per-proxy translation makes every service resource (a Sidecar scope decides
    // what a proxy may name), so only the mesh's own clusters stay global
    for (const s of mode === 'istio' ? [] : snapshot.services) {
      const key = JSON.stringify(s);
      let list = this.memo.get(key) ?? nextMemo.get(key);
      if (!list) {
        list = [];
        for (const p of s.ports) for (const g of SERVICE_PORT_GENERATORS) if (g.applies(p)) list.push(make(g.type, g.generate(s, p, this.options)));
      }
      nextMemo.set(key, list);
      list.forEach(put);
    }
    for (const m of MESH_RESOURCES) for (const json of m.generate()) put(make(m.type, json));
    if (mode === 'plain') this.memo = nextMemo;

    const mesh = mode === 'istio' && istio ? meshSnapshotOf(snapshot, istio, this.options) : undefined;
    const registryDigest = mesh ? registryKey(snapshot.services) : '';
    const meshKey = mesh && istio ? meshInputsKey(registryDigest, istio) : '';
    // one carry rule per previous snapshot (the mesh generators' states are replaced together)
    const rules = new Map<MeshSnapshot, ReturnType<ResourceBuilder['carryRule']>>();
    const changed: ProxyGenerator[] = [];
    for (const g of generatorsIn(mode)) {
      const st = this.states.get(g);
      const services = g.registry ? g.registry.view(snapshot.services) : [];
      const key = g.mesh ? meshKey : g.registry ? registryKey(services) : '';
      if (st && st.key === key) {
        st.previous = undefined;
        continue;
      }
      const next: GeneratorState = { key, services, built: memo(), previous: st?.built };
      if (g.mesh && mesh) {
        Object.assign(next, { mesh, registryDigest });
        // the previous parts were built from st.mesh: the change list starts there, and the registry must be the same
        const before = st?.mesh;
        if (before && st.registryDigest === registryDigest) {
          if (!rules.has(before)) rules.set(before, this.carryRule(before, mesh));
          const carry = rules.get(before);
          if (carry) Object.assign(next, { carry: (p: ProxyInputs) => carry(PART_OF_TYPE[g.type], p) });
        }
      }
      this.states.set(g, next);
      changed.push(g);
    }
    // virtual hosts not used by the new route views are dropped at the next change
    if (changed.some((g) => g.type === 'route')) this.vhosts.rotate();
    this.version += 1;
    const active = new Map([...this.states].filter(([g]) => g.modes.includes(mode)));
    this.current = new Generation(String(this.version), snapshot, global, active, this.options, this.vhosts, mode, mesh);
    for (const g of active.keys()) for (const input of g.prebuild) this.current.part(g, input);
    return this.current;
  }

  /**
   * Targeted re-translation. When only Istio config changed since the parts were built (same registry,
   * same mesh options, both in istio mode), a part of the previous generation is carried over for a
   * proxy input unless one of the changed objects touches that part of that proxy's view
   * (model/depends-on.ts changeImpact); anything else re-translates everything.
   */
  private carryRule(before: MeshSnapshot, after: MeshSnapshot): ((part: ViewPart, proxy: ProxyInputs) => boolean) | undefined {
    if (!isDeepStrictEqual(before.options, after.options)) return undefined;
    const impact = changeImpact({ before, after }, configChanges(before.configs, after.configs));
    // the four generators of one proxy ask in turn: judge each proxy (namespace, labels) once
    const judged = memo<string, ReadonlySet<ViewPart>>();
    return (part, proxy) => {
      if (proxy.namespace === undefined || proxy.labels === undefined) return false;
      const p: MeshProxy = { namespace: proxy.namespace, labels: proxy.labels };
      const key = JSON.stringify([p.namespace, Object.entries(p.labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))]);
      let parts = judged.get(key);
      if (!parts) {
        parts = impact(p);
        judged.set(key, parts);
      }
      return !parts.has(part);
    };
  }
}
