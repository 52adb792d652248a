import { UserError } from '../../common/errors.js';
import { formatDocuments, parseDocuments, readSource, readStdin, type OutputFormat } from '../../common/documents.js';
import { injectPod, type Injector } from '../injector.js';
import { explain } from '../policy.js';
import { mapPods, podSites, type KubeObject, type PodSite } from './workloads.js';

/**
 * `tandem inject` and `tandem check-inject`: files in, text out. The pod-level
 * work is injectPod / explain, the same code the webhook runs.
 */
export interface OfflineIO {
  stdin?: () => Promise<string>;
}

function namespaceOf(o: KubeObject): string {
  const m = o.metadata as { namespace?: unknown } | undefined;
  return typeof m?.namespace === 'string' && m.namespace !== '' ? m.namespace : 'default';
}

/**
 * The apiserver rejects non-string label and annotation values; catching them
 * here turns an unquoted `sidecar.istio.io/inject: false` into a clear error
 * instead of a wrong decision.
 */
export function checkStringMaps(site: PodSite): void {
  for (const field of ['labels', 'annotations'] as const) {
    const map = site.pod.metadata?.[field] as Record<string, unknown> | undefined;
    if (map === undefined || map === null) continue;
    if (typeof map !== 'object' || Array.isArray(map)) throw new UserError(`pod metadata.${field} must be a mapping`);
    for (const [k, v] of Object.entries(map)) {
      if (typeof v !== 'string') throw new UserError(`pod metadata.${field}.${k} is ${JSON.stringify(v)}, not a string (quote it)`);
    }
  }
}

export interface InjectFilesResult {
  output: string;
  warnings: string[];
}

export async function injectFiles(files: string[], injector: Injector, format: OutputFormat, io: OfflineIO = {}): Promise<InjectFilesResult> {
  if (files.length === 0) throw new UserError('inject: no input; pass -f FILE (or -f - for stdin)');
  const items: Array<{ object: KubeObject; original?: import('yaml').Document }> = [];
  const warnings: string[] = [];
  for (const f of files) {
    const { source, text } = await readSource(f, io.stdin ?? readStdin);
    for (const d of parseDocuments(text, source)) {
      let changed = false;
      const object = mapPods(d.object, (site) => {
        try {
          checkStringMaps(site);
          const outcome = injectPod(site.pod, { namespace: { name: site.namespace ?? namespaceOf(d.object) }, mode: 'manual', workload: site.workload }, injector);
          for (const w of outcome.warnings) warnings.push(`${source}: document ${d.index}: ${site.kind}/${site.name}: ${w}`);
          if (outcome.pod !== site.pod) changed = true;
          return outcome.pod;
        } catch (err) {
          if (err instanceof UserError) throw new UserError(`${source}: document ${d.index}: ${site.kind}/${site.name}: ${err.message}`);
          throw err;
        }
      });
      items.push(changed ? { object } : { object: d.object, original: d.doc });
    }
  }
  return { output: formatDocuments(items, format), warnings };
}

export interface CheckResult {
  kind: string;
  name: string;
  namespace: string;
  inject: boolean;
  rule: string;
  reason: string;
}

/** Parses `k=v,k2=v2` (an empty string is an unlabelled namespace). */
export function parseLabelList(s: string, flag = '--namespace-labels'): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of s.split(',')) {
    const p = part.trim();
    if (p === '') continue;
    const eq = p.indexOf('=');
    if (eq <= 0) throw new UserError(`${flag}: "${p}" is not key=value`);
    const k = p.slice(0, eq).trim();
    const v = p.slice(eq + 1).trim();
    if (!/^([a-zA-Z0-9.-]+\/)?[a-zA-Z0-9]([-a-zA-Z0-9_.]*[a-zA-Z0-9])?$/.test(k)) throw new UserError(`${flag}: "${k}" is not a label key`);
    out[k] = v;
  }
  return out;
}

export async function checkFiles(files: string[], injector: Injector, namespaceLabels: Record<string, string>, io: OfflineIO = {}): Promise<CheckResult[]> {
  if (files.length === 0) throw new UserError('check-inject: no input; pass -f FILE (or -f - for stdin)');
  const results: CheckResult[] = [];
  for (const f of files) {
    const { source, text } = await readSource(f, io.stdin ?? readStdin);
    for (const d of parseDocuments(text, source)) {
      for (const site of podSites(d.object)) {
        try {
          checkStringMaps(site);
        } catch (err) {
          throw new UserError(`${source}: document ${d.index}: ${site.kind}/${site.name}: ${(err as Error).message}`);
        }
        const namespace = site.namespace ?? namespaceOf(d.object);
        const ctx = { namespace: { name: namespace, labels: namespaceLabels }, mode: 'webhook' as const, workload: site.workload };
        let decision = explain(site.pod, ctx, injector.policy);
        if (decision.inject) {
          // The webhook would refuse a pod whose annotations it cannot honour.
          try {
            injectPod(site.pod, ctx, injector);
          } catch (err) {
            if (!(err instanceof UserError)) throw err;
            decision = { inject: false, rule: 'invalid-annotation', reason: `the webhook would refuse the pod: ${err.message}` };
          }
        }
        results.push({ kind: site.kind, name: site.name, namespace, inject: decision.inject, rule: decision.rule, reason: decision.reason });
      }
    }
  }
  return results;
}

export function formatCheckResults(results: CheckResult[], format: 'text' | 'json'): string {
  if (format === 'json') return JSON.stringify(results, null, 2) + '\n';
  if (results.length === 0) return 'no workloads with a pod template found\n';
  return results
    .map((r) => `${r.kind}/${r.name} (namespace ${r.namespace}): ${r.inject ? 'INJECTED' : 'not injected'} [${r.rule}] ${r.reason}`)
    .join('\n') + '\n';
}
