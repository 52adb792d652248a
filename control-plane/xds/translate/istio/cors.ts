/**
 * CorsPolicy → the CORS filter's per-route CorsPolicy, as Istio converts it: origins as string
 * matchers (the deprecated allowOrigin as exact ones), lists joined with commas, maxAge in whole
 * seconds, the filter enabled at 100 %, non-matching preflights forwarded unless `IGNORE`.
 */
import type { CorsPolicy } from '../../../../config/kinds.js';
import { CORS_POLICY_TYPE, durationSeconds, type Json } from './envoy.js';
import { stringMatcher } from './match.js';

export function corsPolicy(c: CorsPolicy | undefined): Json | undefined {
  if (!c) return undefined;
  const out: Json = { '@type': CORS_POLICY_TYPE };
  if (c.allowOrigins) out['allow_origin_string_match'] = c.allowOrigins.map(stringMatcher);
  else if (c.allowOrigin) out['allow_origin_string_match'] = c.allowOrigin.map((exact) => ({ exact }));
  if (c.allowMethods?.length) out['allow_methods'] = c.allowMethods.join(',');
  if (c.allowHeaders?.length) out['allow_headers'] = c.allowHeaders.join(',');
  if (c.exposeHeaders?.length) out['expose_headers'] = c.exposeHeaders.join(',');
  if (c.maxAge) out['max_age'] = String(durationSeconds(c.maxAge));
  if (c.allowCredentials !== undefined) out['allow_credentials'] = c.allowCredentials;
  out['filter_enabled'] = { default_value: { numerator: 100, denominator: 'HUNDRED' } };
  out['forward_not_matching_preflights'] = c.unmatchedPreflights !== 'IGNORE';
  return out;
}
