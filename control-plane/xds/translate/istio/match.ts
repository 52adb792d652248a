/**
 * VirtualService HTTPMatchRequest → Envoy RouteMatch. Istio's rules: uri exact/prefix/regex become
 * path/prefix/safe_regex (RE2); method, authority and scheme are matched as the pseudo-headers
 * `:method`, `:authority`, `:scheme`; an empty StringMatch (or the regex `*`) means "present";
 * withoutHeaders are inverted header matches. Which matches apply to a proxy at all (port,
 * sourceLabels, sourceNamespace, gateways) is decided by `appliesTo`, per proxy.
 */
import type { HTTPMatchRequest, L4MatchAttributes, StringMatch } from '../../../../config/kinds.js';
import type { MeshProxy } from '../../../model/proxy.js';
import { labelsMatch } from '../../../model/selectors.js';
import type { Json } from './envoy.js';

/** StringMatch → envoy.type.matcher.v3.StringMatcher */
export function stringMatcher(m: StringMatch): Json {
  if (m.exact !== undefined) return { exact: m.exact };
  if (m.prefix !== undefined) return { prefix: m.prefix };
  return { safe_regex: { regex: m.regex ?? '' } };
}

function isPresentMatch(m: StringMatch | undefined): boolean {
  return !m || (m.exact === undefined && m.prefix === undefined && (m.regex === undefined || m.regex === '*'));
}

export function headerMatcher(name: string, m: StringMatch | undefined, invert = false): Json {
  const out: Json = { name };
  if (isPresentMatch(m)) out['present_match'] = true;
  else out['string_match'] = stringMatcher(m!);
  if (invert) out['invert_match'] = true;
  return out;
}

function sortedEntries<V>(r: Record<string, V> | undefined): [string, V][] {
  return Object.entries(r ?? {}).sort(([a], [b]) => a.localeCompare(b));
}

export function routeMatch(m: HTTPMatchRequest | undefined): Json {
  const out: Json = {};
  const uri = m?.uri;
  if (!uri || isPresentMatch(uri)) out['prefix'] = '/';
  else if (uri.exact !== undefined) out['path'] = uri.exact;
  else if (uri.prefix !== undefined) out['prefix'] = uri.prefix;
  else out['safe_regex'] = { regex: uri.regex };
  if (m?.ignoreUriCase) out['case_sensitive'] = false;
  const headers: Json[] = [];
  for (const [name, sm] of sortedEntries(m?.headers)) headers.push(headerMatcher(name, sm));
  for (const [name, sm] of sortedEntries(m?.withoutHeaders)) headers.push(headerMatcher(name, sm, true));
  if (m?.method) headers.push(headerMatcher(':method', m.method));
  if (m?.authority) headers.push(headerMatcher(':authority', m.authority));
  if (m?.scheme) headers.push(headerMatcher(':scheme', m.scheme));
  if (headers.length > 0) out['headers'] = headers;
  const query = sortedEntries(m?.queryParams).map(([name, sm]) =>
    isPresentMatch(sm) ? { name, present_match: true } : { name, string_match: stringMatcher(sm) },
  );
  if (query.length > 0) out['query_parameters'] = query;
  return out;
}

/**
 * Does a match condition hold for traffic from this proxy to this port? Conditions Envoy cannot see on
 * the request (who sends it, which gateway) are decided here, when the proxy's routes are built.
 */
export function appliesTo(m: HTTPMatchRequest | L4MatchAttributes, proxy: MeshProxy, port: number): boolean {
  if (m.port !== undefined && m.port !== port) return false;
  if (m.sourceLabels && !labelsMatch(m.sourceLabels, proxy.labels)) return false;
  if (m.sourceNamespace !== undefined && m.sourceNamespace !== proxy.namespace) return false;
  if (m.gateways && m.gateways.length > 0 && !m.gateways.includes('mesh')) return false;
  return true;
}
