import { CoreV1Api, DiscoveryV1Api, makeInformer, type Informer, type KubernetesObject, type ObjectCache } from '@kubernetes/client-node';
import { isIP } from 'node:net';
import { UserError } from '../../common/errors.js';
import { loadKubeConfig } from '../../common/kubeconfig.js';
import { silentLogger } from '../../common/logger.js';
import { isObject } from '../../common/objects.js';
import type { RegistryFactoryOptions } from './index.js';
import {
  byName,
  serviceKey,
  SnapshotEmitter,
  type Endpoint,
  type PortProtocol,
  type RegistrySnapshot,
  type Service,
  type ServicePort,
  type ServiceRegistry,
  type Unsubscribe,
} from './types.js';

/**
 * The Kubernetes registry: Services, EndpointSlices and Pods through @kubernetes/client-node
 * informers (list, then watch from the list's resourceVersion; a 410 Gone re-lists;
 * bookmarks advance the resume point). The informers keep the object caches; every
 * event rebuilds the snapshot from them, so nothing is applied twice or lost between
 * a re-list and the next watch. Snapshots are rebuilt at most once per tick.
 */

type Obj = Record<string, unknown>;

function obj(v: unknown): Obj {
  return isObject(v) ? v : {};
}

function arr(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

const APP_PROTOCOLS: Record<string, PortProtocol> = {
  http: 'HTTP',
  'kubernetes.io/h2c': 'HTTP2',
  http2: 'HTTP2',
  h2c: 'HTTP2',
  grpc: 'GRPC',
  'grpc-web': 'HTTP',
  tcp: 'TCP',
};

/** Istio's protocol selection: appProtocol first, then the port name prefix (`http-…`, `grpc-…`). */
export function portProtocol(name: string, appProtocol: string | undefined): PortProtocol {
  const pick = (s: string): PortProtocol | undefined => APP_PROTOCOLS[s.toLowerCase()];
  if (appProtocol) {
    const p = pick(appProtocol);
    if (p) return p;
  }
  const prefix = name.split('-')[0] ?? '';
  return pick(prefix) ?? 'TCP';
}

/** What an endpoint takes from its pod: its labels (subsets, `security.istio.io/tlsMode` for auto mTLS) and service account (the identity clients expect). */
interface PodFacts {
  labels: Record<string, string>;
  serviceAccount: string | undefined;
}

function podFacts(pods: readonly unknown[]): Map<string, PodFacts> {
  const out = new Map<string, PodFacts>();
  for (const raw of pods) {
    const p = obj(raw);
    const md = obj(p['metadata']);
    const name = str(md['name']);
    const ns = str(md['namespace']);
    if (!name || !ns) continue;
    const labels: Record<string, string> = {};
    for (const [k, v] of Object.entries(obj(md['labels']))) if (typeof v === 'string') labels[k] = v;
    out.set(`${ns}/${name}`, { labels, serviceAccount: str(obj(p['spec'])['serviceAccountName']) });
  }
  return out;
}

/**
 * Services + EndpointSlices + Pods (as the API returns them) -> registry snapshot. Pure. An
 * endpoint whose `targetRef` is a known Pod carries that pod's labels and service account, as
 * Istio's endpoints do; EndpointSlices alone carry neither.
 */
export function servicesFromObjects(services: readonly unknown[], slices: readonly unknown[], pods: readonly unknown[] = []): RegistrySnapshot {
  const podsByKey = podFacts(pods);
  const slicesBySvc = new Map<string, Obj[]>();
  for (const raw of slices) {
    const s = obj(raw);
    const md = obj(s['metadata']);
    const svc = str(obj(md['labels'])['kubernetes.io/service-name']);
    const ns = str(md['namespace']);
    if (!svc || !ns) continue;
    const key = serviceKey({ namespace: ns, name: svc });
    const list = slicesBySvc.get(key) ?? [];
    list.push(s);
    slicesBySvc.set(key, list);
  }
  const out: Service[] = [];
  for (const raw of services) {
    const s = obj(raw);
    const md = obj(s['metadata']);
    const spec = obj(s['spec']);
    const name = str(md['name']);
    const namespace = str(md['namespace']);
    if (!name || !namespace || spec['type'] === 'ExternalName') continue;
    const ips = [...arr(spec['clusterIPs']), spec['clusterIP']].filter((ip): ip is string => typeof ip === 'string' && isIP(ip) !== 0);
    const slicesForSvc = slicesBySvc.get(serviceKey({ namespace, name })) ?? [];
    const ports: ServicePort[] = [];
    for (const rawPort of arr(spec['ports'])) {
      const p = obj(rawPort);
      const port = p['port'];
      if (typeof port !== 'number' || (p['protocol'] !== undefined && p['protocol'] !== 'TCP')) continue;
      const pname = str(p['name']) ?? '';
      const endpoints: Endpoint[] = [];
      const seen = new Set<string>();
      for (const slice of slicesForSvc) {
        const slicePort = arr(slice['ports']).map(obj).find((sp) => (str(sp['name']) ?? '') === pname);
        const target = slicePort?.['port'];
        if (typeof target !== 'number') continue;
        for (const rawEp of arr(slice['endpoints'])) {
          const ep = obj(rawEp);
          // "ready" unset means ready (EndpointSlice API)
          if (obj(ep['conditions'])['ready'] === false) continue;
          const ref = obj(ep['targetRef']);
          const pod = ref['kind'] === 'Pod' ? podsByKey.get(`${str(ref['namespace']) ?? str(obj(slice['metadata'])['namespace'])}/${str(ref['name'])}`) : undefined;
          const labels: Record<string, string> = { ...pod?.labels };
          const zone = str(ep['zone']);
          if (zone) labels['topology.kubernetes.io/zone'] = zone;
          for (const address of arr(ep['addresses'])) {
            if (typeof address !== 'string' || isIP(address) === 0 || seen.has(address)) continue;
            seen.add(address);
            endpoints.push(pod?.serviceAccount ? { address, port: target, labels, serviceAccount: pod.serviceAccount } : { address, port: target, labels });
          }
        }
      }
      endpoints.sort((a, b) => (a.address < b.address ? -1 : a.address > b.address ? 1 : 0));
      ports.push({ name: pname || `port-${port}`, port, protocol: portProtocol(pname, str(p['appProtocol'])), endpoints });
    }
    if (ports.length > 0) out.push({ name, namespace, addresses: [...new Set(ips)], ports });
  }
  out.sort(byName);
  return { services: out };
}

export interface KubernetesRegistryOptions extends RegistryFactoryOptions {
  /** delay before restarting an informer after an error, ms */
  retryMs?: number;
}

class KubernetesRegistry implements ServiceRegistry {
  private current: RegistrySnapshot = { services: [] };
  private readonly emitter = new SnapshotEmitter();
  private scheduled = false;
  private closed = false;
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(
    private readonly services: Informer<KubernetesObject> & ObjectCache<KubernetesObject>,
    private readonly slices: Informer<KubernetesObject> & ObjectCache<KubernetesObject>,
    private readonly pods: Informer<KubernetesObject> & ObjectCache<KubernetesObject>,
    private readonly opts: KubernetesRegistryOptions,
  ) {}

  rebuild(): void {
    this.current = servicesFromObjects(this.services.list(), this.slices.list(), this.pods.list());
  }

  /** Coalesces the events of one tick (a re-list delivers many) into one snapshot. */
  schedule(): void {
    if (this.scheduled || this.closed) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      if (this.closed) return;
      const before = JSON.stringify(this.current);
      this.rebuild();
      if (JSON.stringify(this.current) !== before) this.emitter.emit(this.current);
    });
  }

  retry(inf: Informer<KubernetesObject>, what: string, err: unknown): void {
    if (this.closed) return;
    (this.opts.log ?? silentLogger).warn({ err: (err as Error)?.message ?? String(err), what }, 'Kubernetes watch failed; retrying');
    const t = setTimeout(() => {
      this.timers.delete(t);
      if (!this.closed) void inf.start();
    }, this.opts.retryMs ?? 1000);
    this.timers.add(t);
  }

  snapshot(): RegistrySnapshot {
    return this.current;
  }

  onChange(listener: (s: RegistrySnapshot) => void): Unsubscribe {
    return this.emitter.on(listener);
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const t of this.timers) clearTimeout(t);
    await Promise.all([this.services.stop(), this.slices.stop(), this.pods.stop()]);
  }
}

export async function createKubernetesRegistry(opts: KubernetesRegistryOptions = {}): Promise<ServiceRegistry> {
  const kc = opts.kubeConfig ?? loadKubeConfig();
  const core = kc.makeApiClient(CoreV1Api);
  const discovery = kc.makeApiClient(DiscoveryV1Api);
  const services = makeInformer<KubernetesObject>(kc, '/api/v1/services', () => core.listServiceForAllNamespaces());
  const slices = makeInformer<KubernetesObject>(kc, '/apis/discovery.k8s.io/v1/endpointslices', () => discovery.listEndpointSliceForAllNamespaces());
  // Pods: an endpoint's labels and service account (istiod watches them for the same reason). The
  // informer keeps whole pod objects; a metadata-only watch would need client-node's partial object
  // metadata support, which 1.4 lacks.
  const pods = makeInformer<KubernetesObject>(kc, '/api/v1/pods', () => core.listPodForAllNamespaces());
  const reg = new KubernetesRegistry(services, slices, pods, opts);

  // The first sync must succeed: serving an empty registry to connected proxies
  // would remove all their clusters.
  let initialError: unknown;
  const onInitialError = (err: unknown): void => {
    initialError ??= err;
  };
  const informers = [services, slices, pods];
  for (const inf of informers) inf.on('error', onInitialError);
  await Promise.all(informers.map((inf) => inf.start()));
  for (const inf of informers) inf.off('error', onInitialError);
  if (initialError !== undefined) {
    await reg.close();
    const e = initialError as { message?: string; statusCode?: number; code?: number };
    throw new UserError(`kubernetes registry: cannot list Services, EndpointSlices and Pods from ${kc.getCurrentCluster()?.server ?? 'the API server'}: ${e.message ?? e.statusCode ?? e.code ?? String(initialError)}`);
  }
  reg.rebuild();
  for (const [inf, what] of [[services, 'services'], [slices, 'endpointslices'], [pods, 'pods']] as const) {
    inf.on('add', () => reg.schedule());
    inf.on('update', () => reg.schedule());
    inf.on('delete', () => reg.schedule());
    inf.on('error', (err: unknown) => reg.retry(inf, what, err));
  }
  return reg;
}
