import { UserError } from '../common/errors.js';
import { boolAnnotation } from './probes.js';
import { isPort } from '../common/names.js';

/**
 * Istio's metrics merge: the pod's prometheus.io/* scrape annotations are
 * pointed at the proxy's status port (`:15020/stats/prometheus`) and the
 * original target moves to the sidecar's ISTIO_PROMETHEUS_ANNOTATIONS, so that
 * one scrape returns the app's and the proxy's metrics.
 * `prometheus.istio.io/merge-metrics: "false"` (or the injector's
 * `enablePrometheusMerge: false`) leaves the annotations alone, and so does an
 * explicit `prometheus.io/scrape: "false"`.
 */
export const MERGE_METRICS_ANNOTATION = 'prometheus.istio.io/merge-metrics';
export const SCRAPE_TARGETS_ANNOTATION = 'prometheus.istio.io/scrape-targets';
export const PROMETHEUS_ENV = 'ISTIO_PROMETHEUS_ANNOTATIONS';
export const MERGED_METRICS_PORT = '15020';
export const MERGED_METRICS_PATH = '/stats/prometheus';

/** Prometheus reads `prometheus.io/scrape`, `prometheus.io.scrape`, `prometheus-io/scrape` alike (label-name sanitising). */
function sanitized(key: string): string {
  return key.replace(/[^a-zA-Z0-9_]/g, '_');
}
const SCRAPE = 'prometheus_io_scrape';
const PORT = 'prometheus_io_port';
const PATH = 'prometheus_io_path';

export interface ScrapeTarget {
  port: string;
  path: string;
}
/** ISTIO_PROMETHEUS_ANNOTATIONS, fields in Istio's order. */
export interface ScrapeConfiguration {
  scrape: string;
  path: string;
  port: string;
  targets?: ScrapeTarget[];
}

export interface PrometheusMerge {
  /** The pod's annotations after the merge (a new object). */
  annotations: Record<string, string>;
  /** The original target for the sidecar, when the pod had one. */
  env?: string;
}

function parseTargets(raw: string): ScrapeTarget[] {
  const targets: ScrapeTarget[] = [];
  for (const part of raw.split(',')) {
    const item = part.trim();
    if (item === '') continue;
    const m = /^(\d+)(?::(\/\S*))?$/.exec(item);
    if (!m || !isPort(m[1]!)) {
      throw new UserError(`invalid annotation ${SCRAPE_TARGETS_ANNOTATION}="${raw}": "${item}" is not PORT or PORT:/PATH`);
    }
    targets.push({ port: m[1]!, path: m[2] ?? '/metrics' });
  }
  return targets;
}

/** Pure: the merged annotations and the sidecar's variable; undefined when nothing changes. */
export function prometheusMerge(annotations: Record<string, string>, enabledByDefault: boolean): PrometheusMerge | undefined {
  if (!boolAnnotation(annotations, MERGE_METRICS_ANNOTATION, enabledByDefault)) return undefined;
  let scrape = '';
  let port: string | undefined;
  let path = '';
  for (const [k, v] of Object.entries(annotations)) {
    const s = sanitized(k);
    if (s === SCRAPE) scrape = v;
    else if (s === PORT) port = v;
    else if (s === PATH) path = v;
  }
  // An explicit "do not scrape" stays so: the pod is left out (Istio parses it as a Go bool).
  if (['false', 'False', 'FALSE', 'f', 'F', '0'].includes(scrape.trim())) return undefined;
  // Already pointing at the proxy: a re-injection, or the user chose it.
  if (port === MERGED_METRICS_PORT) return undefined;
  const targetsRaw = annotations[SCRAPE_TARGETS_ANNOTATION];
  const targets = targetsRaw === undefined ? undefined : parseTargets(targetsRaw);
  const first = targets?.[0];
  const cfg: ScrapeConfiguration = { scrape, path: path || (first?.path ?? ''), port: port ?? first?.port ?? '' };
  if (targets && targets.length > 0) cfg.targets = targets;
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(annotations)) {
    const s = sanitized(k);
    if (s !== SCRAPE && s !== PORT && s !== PATH && k !== SCRAPE_TARGETS_ANNOTATION) out[k] = v;
  }
  out['prometheus.io/port'] = MERGED_METRICS_PORT;
  out['prometheus.io/path'] = MERGED_METRICS_PATH;
  out['prometheus.io/scrape'] = 'true';
  const empty = cfg.scrape === '' && cfg.path === '' && cfg.port === '' && !cfg.targets;
  return empty ? { annotations: out } : { annotations: out, env: JSON.stringify(cfg) };
}
