import { numericPort } from './app-probes.js';

/** The app's Prometheus target, merged on the status port (15020) after Envoy's own stats. */

/** ISTIO_PROMETHEUS_ANNOTATIONS as the injector writes it (inject/prometheus.ts ScrapeConfiguration). */
export interface PrometheusScrape {
  scrape?: string;
  port?: string | number;
  path?: string;
  targets?: Array<{ port: string | number; path?: string }>;
}

/** Per upstream fetch of a merged scrape (Envoy's admin, then each app target). */
export const METRICS_FETCH_TIMEOUT_MS = 5000;

export interface MetricsTarget {
  port: number;
  path: string;
}

/** The app's scrape targets from ISTIO_PROMETHEUS_ANNOTATIONS; none when it names no usable port. */
export function parsePrometheusScrape(s: PrometheusScrape | undefined): MetricsTarget[] {
  if (!s || String(s.scrape ?? '').trim().toLowerCase() === 'false') return [];
  const norm = (path: string | undefined): string => {
    const p = path === undefined || path === '' ? '/metrics' : path;
    return p.startsWith('/') ? p : `/${p}`;
  };
  const raw = Array.isArray(s.targets) && s.targets.length > 0 ? s.targets : [{ port: s.port ?? '', path: s.path }];
  const out: MetricsTarget[] = [];
  const seen = new Set<string>();
  for (const t of raw) {
    const port = numericPort(t.port);
    if (port === undefined) continue;
    const target = { port, path: norm(t.path) };
    const id = `${target.port}${target.path}`;
    if (seen.has(id)) continue;
    seen.add(id);
    out.push(target);
  }
  return out;
}

