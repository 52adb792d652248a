import type { Service, ServicePort } from '../../registry/types.js';
import type { ProxyInfo } from '../proxy.js';
import { inboundClusters, passthroughClusters, serviceCluster } from './clusters.js';
import { isHttp, type Json, type TranslateOptions, type XdsType } from './common.js';
import { loadAssignment } from './endpoints.js';
import { apiListener, inboundListener, outboundListener } from './listeners.js';
import { apiRouteConfig, sidecarRouteConfigs } from './routes.js';

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
export type ProxyInput = keyof Pick<ProxyInfo, 'namespace' | 'labels' | 'ips' | 'appPorts'>;

export const PROXY_INPUTS: readonly ProxyInput[] = ['namespace', 'labels', 'ips', 'appPorts'];

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
  /** inputs built as soon as a generation is (every proxy needs them), rather than on a first request */
  readonly prebuild: ReadonlyArray<Partial<Pick<ProxyInfo, ProxyInput>>>;
  generate(proxy: Partial<Pick<ProxyInfo, ProxyInput>>, services: readonly Service[], o: TranslateOptions): Json[];
}

/** Declares a generator; `generate` is typed to see only the fields listed in `reads`. */
export function proxyGenerator<K extends ProxyInput>(g: {
  name: string;
  type: XdsType;
  reads: readonly K[];
  registry?: RegistryView;
  prebuild?: ReadonlyArray<Pick<ProxyInfo, K>>;
  generate(proxy: Pick<ProxyInfo, K>, services: readonly Service[], o: TranslateOptions): Json[];
}): ProxyGenerator {
  return {
    name: g.name,
    type: g.type,
    reads: g.reads,
    registry: g.registry,
    prebuild: g.prebuild ?? [],
    // the cache passes exactly the fields of `reads` (see cache/keys.ts projectProxy)
    generate: (proxy, services, o) => g.generate(proxy as Pick<ProxyInfo, K>, services, o),
  };
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
];

/** Resources of one service port that every proxy may name (reads no proxy field). */
export interface ServicePortGenerator {
  readonly type: XdsType;
  readonly applies: (p: ServicePort) => boolean;
  readonly generate: (s: Service, p: ServicePort, o: TranslateOptions) => Json;
}

export const SERVICE_PORT_GENERATORS: readonly ServicePortGenerator[] = [
  { type: 'cluster', applies: () => true, generate: serviceCluster },
  { type: 'endpoint', applies: () => true, generate: loadAssignment },
  { type: 'listener', applies: isHttp, generate: apiListener },
  { type: 'route', applies: isHttp, generate: apiRouteConfig },
];

/** Resources of the mesh itself that every proxy may name (read neither proxy nor registry). */
export const MESH_RESOURCES: ReadonlyArray<{ type: XdsType; generate: () => Json[] }> = [{ type: 'cluster', generate: passthroughClusters }];
