import type { Logger } from '../../../common/logger.js';
import { TandemMetrics } from '../../../common/metrics.js';
import { isObject } from '../../../common/objects.js';
import type { ConfigProblem } from '../../../config/model.js';
import type { ConfigChange, ConfigStore } from '../../../config/store/types.js';

/**
 * A small stand-in for config/validation/ (built on another branch): the store only needs *a*
 * validator, and these rules are easy to break on purpose. VirtualService: spec.hosts a non-empty list
 * of strings; DestinationRule: spec.host a string; every kind: spec a mapping.
 */
export function testValidator(obj: unknown): ConfigProblem[] {
  if (!isObject(obj)) return [{ path: '', message: 'must be a mapping' }];
  const spec = obj['spec'];
  if (!isObject(spec)) return [{ path: 'spec', message: 'must be a mapping' }];
  if (obj['kind'] === 'VirtualService') {
    const hosts = spec['hosts'];
    if (!Array.isArray(hosts) || hosts.length === 0) return [{ path: 'spec.hosts', message: 'must be a non-empty list' }];
    const bad = hosts.findIndex((h) => typeof h !== 'string');
    if (bad >= 0) return [{ path: `spec.hosts[${bad}]`, message: 'must be a string' }];
  }
  if (obj['kind'] === 'DestinationRule' && typeof spec['host'] !== 'string') return [{ path: 'spec.host', message: 'is required' }];
  return [];
}

export interface LogEntry {
  level: 'debug' | 'info' | 'warn' | 'error';
  obj: Record<string, unknown>;
  msg: string | undefined;
}

/** A logger that keeps what it is told, for assertions on the log lines. */
export function recordingLogger(): Logger & { entries: LogEntry[] } {
  const entries: LogEntry[] = [];
  const at = (level: LogEntry['level']) => (obj: object, msg?: string) => void entries.push({ level, obj: obj as Record<string, unknown>, msg });
  return { entries, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

/** The value of `tandem_config_rejected_total{kind}` as exposed (0 when absent). */
export async function rejectedCount(metrics: TandemMetrics, kind: string): Promise<number> {
  const text = await metrics.render();
  const m = new RegExp(`^tandem_config_rejected_total\\{kind="${kind}"\\} (\\d+)$`, 'm').exec(text);
  return m ? Number(m[1]) : 0;
}

export function freshMetrics(): TandemMetrics {
  return new TandemMetrics({ processMetrics: false });
}

/** Resolves with the next change event; fails the test loudly after `ms`. */
export function nextChange(store: ConfigStore, ms = 5000): Promise<ConfigChange> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`no config change within ${ms} ms`));
    }, ms);
    const off = store.onChange((c) => {
      clearTimeout(timer);
      off();
      resolve(c);
    });
  });
}

/** Waits until `pred` holds (polling), or fails after `ms`. */
export async function until(pred: () => boolean, what: string, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Istio objects as YAML, written by hand in the tests. */
export function vsYaml(name: string, hosts: string[] | string, ns?: string): string {
  const h = Array.isArray(hosts) ? `[${hosts.join(', ')}]` : hosts;
  return `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: ${name}
${ns ? `  namespace: ${ns}\n` : ''}spec:
  hosts: ${h}
`;
}

export function drYaml(name: string, host: string, ns: string): string {
  return `apiVersion: networking.istio.io/v1beta1
kind: DestinationRule
metadata: {name: ${name}, namespace: ${ns}}
spec: {host: ${host}}
`;
}
