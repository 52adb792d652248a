import { CANONICAL_NAME_LABEL, CANONICAL_REVISION_LABEL } from './labels.js';
import type { Pod } from './types.js';

/**
 * Istio's canonical service labels: the name from the canonical-name label,
 * app.kubernetes.io/name, app, else the workload's name; the revision from the
 * canonical-revision label, app.kubernetes.io/version, version, else "latest".
 */
export interface WorkloadRef {
  kind: string;
  name: string;
}

const MAX_LABEL = 63;

/** Label values are at most 63 characters and must end alphanumeric. */
export function truncateLabelValue(v: string): string {
  return v.slice(0, MAX_LABEL).replace(/[^A-Za-z0-9]+$/, '');
}

/**
 * The workload a pod belongs to, from its controller owner reference as the
 * apiserver sets it: ReplicaSet -> Deployment (minus the pod-template-hash
 * suffix), Job -> CronJob (minus the schedule timestamp), else the owner itself;
 * no owner: the pod's own name (or generateName prefix).
 */
export function workloadOf(pod: Pod): WorkloadRef {
  const meta = pod.metadata ?? {};
  const owner = (meta.ownerReferences ?? []).find((o) => o.controller === true);
  if (owner) {
    if (owner.kind === 'ReplicaSet') {
      const hash = meta.labels?.['pod-template-hash'];
      if (hash && owner.name.endsWith(`-${hash}`)) return { kind: 'Deployment', name: owner.name.slice(0, -hash.length - 1) };
      return { kind: 'ReplicaSet', name: owner.name };
    }
    if (owner.kind === 'Job') {
      // CronJob-created Jobs are named <cronjob>-<minutes since epoch>.
      const m = /^(.+)-\d{8,}$/.exec(owner.name);
      if (m) return { kind: 'CronJob', name: m[1] as string };
      return { kind: 'Job', name: owner.name };
    }
    return { kind: owner.kind, name: owner.name };
  }
  const name = meta.name ?? meta.generateName?.replace(/-$/, '') ?? '';
  return { kind: 'Pod', name };
}

export function canonicalLabels(labels: Record<string, string>, workload: WorkloadRef): { name: string; revision: string } {
  const name = labels[CANONICAL_NAME_LABEL] ?? labels['app.kubernetes.io/name'] ?? labels.app ?? truncateLabelValue(workload.name);
  const revision = labels[CANONICAL_REVISION_LABEL] ?? labels['app.kubernetes.io/version'] ?? labels.version ?? 'latest';
  return { name, revision };
}
