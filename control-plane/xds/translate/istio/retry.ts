/**
 * HTTPRetry → Envoy RetryPolicy, as Istio converts it: no `retries` means Istio's mesh default (2
 * retries on connect-failure, refused-stream, unavailable, cancelled and 503, other hosts preferred,
 * 5 host selection attempts); `attempts: 0` means no retry policy at all; otherwise the default with
 * the user's attempts, retryOn (numbers in it become retriable status codes), perTryTimeout, backoff.
 * With consistent hashing the previous-hosts predicate is left out: retries must stay on the same host.
 */
import type { HTTPRetry } from '../../../../config/kinds.js';
import { duration, PREVIOUS_HOSTS_TYPE, PREVIOUS_PRIORITIES_TYPE, type Json } from './envoy.js';

const DEFAULT_RETRY_ON = 'connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes';
const PREVIOUS_HOSTS = { name: 'envoy.retry_host_predicates.previous_hosts', typed_config: { '@type': PREVIOUS_HOSTS_TYPE } };

/** The HTTP status codes Go's http.StatusText knows (Istio's test for "is this part a status code"). */
function isHttpStatus(n: number): boolean {
  return (n >= 100 && n <= 103) || (n >= 200 && n <= 208) || n === 226 || (n >= 300 && n <= 308 && n !== 306) ||
    (n >= 400 && n <= 418) || (n >= 421 && n <= 426) || n === 428 || n === 429 || n === 431 || n === 451 ||
    (n >= 500 && n <= 508) || n === 510 || n === 511;
}

function parseRetryOn(retryOn: string): { on: string; codes: number[] } {
  const parts: string[] = [];
  const codes: number[] = [];
  for (const raw of retryOn.split(',')) {
    const p = raw.trim();
    if (p === '') continue;
    if (/^[0-9]+$/.test(p) && isHttpStatus(Number(p))) codes.push(Number(p));
    else parts.push(p);
  }
  let on = parts.join(',');
  if (codes.length > 0 && !on.includes('retriable-status-codes')) on = on ? `${on},retriable-status-codes` : 'retriable-status-codes';
  return { on, codes };
}

export function retryPolicy(retries: HTTPRetry | undefined, consistentHash: boolean): Json | undefined {
  if (retries !== undefined && (retries.attempts ?? 0) <= 0) return undefined;
  const out: Json = { retry_on: DEFAULT_RETRY_ON, num_retries: 2 };
  let codes: number[] = [503];
  let previousHosts = !consistentHash;
  if (retries) {
    out['num_retries'] = retries.attempts;
    if (retries.retryOn) {
      const parsed = parseRetryOn(retries.retryOn);
      out['retry_on'] = parsed.on;
      codes = parsed.codes;
    }
    if (retries.perTryTimeout) out['per_try_timeout'] = duration(retries.perTryTimeout);
    if (retries.retryIgnorePreviousHosts !== undefined) previousHosts = retries.retryIgnorePreviousHosts;
    if (retries.retryRemoteLocalities) {
      out['retry_priority'] = { name: 'envoy.retry_priorities.previous_priorities', typed_config: { '@type': PREVIOUS_PRIORITIES_TYPE, update_frequency: 2 } };
    }
    if (retries.backoff) out['retry_back_off'] = { base_interval: duration(retries.backoff) };
  }
  if (previousHosts) out['retry_host_predicate'] = [PREVIOUS_HOSTS];
  out['host_selection_retry_max_attempts'] = '5';
  if (codes.length > 0) out['retriable_status_codes'] = codes;
  return out;
}

/**
 * What a proxyless gRPC client gets of a retry policy: grpc-js-xds reads retry_on (gRPC status names),
 * num_retries and the back-off (gRFC A44); Envoy's host predicates, host selection attempts and HTTP
 * status codes are left out rather than sent and silently ignored.
 */
export function proxylessRetryPolicy(policy: Json | undefined): Json | undefined {
  if (!policy) return undefined;
  const { retry_host_predicate: _hosts, host_selection_retry_max_attempts: _attempts, retriable_status_codes: _codes, ...rest } = policy;
  return rest;
}
