import type { Logger } from '../../common/logger.js';
import type { MeshConfig } from '../mesh/mesh-config.js';
import type { ConfigKind, ConfigObject, ConfigProblem } from '../model.js';
import type { ConfigSnapshot } from './snapshot.js';

/** What changed in one kind: `configKey`s (`Kind/namespace/name`), each sorted. */
export interface KindChanges {
  added: string[];
  updated: string[];
  deleted: string[];
}

/** One change event: the new snapshot and exactly the objects that changed, per kind (kinds without change absent). */
export interface ConfigChange {
  snapshot: ConfigSnapshot;
  kinds: Partial<Record<ConfigKind, KindChanges>>;
}

export type Unsubscribe = () => void;

/**
 * Istio config as the control plane reads it, from any source (`file:PATH`, `kubernetes`). Only valid
 * objects are in it; an object refused by validation keeps its last good version.
 */
export interface ConfigStore {
  /** the objects of one kind, sorted by namespace then name; frozen */
  list(kind: ConfigKind): readonly ConfigObject[];
  get(kind: ConfigKind, namespace: string, name: string): ConfigObject | undefined;
  /** the current immutable snapshot (a new one after every change; unchanged kinds are shared) */
  snapshot(): ConfigSnapshot;
  /** called after each change with the new snapshot and the changed keys */
  onChange(listener: (change: ConfigChange) => void): Unsubscribe;
  /** resolves once the first full read is done (files read; every installed CRD listed) */
  readonly synced: Promise<void>;
  hasSynced(): boolean;
  /** a new mesh config: its discoverySelectors limit the namespaces read (Kubernetes; files have no namespace labels) */
  setMesh(mesh: Pick<MeshConfig, 'discoverySelectors'>): void;
  close(): Promise<void>;
}

/** The validator the stores run every object through (config/validation/ provides Istio's). */
export type ConfigValidator = (obj: unknown) => ConfigProblem[];

/** Counts refused objects (common/metrics.ts's TandemMetrics fits). */
export interface RejectionCounter {
  recordConfigRejected(kind: string): void;
}

export interface ConfigStoreDeps {
  validate: ConfigValidator;
  log?: Logger;
  metrics?: RejectionCounter;
}
