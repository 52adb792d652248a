import type { MeshSnapshot } from '../../model/snapshot.js';
import type { Service, ServicePort } from '../../registry/types.js';
import { memo } from '../../memo.js';
import type { ProxyInfo } from '../proxy.js';
import { inboundClusters, passthroughClusters, serviceCluster } from './clusters.js';
import { isHttp, type Json, type TranslateOptions, type XdsType } from './common.js';
import { loadAssignment } from './endpoints.js';
import { apiListener, inboundListener, outboundListener } from './listeners.js';
import { apiRouteConfig, sidecarRouteConfigs } from './routes.js';
import { translateInbound, translateProxyless, translateSidecar, type ProxyResources } from './istio/translate.js';

/**
 * What each translation reads, declared next to it. The cache (xds/cache/) derives
 * every sharing key from these declarations and hands each generator only what it
 * declared — a projection of the proxy holding exactly the declared fields, and the
 * declared view of the registry — so a generator cannot read more than its key
 * covers: the compiler refuses an undeclared proxy field, and at run time it is
 * simply absent. A new resource generator (e.g. from Istio config) declares its
 * inputs here and gets its keys for free.
 */

/** The proxy fields a generator may declare. */
export type ProxyInput = keyof Pick<ProxyInfo, 'namespace' | 'labels' | 'ips' | 'appPorts' | 'proxyless'>;

export const PROXY_INPUTS: readonly ProxyInput[] = ['namespace', 'labels', 'ips', 'appPorts', 'proxyless'];

/**
 * Which generators make a generation. `plain`: no Istio traffic config and the default mesh
 * options, so every proxy gets today's registry-only resources (round robin, one cluster per
 * service port). `istio`: the mesh snapshot (registry + Istio config + mesh options) is
 * translated per proxy. The mode is a function of the generation's inputs, so keys derived for
 * one mode never meet parts of the other.
 */
export type GeneratorMode = 'plain' | 'istio';

/** A named projection of the registry: the generator sees only its result, and its key is the result's content. */
export interface RegistryView {
  readonly name: string;
  view(services: readonly Service[]): readonly Service[];
}

/** Per-proxy resources of one type, from the declared proxy fields and registry view. */
export interface ProxyGenerator {
  readonly name: string;
  readonly type: XdsType;
  readonly reads: readonly ProxyInput[];
  /** undefined: reads nothing of the registry (its resources outlive generations) */
  readonly registry: RegistryView | undefined;
  /**
   * true: reads the whole mesh snapshot (registry, Istio config, mesh options); its parts are keyed
   * by the snapshot's content digest and rebuilt whenever any of it changes
   */
  readonly mesh: boolean;
  /** the modes the generator is part of */
  readonly modes: readonly GeneratorMode[];
  /** inputs built as soon as a generation is (every proxy needs them), rather than on a first request */
  readonly prebuild: ReadonlyArray<Partial<Pick<ProxyInfo, ProxyInput>>>;
  generate(proxy: Partial<Pick<ProxyInfo, ProxyInput>>, services: readonly Service[], o: TranslateOptions, mesh: MeshSnapshot | undefined): Json[];
}

/** Declares a generator; `generate` is typed to see only the fields listed in `reads`. */
export function proxyGenerator<K extends ProxyInput>(g: {
  name: string;
  type: XdsType;
  reads: readonly K[];
  registry?: RegistryView;
  modes?: readonly GeneratorMode[];
  prebuild?: ReadonlyArray<Pick<ProxyInfo, K>>;
  generate(proxy: Pick<ProxyInfo, K>, services: readonly Service[], o: TranslateOptions): Json[];
}): ProxyGenerator {
  return {
    name: g.name,
    type: g.type,
    reads: g.reads,
    registry: g.registry,
    mesh: false,
    modes: g.modes ?? ['plain'],
    prebuild: g.prebuild ?? [],
    // the cache passes exactly the fields of `reads` (see cache/keys.ts projectProxy)
    generate: (proxy, services, o) => g.generate(proxy as Pick<ProxyInfo, K>, services, o),
  };
}

/** Declares a generator over the mesh snapshot (Istio translation); `generate` sees only the fields in `reads`. */
export function meshGenerator<K extends ProxyInput>(g: {
  name: string;
  type: XdsType;
  reads: readonly K[];
  generate(proxy: Pick<ProxyInfo, K>, mesh: MeshSnapshot): Json[];
}): ProxyGenerator {
  return {
    name: g.name,
    type: g.type,
    reads: g.reads,
    registry: undefined,
    mesh: true,
    modes: ['istio'],
    prebuild: [],
    generate: (proxy, _services, _o, mesh) => {
      if (!mesh) throw new Error(`generator ${g.name} needs a mesh snapshot`);
      return g.generate(proxy as Pick<ProxyInfo, K>, mesh);
    },
  };
}

// The four Istio generators of one proxy share one translation (it computes the proxy's view
// once); memoised per snapshot, bounded like every memo (memo.ts).
const translations = new WeakMap<MeshSnapshot, ReturnType<typeof memo<string, ProxyResources>>>();

function istioResources(proxy: Pick<ProxyInfo, 'namespace' | 'labels' | 'proxyless'>, mesh: MeshSnapshot): ProxyResources {
  let m = translations.get(mesh);
  if (!m) {
    m = memo<string, ProxyResources>();
    translations.set(mesh, m);
  }
  const key = JSON.stringify([proxy.namespace, Object.entries(proxy.labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)), proxy.proxyless]);
  let r = m.get(key);
  if (!r) {
    const p = { namespace: proxy.namespace, labels: proxy.labels };
    r = proxy.proxyless ? translateProxyless(mesh, p) : translateSidecar(mesh, p);
    m.set(key, r);
  }
  return r;
}

const ISTIO_PARTS: Readonly<Record<XdsType, keyof ProxyResources>> = { cluster: 'clusters', endpoint: 'endpoints', listener: 'listeners', route: 'routes' };

/** One Istio generator per type: what translate/istio/ makes of the mesh for a sidecar or a proxyless client. */
function istioGenerator(type: XdsType): ProxyGenerator {
  if (type === 'endpoint') {
    // load assignments are the same for both data planes (a proxyless client names only those of
    // its EDS clusters, a subset of a sidecar's), so they do not read `proxyless` and are shared
    return meshGenerator({
      name: 'istio-endpoints',
      type,
      reads: ['namespace', 'labels'],
      generate: (proxy, mesh) => istioResources({ ...proxy, proxyless: false }, mesh).endpoints,
    });
  }
  return meshGenerator({
    name: `istio-${ISTIO_PARTS[type]}`,
    type,
    // namespace: Sidecar scope, exportTo, short names; labels: workloadSelectors and sourceLabels;
    // proxyless: a gRPC client gets API listeners and only what grpc-js-xds honours
    reads: ['namespace', 'labels', 'proxyless'],
    generate: (proxy, mesh) => istioResources(proxy, mesh)[ISTIO_PARTS[type]],
  });
}

/**
 * The inbound listeners under PeerAuthentication (translate/istio/inbound.ts): a sidecar's
 * virtualInbound, a proxyless server's `xds.istio.io/grpc/lds/inbound/<ip>:<port>` listeners.
 */
function istioInboundGenerator(): ProxyGenerator {
  return meshGenerator({
    name: 'istio-inbound-listener',
    type: 'listener',
    // namespace, labels: which PeerAuthentication applies; appPorts: the chains; ips: each port's
    // protocol (the services with an endpoint at the proxy) and proxyless listener addresses;
    // proxyless: which of the two kinds of listener
    reads: ['namespace', 'labels', 'appPorts', 'ips', 'proxyless'],
    // authorization: translateInbound puts the workload's AuthorizationPolicies (translate/istio/authz/) into each chain
    generate: (proxy, mesh) => translateInbound(mesh, proxy),
  });
}

/** Services with their HTTP ports only, without endpoints: what route configurations read. */
export const HTTP_SERVICE_SHAPES: RegistryView = {
  name: 'http-service-shapes',
  view: (services) =>
    services.map((s) => ({ name: s.name, namespace: s.namespace, addresses: s.addresses, ports: s.ports.filter(isHttp).map((p) => ({ ...p, endpoints: [] })) })),
};

/** Services without the endpoints of their HTTP ports (a TCP port is matched on its endpoints' addresses): what the outbound listener reads. */
export const SERVICE_SHAPES: RegistryView = {
  name: 'service-shapes',
  view: (services) => services.map((s) => ({ ...s, ports: s.ports.map((p) => (isHttp(p) ? { ...p, endpoints: [] } : p)) })),
};

/** The per-proxy resources: what a sidecar gets beyond the resources every proxy may name. */
export const PROXY_GENERATORS: readonly ProxyGenerator[] = [
  proxyGenerator({
    name: 'inbound-clusters',
    type: 'cluster',
    reads: ['appPorts'],
    // Istio config governs outbound traffic; inbound stays as it is
    modes: ['plain', 'istio'],
    generate: (proxy) => inboundClusters(proxy.appPorts),
  }),
  proxyGenerator({
    name: 'outbound-listener',
    type: 'listener',
    reads: [],
    registry: SERVICE_SHAPES,
    prebuild: [{}],
    generate: (_proxy, services, o) => [outboundListener(services, o)],
  }),
  proxyGenerator({
    name: 'inbound-listener',
    type: 'listener',
    reads: ['appPorts'],
    generate: (proxy) => [inboundListener(proxy.appPorts)],
  }),
  istioInboundGenerator(),
  proxyGenerator({
    name: 'sidecar-routes',
    type: 'route',
    reads: ['namespace'],
    registry: HTTP_SERVICE_SHAPES,
    // a namespace with no services of its own: every virtual host any namespace shares is
    // encoded when the generation is built, so a namespace's first sidecar encodes only its own
    prebuild: [{ namespace: '' }],
    generate: (proxy, services, o) => sidecarRouteConfigs(services, proxy.namespace, o),
  }),
  istioGenerator('cluster'),
  istioGenerator('endpoint'),
  istioGenerator('listener'),
  istioGenerator('route'),
];

/** Resources of one service port that every proxy may name (reads no proxy field). */
export interface ServicePortGenerator {
  readonly type: XdsType;
  readonly applies: (p: ServicePort) => boolean;
  readonly generate: (s: Service, p: ServicePort, o: TranslateOptions) => Json;
}

/** In `istio` mode the per-proxy translation makes them (a Sidecar scope limits what a proxy may name). */
export const SERVICE_PORT_GENERATORS: readonly ServicePortGenerator[] = [
  { type: 'cluster', applies: () => true, generate: serviceCluster },
  { type: 'endpoint', applies: () => true, generate: loadAssignment },
  { type: 'listener', applies: isHttp, generate: apiListener },
  { type: 'route', applies: isHttp, generate: apiRouteConfig },
];

/** Resources of the mesh itself that every proxy may name (read neither proxy nor registry). */
export const MESH_RESOURCES: ReadonlyArray<{ type: XdsType; generate: () => Json[] }> = [{ type: 'cluster', generate: passthroughClusters }];
