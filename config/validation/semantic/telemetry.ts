import { parse as parseCel } from '@bufbuild/cel';
import { Problems, arr, checkSelector, num, obj, str, type Json } from './common.js';

/** Istio's Telemetry rules (pkg/config/validation: validateTelemetry). */

function checkProviders(p: Problems, path: string, v: unknown): void {
  arr(v).forEach((ref, i) => {
    if ((str(obj(ref)?.name) ?? '') === '') p.add(`${path}[${i}].name`, 'provider name must be set');
  });
}

export function validateTelemetry(spec: Json): Problems {
  const p = new Problems();
  checkSelector(p, 'spec.selector', spec.selector, 'matchLabels');
  arr(spec.tracing).forEach((t, i) => {
    const tracing = obj(t);
    if (tracing === undefined) return;
    const at = `spec.tracing[${i}]`;
    checkProviders(p, `${at}.providers`, tracing.providers);
    if (arr(tracing.providers).length > 1) p.add(`${at}.providers`, 'only one provider is supported per tracing configuration');
    const pct = num(tracing.randomSamplingPercentage) ?? num(obj(tracing.randomSamplingPercentage)?.value);
    if (pct !== undefined && (pct < 0 || pct > 100)) p.add(`${at}.randomSamplingPercentage`, `randomSamplingPercentage must be in range [0.0, 100.0], got ${pct}`);
  });
  arr(spec.accessLogging).forEach((a, i) => {
    checkProviders(p, `spec.accessLogging[${i}].providers`, obj(a)?.providers);
    // Istio parses the filter (it reaches Envoy's CEL access-log filter, which would NACK the listener)
    const expr = str(obj(obj(a)?.filter)?.expression);
    if (expr !== undefined) {
      try {
        parseCel(expr);
      } catch (err) {
        p.add(`spec.accessLogging[${i}].filter.expression`, `must be a valid CEL expression: ${(err as Error).message.split('\n')[0]}`);
      }
    }
  });
  arr(spec.metrics).forEach((m, i) => checkProviders(p, `spec.metrics[${i}].providers`, obj(m)?.providers));
  return p;
}
