import type { V1Pod } from '@kubernetes/client-node';

/**
 * The contract between the injection core (policy, templates, rendering) and its
 * edges (the admission server, `tandem inject`, `tandem check-inject`).
 */
export type Pod = V1Pod;

/** What the injector knows about the namespace a pod lands in. */
export interface NamespaceFacts {
  name: string;
  /** Undefined when unknown (the admission request carries no namespace labels). */
  labels?: Record<string, string>;
}

/** Where the pod comes from: the apiserver (already filtered by selectors) or a file. */
export type InjectionMode = 'webhook' | 'manual';

export interface InjectionContext {
  namespace: NamespaceFacts;
  mode: InjectionMode;
  /**
   * The workload owning the pod template (offline injection of a Deployment,
   * CronJob...). Absent for admission requests: derived from ownerReferences.
   */
  workload?: { kind: string; name: string };
}

export type Decision =
  | { inject: true; rule: string; reason: string }
  | { inject: false; rule: string; reason: string };

export interface InjectionOutcome {
  decision: Decision;
  /**
   * The injected pod when decision.inject (in webhook mode it shares unchanged parts with the
   * input: treat both as read-only); the input otherwise.
   */
  pod: Pod;
  /** Non-fatal problems worth telling the user (returned as admission warnings). */
  warnings: string[];
}
