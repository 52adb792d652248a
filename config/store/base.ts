import { silentLogger, type Logger } from '../../common/logger.js';
import { getMetrics } from '../../common/metrics.js';
import type { MeshConfig } from '../mesh/mesh-config.js';
import type { ConfigKind, ConfigObject, ConfigProblem } from '../model.js';
import { describeProblems } from './admit.js';
import { ConfigSnapshot } from './snapshot.js';
import type { ConfigChange, ConfigStore, ConfigStoreDeps, ConfigValidator, RejectionCounter, Unsubscribe } from './types.js';

/**
 * What every source shares: the current snapshot, listeners, the synced promise, and how a refusal is
 * reported. Sources decide what the objects are and call {@link commit}.
 */
export abstract class BaseConfigStore implements ConfigStore {
  protected current = new ConfigSnapshot();
  protected readonly log: Logger;
  protected readonly validate: ConfigValidator;
  private readonly metrics: RejectionCounter;
  private readonly listeners = new Set<(c: ConfigChange) => void>();
  private syncedFlag = false;
  private resolveSynced!: () => void;
  readonly synced: Promise<void>;

  constructor(deps: ConfigStoreDeps) {
    this.log = deps.log ?? silentLogger;
    this.validate = deps.validate;
    this.metrics = deps.metrics ?? getMetrics();
    this.synced = new Promise((resolve) => (this.resolveSynced = resolve));
  }

  list(kind: ConfigKind): readonly ConfigObject[] {
    return this.current.list(kind);
  }

  get(kind: ConfigKind, namespace: string, name: string): ConfigObject | undefined {
    return this.current.get(kind, namespace, name);
  }

  snapshot(): ConfigSnapshot {
    return this.current;
  }

  onChange(listener: (change: ConfigChange) => void): Unsubscribe {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  hasSynced(): boolean {
    return this.syncedFlag;
  }

  /** Sources without namespace labels ignore discoverySelectors. */
  setMesh(_mesh: Pick<MeshConfig, 'discoverySelectors'>): void {}

  abstract close(): Promise<void>;

  protected markSynced(): void {
    if (this.syncedFlag) return;
    this.syncedFlag = true;
    this.resolveSynced();
  }

  /** Installs the result of applying the changes and tells the listeners, when anything changed. */
  protected commit(upserts: Iterable<ConfigObject>, deletes: Iterable<string>): void {
    const { snapshot, kinds } = this.current.apply(upserts, deletes);
    if (snapshot === this.current) return;
    this.current = snapshot;
    const change: ConfigChange = { snapshot, kinds };
    for (const l of [...this.listeners]) {
      try {
        l(change);
      } catch (err) {
        this.log.error({ err: (err as Error).message }, 'config change listener failed');
      }
    }
  }

  /** Logs and counts a refused object; `where` names the file and document, or the API object. */
  protected rejected(kind: ConfigKind, where: Record<string, unknown>, problems: readonly ConfigProblem[], keptLastGood: boolean): void {
    this.metrics.recordConfigRejected(kind);
    this.log.error(
      { ...where, kind, problems: describeProblems(problems), keptLastGood },
      keptLastGood ? 'invalid Istio config refused; its last good version stays in force' : 'invalid Istio config refused',
    );
  }
}
