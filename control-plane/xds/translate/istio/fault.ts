/**
 * HTTPFaultInjection → the fault filter's per-route HTTPFault, as Istio converts it: percentages per
 * million; a delay without `percentage` takes the deprecated integer `percent` (0 when absent, so no
 * delay — Istio's behaviour); exponential delays are not supported (Istio drops them too); gRPC abort
 * codes by name.
 */
import type { HTTPFaultInjection } from '../../../../config/kinds.js';
import { duration, FAULT_TYPE, fractionalPercent, type Json } from './envoy.js';

/** gRPC status names (google.rpc.Code) as Istio accepts them in abort.grpcStatus. */
export const GRPC_STATUS: Readonly<Record<string, number>> = Object.freeze({
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
});

export function httpFault(f: HTTPFaultInjection | undefined): Json | undefined {
  if (!f) return undefined;
  const out: Json = { '@type': FAULT_TYPE };
  if (f.delay?.fixedDelay) {
    out['delay'] = {
      fixed_delay: duration(f.delay.fixedDelay),
      percentage: f.delay.percentage ? fractionalPercent(f.delay.percentage.value) : { numerator: f.delay.percent ?? 0, denominator: 'HUNDRED' },
    };
  }
  if (f.abort) {
    const abort: Json = {};
    if (f.abort.httpStatus !== undefined) abort['http_status'] = f.abort.httpStatus;
    else if (f.abort.grpcStatus !== undefined && GRPC_STATUS[f.abort.grpcStatus] !== undefined) abort['grpc_status'] = GRPC_STATUS[f.abort.grpcStatus];
    if (Object.keys(abort).length > 0) {
      if (f.abort.percentage) abort['percentage'] = fractionalPercent(f.abort.percentage.value);
      out['abort'] = abort;
    }
  }
  return out['delay'] || out['abort'] ? out : undefined;
}
