import {
  ApiextensionsV1Api,
  CoreV1Api,
  KubernetesObjectApi,
  makeInformer,
  type KubeConfig,
  type KubernetesObject,
} from '@kubernetes/client-node';
import { loadKubeConfig } from '../../common/kubeconfig.js';
import { isObject } from '../../common/objects.js';
import { namespaceSelected } from '../mesh/discovery.js';
import type { MeshConfig } from '../mesh/mesh-config.js';
import { CONFIG_KINDS, CONFIG_VERSIONS, configKey, type ConfigKind, type ConfigObject } from '../model.js';
import { admitDocument, istioKind } from './admit.js';
import { BaseConfigStore } from './base.js';
import { ResilientInformer, type WatchOptions } from './informer.js';
import type { ConfigStoreFactoryDeps } from './index.js';

/**
 * The `kubernetes` source: one @kubernetes/client-node informer per Istio CRD that is installed (list,
 * then watch from its resourceVersion; a 410 Gone re-lists), started when the CRD appears — a watch on
 * CustomResourceDefinitions tells — and stopped when it goes. A watch that fails (an error status, a
 * dropped connection) is restarted with exponential backoff; it resumes from the last resourceVersion, so
 * nothing is applied twice or lost. With `discoverySelectors`, Namespaces are watched as well and only
 * objects in selected namespaces are in the store; relabelling a namespace adds or removes its objects.
 * Events of one tick are committed together.
 */

const CRDS = '/apis/apiextensions.k8s.io/v1/customresourcedefinitions';
const NAMESPACES = '/api/v1/namespaces';

export interface IstioCrd {
  kind: ConfigKind;
  group: string;
  plural: string;
  /** the version tandem reads: served, one of CONFIG_VERSIONS, the first in that order; undefined when none is (yet) */
  version: string | undefined;
}

/**
 * What a CustomResourceDefinition means for tandem (pure): undefined for a CRD that is not one of
 * CONFIG_KINDS. A CRD the apiserver reports not yet Established serves nothing yet.
 */
export function istioCrd(crd: unknown): IstioCrd | undefined {
  if (!isObject(crd) || !isObject(crd['spec'])) return undefined;
  const spec = crd['spec'];
  const names = isObject(spec['names']) ? spec['names'] : {};
  const kind = istioKind({ apiVersion: `${String(spec['group'])}/x`, kind: names['kind'] });
  const known = CONFIG_KINDS.find((k) => k.kind === kind);
  if (!known || names['plural'] !== known.plural) return undefined;
  const conditions = isObject(crd['status']) && Array.isArray(crd['status']['conditions']) ? crd['status']['conditions'] : [];
  const established = conditions.find((c) => isObject(c) && c['type'] === 'Established');
  const servedVersions = new Set(
    (Array.isArray(spec['versions']) ? spec['versions'] : []).filter((v) => isObject(v) && v['served'] === true).map((v) => (v as Record<string, unknown>)['name']),
  );
  const ready = established === undefined || (established as Record<string, unknown>)['status'] === 'True';
  const version = ready ? CONFIG_VERSIONS.find((v) => servedVersions.has(v)) : undefined;
  return { kind: known.kind, group: known.group, plural: known.plural, version };
}

export interface KubernetesConfigStoreOptions extends ConfigStoreFactoryDeps {
  /** first delay before restarting a failed list/watch, ms (doubles per failure) */
  retryMs?: number;
  /** longest delay between restarts, ms */
  maxRetryMs?: number;
}

export class KubernetesConfigStore extends BaseConfigStore {
  private readonly objectApi: KubernetesObjectApi;
  private readonly crds: ResilientInformer;
  private readonly kinds = new Map<ConfigKind, { version: string; watch: ResilientInformer }>();
  private namespaces: ResilientInformer | undefined;
  /** labels of every namespace seen (only watched with discoverySelectors) */
  private readonly nsLabels = new Map<string, Record<string, string>>();
  /** accepted (or last good) objects of every namespace, selected or not */
  private readonly accepted = new Map<string, ConfigObject>();
  private readonly pending = new Map<string, ConfigObject | null>();
  private flushScheduled = false;
  private closed = false;
  private mesh: Pick<MeshConfig, 'discoverySelectors'>;
  private readonly watchOpts: WatchOptions;

  constructor(
    private readonly kc: KubeConfig,
    opts: KubernetesConfigStoreOptions,
  ) {
    super(opts);
    this.mesh = opts.mesh ?? { discoverySelectors: [] };
    this.watchOpts = { retryMs: opts.retryMs ?? 1000, maxRetryMs: opts.maxRetryMs ?? 30_000, log: this.log };
    this.objectApi = KubernetesObjectApi.makeApiClient(kc);
    const ext = kc.makeApiClient(ApiextensionsV1Api);
    const crdInformer = makeInformer<KubernetesObject>(kc, CRDS, () => ext.listCustomResourceDefinition());
    crdInformer.on('add', (o) => this.onCrd(o));
    crdInformer.on('update', (o) => this.onCrd(o));
    crdInformer.on('delete', (o) => {
      const crd = istioCrd(o);
      if (crd) this.stopKind(crd.kind, 'CRD deleted');
    });
    this.crds = new ResilientInformer('customresourcedefinitions', crdInformer, this.watchOpts, () => this.checkSynced());
  }

  start(): void {
    if (this.mesh.discoverySelectors.length > 0) this.watchNamespaces();
    void this.crds.run();
  }

  /** New mesh config: discoverySelectors may select other namespaces now. */
  override setMesh(mesh: Pick<MeshConfig, 'discoverySelectors'>): void {
    this.mesh = mesh;
    if (mesh.discoverySelectors.length > 0 && !this.namespaces) this.watchNamespaces();
    // Until the namespaces are listed, the old selection stays (re-selecting from nothing would drop everything).
    else if (!this.namespaces || this.namespaces.listed) this.reselect();
  }

  private selected(namespace: string): boolean {
    if (this.mesh.discoverySelectors.length === 0) return true;
    const labels = this.nsLabels.get(namespace);
    return labels !== undefined && namespaceSelected(this.mesh, labels);
  }

  private watchNamespaces(): void {
    const core = this.kc.makeApiClient(CoreV1Api);
    const inf = makeInformer<KubernetesObject>(this.kc, NAMESPACES, () => core.listNamespace());
    const seen = (o: KubernetesObject): void => {
      const name = o.metadata?.name;
      if (!name) return;
      const before = this.selected(name);
      this.nsLabels.set(name, { ...(o.metadata?.labels ?? {}) });
      if (this.namespaces?.listed && this.selected(name) !== before) this.reselect(name);
    };
    inf.on('add', seen);
    inf.on('update', seen);
    inf.on('delete', (o) => {
      const name = o.metadata?.name;
      if (!name) return;
      this.nsLabels.delete(name);
      this.reselect(name);
    });
    this.namespaces = new ResilientInformer('namespaces', inf, this.watchOpts, () => {
      this.reselect();
      this.checkSynced();
    });
    void this.namespaces.run();
  }

  /** Puts in or takes out the objects whose namespace selection no longer matches the store (all, or one namespace). */
  private reselect(namespace?: string): void {
    for (const [key, o] of this.accepted) {
      if (namespace !== undefined && o.metadata.namespace !== namespace) continue;
      const want = this.selected(o.metadata.namespace);
      const has = this.current.byKey(o.kind).has(key);
      if (want && !has) this.pending.set(key, o);
      else if (!want && (has || this.pending.get(key))) this.pending.set(key, null);
    }
    this.schedule();
  }

  private onCrd(o: KubernetesObject): void {
    const crd = istioCrd(o);
    if (!crd || this.closed) return;
    const running = this.kinds.get(crd.kind);
    if (running?.version === crd.version) return;
    if (running) this.stopKind(crd.kind, `serving version changed to ${crd.version ?? 'none'}`);
    if (crd.version === undefined) {
      this.log.info({ kind: crd.kind }, 'Istio CRD installed but no version tandem reads is served yet; waiting');
      return;
    }
    const { kind, group, plural, version } = crd;
    const apiVersion = `${group}/${version}`;
    const inf = makeInformer<KubernetesObject>(this.kc, `/apis/${apiVersion}/${plural}`, () => this.objectApi.list(apiVersion, kind));
    inf.on('add', (x) => this.onObject(x));
    inf.on('update', (x) => this.onObject(x));
    inf.on('delete', (x) => this.onDeleted(kind, x));
    const watch = new ResilientInformer(`${plural}.${apiVersion}`, inf, this.watchOpts, () => this.checkSynced());
    this.kinds.set(kind, { version, watch });
    this.log.info({ kind, apiVersion }, 'watching Istio config');
    void watch.run();
  }

  private stopKind(kind: ConfigKind, why: string): void {
    const running = this.kinds.get(kind);
    if (!running) return;
    this.kinds.delete(kind);
    void running.watch.stop();
    this.log.info({ kind, why }, 'stopped watching Istio config');
    for (const [key, o] of this.accepted) {
      if (o.kind !== kind) continue;
      this.accepted.delete(key);
      this.pending.set(key, null);
    }
    this.schedule();
  }

  private onObject(raw: KubernetesObject): void {
    const a = admitDocument(raw, this.validate);
    if (a.outcome === 'ignored') return;
    if (a.outcome === 'rejected') {
      const lastGood = a.key === undefined ? undefined : this.accepted.get(a.key);
      this.rejected(a.kind, { namespace: raw.metadata?.namespace, name: raw.metadata?.name, resourceVersion: raw.metadata?.resourceVersion }, a.problems, lastGood !== undefined);
      return;
    }
    const key = configKey(a.object);
    this.accepted.set(key, a.object);
    if (this.selected(a.object.metadata.namespace)) {
      this.pending.set(key, a.object);
      this.schedule();
    }
  }

  private onDeleted(kind: ConfigKind, raw: KubernetesObject): void {
    const namespace = raw.metadata?.namespace;
    const name = raw.metadata?.name;
    if (!namespace || !name) return;
    const key = configKey({ kind, metadata: { namespace, name } });
    this.accepted.delete(key);
    this.pending.set(key, null);
    this.schedule();
  }

  private schedule(): void {
    if (this.flushScheduled || this.closed) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      if (this.closed) return;
      const upserts: ConfigObject[] = [];
      const deletes: string[] = [];
      for (const [key, o] of this.pending) {
        if (o) upserts.push(o);
        else deletes.push(key);
      }
      this.pending.clear();
      this.commit(upserts, deletes);
    });
  }

  private checkSynced(): void {
    if (this.hasSynced() || !this.crds.listed) return;
    if (this.namespaces && !this.namespaces.listed) return;
    for (const { watch } of this.kinds.values()) if (!watch.listed) return;
    // after the events of the lists are committed, so `synced` means "the store holds them"
    setImmediate(() => {
      if (!this.closed) this.markSynced();
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([this.crds.stop(), this.namespaces?.stop(), ...[...this.kinds.values()].map((k) => k.watch.stop())]);
  }
}

/**
 * Starts watching at once and resolves without waiting: the API server may be unreachable and the CRDs
 * not yet installed; both are waited for in the background (logged, retried). Await `synced`.
 */
export async function createKubernetesConfigStore(opts: KubernetesConfigStoreOptions): Promise<KubernetesConfigStore> {
  const store = new KubernetesConfigStore(opts.kubeConfig ?? loadKubeConfig(), opts);
  store.start();
  return store;
}
