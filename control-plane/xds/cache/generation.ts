import type { LRUCache } from 'lru-cache';
import { encodeProtoJson } from '../../proto/json.js';
import type { RegistrySnapshot, Service } from '../../registry/types.js';
import type { ProxyInfo } from '../proxy.js';
import { MESSAGE_TYPES, resourceName, type Json, type TranslateOptions, type XdsType } from '../translate/common.js';
import { MESH_RESOURCES, PROXY_GENERATORS, SERVICE_PORT_GENERATORS, type GeneratorMode, type ProxyGenerator, type ProxyInput } from '../translate/generators.js';
import { generatorsIn, generatorsOf, inputKey, projectProxy, registryKey, viewKey, type ProxyInputs } from './keys.js';
import type { MeshSnapshot } from '../../model/snapshot.js';
import { istioMode, meshInputsKey, meshSnapshotOf, type IstioInputs } from './mesh-inputs.js';
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
}

export class Generation {
  private readonly views = memo<string, ResourceSet>();

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
    const meshKey = mesh && istio ? meshInputsKey(snapshot, istio) : '';
    const changed: ProxyGenerator[] = [];
    for (const g of generatorsIn(mode)) {
      const st = this.states.get(g);
      const services = g.registry ? g.registry.view(snapshot.services) : [];
      const key = g.mesh ? meshKey : g.registry ? registryKey(services) : '';
      if (st && st.key === key) {
        st.previous = undefined;
        continue;
      }
      this.states.set(g, { key, services, built: memo(), previous: st?.built });
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
}
