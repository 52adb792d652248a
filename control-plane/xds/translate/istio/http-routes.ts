/**
 * A VirtualService's `http` section → the Envoy routes of one virtual host, for one proxy and port.
 * Each HTTPRoute gives one Envoy route per match that applies to the proxy (a route whose matches all
 * name another port, other source labels or another namespace is left out). Sidecars get the whole
 * feature set; proxyless gRPC clients get only what grpc-js-xds honours (see `proxyless` below).
 */
import type { HTTPRedirect, HTTPRoute, HTTPRouteDestination } from '../../../../config/kinds.js';
import type { ProxyView } from '../../../model/proxy-view.js';
import type { IndexedVirtualService, MeshSnapshot } from '../../../model/snapshot.js';
import { corsPolicy } from './cors.js';
import { resolveDestination, type ResolvedDestination } from './destinations.js';
import { CORS_FILTER, duration, FAULT_FILTER, fractionalPercent, type Json } from './envoy.js';
import { httpFault } from './fault.js';
import { hashPolicy } from './hash.js';
import { headerEdits } from './headers.js';
import { appliesTo, routeMatch } from './match.js';
import { proxylessRetryPolicy, retryPolicy } from './retry.js';

export interface RouteContext {
  snapshot: MeshSnapshot;
  view: ProxyView;
  /** the port whose route configuration is being built */
  port: number;
  /**
   * Proxyless gRPC: grpc-js-xds honours weighted clusters, path and header matching, the fault filter,
   * retries (retry_on with gRPC status names, num_retries, back-off), timeouts via max_stream_duration
   * and ring-hash hash policies. Everything else (CORS, mirrors, rewrites, header edits, Envoy-only
   * retry predicates) is left out rather than sent and silently ignored.
   */
  proxyless: boolean;
}

const REDIRECT_CODES: Record<number, string> = {
  301: 'MOVED_PERMANENTLY',
  302: 'FOUND',
  303: 'SEE_OTHER',
  307: 'TEMPORARY_REDIRECT',
  308: 'PERMANENT_REDIRECT',
};

function redirect(r: HTTPRedirect): Json {
  const out: Json = {};
  if (r.uri) out['path_redirect'] = r.uri;
  if (r.authority) out['host_redirect'] = r.authority;
  if (r.port !== undefined) out['port_redirect'] = r.port;
  if (r.scheme) out['scheme_redirect'] = r.scheme;
  out['response_code'] = REDIRECT_CODES[r.redirectCode ?? 301] ?? 'MOVED_PERMANENTLY';
  return out;
}

/** The hash policy of the destinations, when they all agree on one (Envoy hashes per route, not per cluster). */
function sharedHash(dests: readonly ResolvedDestination[]): Json[] | undefined {
  const policies = dests.map((d) => hashPolicy(d.consistentHash));
  const first = JSON.stringify(policies[0]);
  return policies[0] && policies.every((p) => JSON.stringify(p) === first) ? policies[0] : undefined;
}

/** The destinations traffic goes to: those with a host and, when there are several, a positive weight. */
function forwarded(r: HTTPRoute): HTTPRouteDestination[] {
  const all = (r.route ?? []).filter((d) => typeof d.destination?.host === 'string');
  return all.length === 1 ? all : all.filter((d) => (d.weight ?? 0) > 0);
}

function routeAction(ctx: RouteContext, vs: IndexedVirtualService, r: HTTPRoute, routeHeaders: Json): Json {
  const weighted = forwarded(r);
  const resolved = weighted.map((d) => resolveDestination(ctx.snapshot, ctx.view, vs.namespace, d.destination, ctx.port));
  const action: Json = {};
  if (resolved.length === 1) {
    action['cluster'] = resolved[0]!.cluster;
    // a single destination's header edits apply to the route as a whole
    if (!ctx.proxyless) Object.assign(routeHeaders, mergeEdits(routeHeaders, headerEdits(weighted[0]!.headers)));
  } else {
    action['weighted_clusters'] = {
      clusters: resolved.map((d, i) => ({ name: d.cluster, weight: weighted[i]!.weight ?? 0, ...(ctx.proxyless ? {} : headerEdits(weighted[i]!.headers)) })),
    };
  }
  const timeout = r.timeout ? duration(r.timeout) : '0s';
  action['timeout'] = timeout;
  // gRPC clients read the stream duration, not the route timeout (gRFC A31)
  if (ctx.proxyless) action['max_stream_duration'] = { max_stream_duration: timeout };
  const hash = sharedHash(resolved);
  const retry = retryPolicy(r.retries, hash !== undefined);
  if (retry) action['retry_policy'] = ctx.proxyless ? proxylessRetryPolicy(retry) : retry;
  if (hash) action['hash_policy'] = hash;
  if (!ctx.proxyless) {
    if (r.rewrite?.uri !== undefined) action['prefix_rewrite'] = r.rewrite.uri;
    else if (r.rewrite?.uriRegexRewrite) action['regex_rewrite'] = { pattern: { regex: r.rewrite.uriRegexRewrite.match ?? '' }, substitution: r.rewrite.uriRegexRewrite.rewrite ?? '' };
    if (r.rewrite?.authority) action['host_rewrite_literal'] = r.rewrite.authority;
    const mirrors = [
      ...(r.mirror ? [{ destination: r.mirror, percentage: r.mirrorPercentage ?? (r.mirrorPercent !== undefined ? { value: r.mirrorPercent } : undefined) }] : []),
      ...(r.mirrors ?? []),
    ];
    if (mirrors.length > 0) {
      action['request_mirror_policies'] = mirrors.map((m) => ({
        cluster: resolveDestination(ctx.snapshot, ctx.view, vs.namespace, m.destination, ctx.port).cluster,
        runtime_fraction: { default_value: fractionalPercent(m.percentage?.value ?? 100) },
        trace_sampled: false,
      }));
    }
  }
  return action;
}

function mergeEdits(a: Json, b: Json): Json {
  const out: Json = { ...a };
  for (const [k, v] of Object.entries(b)) out[k] = [...((a[k] as unknown[] | undefined) ?? []), ...(v as unknown[])];
  return out;
}

function oneRoute(ctx: RouteContext, vs: IndexedVirtualService, r: HTTPRoute, match: Json, name: string | undefined): Json {
  const route: Json = {};
  if (name) route['name'] = name;
  route['match'] = match;
  const edits: Json = ctx.proxyless ? {} : headerEdits(r.headers);
  if (r.redirect) route['redirect'] = redirect(r.redirect);
  else if (r.directResponse) {
    const dr: Json = { status: r.directResponse.status };
    if (r.directResponse.body?.string !== undefined) dr['body'] = { inline_string: r.directResponse.body.string };
    else if (r.directResponse.body?.bytes !== undefined) dr['body'] = { inline_bytes: r.directResponse.body.bytes };
    route['direct_response'] = dr;
  } else route['route'] = routeAction(ctx, vs, r, edits);
  Object.assign(route, edits);
  const perFilter: Json = {};
  const fault = httpFault(r.fault);
  if (fault) perFilter[FAULT_FILTER] = fault;
  const cors = ctx.proxyless ? undefined : corsPolicy(r.corsPolicy);
  if (cors) perFilter[CORS_FILTER] = cors;
  if (Object.keys(perFilter).length > 0) route['typed_per_filter_config'] = perFilter;
  return route;
}

export function httpRoutes(ctx: RouteContext, vs: IndexedVirtualService): Json[] {
  const out: Json[] = [];
  for (const r of vs.config.spec.http ?? []) {
    if (r.delegate) continue; // delegation is a gateway feature; sidecars ignore the delegating route
    if (forwarded(r).length === 0 && !r.redirect && !r.directResponse) continue;
    if (!r.match || r.match.length === 0) {
      out.push(oneRoute(ctx, vs, r, routeMatch(undefined), r.name));
      continue;
    }
    for (const m of r.match) {
      if (!appliesTo(m, ctx.view.proxy, ctx.port)) continue;
      const name = [r.name, m.name].filter((x): x is string => !!x).join('.');
      out.push(oneRoute(ctx, vs, r, routeMatch(m), name || undefined));
    }
  }
  return out;
}
