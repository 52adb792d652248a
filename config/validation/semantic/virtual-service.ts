import { isDns1123Label, isDns1123Subdomain } from '../../../common/names.js';
import {
  Problems, arr, checkDuration, checkExportTo, checkHeaderName, checkHeaderOperationName, checkLabels, checkNamespace,
  checkPercentage, checkPort, checkRegex, checkStringMatch, checkWildcardHost, entries, has, isIpAddress, isIpOrCidr, num, obj, str,
  type Json,
} from './common.js';

/** Istio's VirtualService rules (pkg/config/validation: validateVirtualService, virtualservice.go). */

/** Envoy's retry_on values Istio accepts, besides plain HTTP status codes. */
export const RETRY_ON = new Set([
  '5xx', 'gateway-error', 'reset', 'reset-before-request', 'connect-failure', 'envoy-ratelimited', 'retriable-4xx', 'refused-stream',
  'retriable-status-codes', 'retriable-headers', 'http3-post-connect-failure',
  'cancelled', 'deadline-exceeded', 'internal', 'resource-exhausted', 'unavailable',
]);

const HTTP_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH', '*']);

/** `mesh`, `name`, `ns/name` or a gateway's FQDN. */
export function checkGatewayNames(p: Problems, path: string, v: unknown): void {
  arr(v).forEach((g, i) => {
    const s = str(g);
    if (s === undefined || s === 'mesh') return;
    const parts = s.split('/');
    const at = `${path}[${i}]`;
    if (parts.length > 2) p.add(at, `invalid gateway name "${s}": at most one "/" (namespace/name)`);
    else if (parts.length === 2 && !isDns1123Label(parts[0] ?? '')) p.add(at, `invalid gateway name "${s}": namespace "${parts[0]}" is not a DNS-1123 label`);
    else {
      const name = parts[parts.length - 1] ?? '';
      if (!isDns1123Subdomain(name)) p.add(at, `invalid gateway name "${s}": must be a DNS-1123 name`);
    }
  });
}

export function checkDestination(p: Problems, path: string, v: unknown): void {
  const d = obj(v);
  if (d === undefined) return;
  const host = str(d.host);
  if (host === undefined || host === '') p.add(`${path}.host`, 'destination host is required');
  else if (host === '*' || host.includes('*')) p.add(`${path}.host`, `destination host "${host}" must not be a wildcard`);
  else if (!isIpAddress(host)) checkWildcardHost(p, `${path}.host`, host);
  const subset = str(d.subset);
  if (subset !== undefined && subset !== '' && !isDns1123Label(subset)) p.add(`${path}.subset`, `subset name "${subset}" must be a DNS-1123 label`);
  const port = obj(d.port);
  if (port !== undefined) checkPort(p, `${path}.port.number`, port.number);
}

function checkWeights(p: Problems, path: string, routes: unknown[]): void {
  let total = 0;
  routes.forEach((r, i) => {
    const w = num(obj(r)?.weight) ?? 0;
    if (w < 0) p.add(`${path}[${i}].weight`, `weight ${w} < 0`);
    total += w;
  });
  // One destination takes all traffic whatever its weight; several must add up to 100.
  if (routes.length > 1 && total !== 100) p.add(path, `total destination weight ${total} != 100`);
}

function checkRouteDestinations(p: Problems, path: string, routes: unknown[]): void {
  routes.forEach((r, i) => {
    const route = obj(r);
    if (route === undefined) return;
    if (!has(route, 'destination')) p.add(`${path}[${i}].destination`, 'destination is required');
    else checkDestination(p, `${path}[${i}].destination`, route.destination);
    checkHeaderOperations(p, `${path}[${i}].headers`, route.headers);
  });
  checkWeights(p, path, routes);
}

function checkHeaderOperations(p: Problems, path: string, v: unknown): void {
  const headers = obj(v);
  if (headers === undefined) return;
  for (const dir of ['request', 'response'] as const) {
    const ops = obj(headers[dir]);
    if (ops === undefined) continue;
    for (const op of ['set', 'add'] as const) {
      for (const [name] of entries(ops[op])) checkHeaderOperationName(p, `${path}.${dir}.${op}[${name}]`, name, dir === 'request');
    }
    arr(ops.remove).forEach((n, i) => {
      const name = str(n);
      if (name !== undefined) checkHeaderOperationName(p, `${path}.${dir}.remove[${i}]`, name, false);
    });
  }
}

function checkRetries(p: Problems, path: string, v: unknown): void {
  const r = obj(v);
  if (r === undefined) return;
  const attempts = num(r.attempts) ?? 0;
  if (attempts < 0) p.add(`${path}.attempts`, 'attempts cannot be negative');
  if (attempts === 0 && (has(r, 'perTryTimeout') || has(r, 'retryOn') || has(r, 'retryRemoteLocalities'))) {
    p.add(path, 'http retry policy configured when attempts are set to 0 (disabled)');
  }
  checkDuration(p, `${path}.perTryTimeout`, r.perTryTimeout);
  const retryOn = str(r.retryOn);
  if (retryOn !== undefined) {
    for (const raw of retryOn.split(',')) {
      const policy = raw.trim();
      if (RETRY_ON.has(policy)) continue;
      if (/^\d+$/.test(policy) && Number(policy) >= 100 && Number(policy) <= 599) continue;
      p.add(`${path}.retryOn`, `${JSON.stringify(policy)} is not a valid retryOn policy`);
    }
  }
}

function checkFault(p: Problems, path: string, v: unknown): void {
  const f = obj(v);
  if (f === undefined) return;
  if (!has(f, 'delay') && !has(f, 'abort')) p.add(path, 'HTTP fault injection must have an abort and/or a delay');
  const abort = obj(f.abort);
  if (abort !== undefined) {
    checkPercentage(p, `${path}.abort.percentage`, abort.percentage);
    const status = num(abort.httpStatus);
    if (status !== undefined && (status < 200 || status > 599)) p.add(`${path}.abort.httpStatus`, `invalid abort http status ${status}`);
    if (!has(abort, 'httpStatus') && !has(abort, 'grpcStatus') && !has(abort, 'http2Error')) p.add(`${path}.abort`, 'abort must specify httpStatus or grpcStatus');
  }
  const delay = obj(f.delay);
  if (delay !== undefined) {
    checkPercentage(p, `${path}.delay.percentage`, delay.percentage);
    const percent = num(delay.percent);
    if (percent !== undefined && (percent < 0 || percent > 100)) p.add(`${path}.delay.percent`, `percentage ${percent} must be in the range 0..100`);
    if (has(delay, 'exponentialDelay')) p.add(`${path}.delay.exponentialDelay`, 'exponentialDelay is not supported');
    else if (!has(delay, 'fixedDelay')) p.add(`${path}.delay.fixedDelay`, 'fixedDelay is required');
    else checkDuration(p, `${path}.delay.fixedDelay`, delay.fixedDelay);
  }
}

function checkCors(p: Problems, path: string, v: unknown): void {
  const c = obj(v);
  if (c === undefined) return;
  arr(c.allowOrigins).forEach((o, i) => checkStringMatch(p, `${path}.allowOrigins[${i}]`, o));
  arr(c.allowMethods).forEach((m, i) => {
    const s = str(m);
    if (s !== undefined && !HTTP_METHODS.has(s)) p.add(`${path}.allowMethods[${i}]`, `not a valid HTTP method "${s}"`);
  });
  for (const field of ['allowHeaders', 'exposeHeaders'] as const) {
    arr(c[field]).forEach((h, i) => {
      const s = str(h);
      if (s !== undefined && s !== '*') checkHeaderName(p, `${path}.${field}[${i}]`, s);
    });
  }
  checkDuration(p, `${path}.maxAge`, c.maxAge, { wholeSeconds: true });
}

function checkRedirect(p: Problems, path: string, v: unknown): void {
  const r = obj(v);
  if (r === undefined) return;
  if (!['uri', 'authority', 'scheme', 'port', 'derivePort'].some((k) => has(r, k) && r[k] !== '')) {
    p.add(path, 'redirect must specify URI, authority, scheme, or port');
  }
  const code = num(r.redirectCode);
  if (code !== undefined && code !== 0 && (code < 300 || code > 399)) p.add(`${path}.redirectCode`, `${code} is not a valid redirect code, must be 3xx`);
  checkPort(p, `${path}.port`, r.port);
}

function checkRewrite(p: Problems, path: string, v: unknown): void {
  const r = obj(v);
  if (r === undefined) return;
  if (has(r, 'uri') && has(r, 'uriRegexRewrite')) p.add(path, 'rewrite may only contain one of URI or UriRegexRewrite');
  if (!has(r, 'uri') && !has(r, 'authority') && !has(r, 'uriRegexRewrite')) p.add(path, 'rewrite must specify URI, authority, or uriRegexRewrite');
  const rr = obj(r.uriRegexRewrite);
  if (rr !== undefined) checkRegex(p, `${path}.uriRegexRewrite.match`, rr.match);
}

function checkMatch(p: Problems, path: string, v: unknown, root: boolean): void {
  const m = obj(v);
  if (m === undefined) return;
  for (const field of ['uri', 'scheme', 'method', 'authority'] as const) {
    checkStringMatch(p, `${path}.${field}`, m[field]);
    if (root && has(obj(m[field]), 'regex')) p.add(`${path}.${field}.regex`, `${field} match does not support regex match for delegating`);
  }
  for (const field of ['headers', 'withoutHeaders'] as const) {
    for (const [name, sm] of entries(m[field])) {
      checkHeaderName(p, `${path}.${field}[${name}]`, name);
      checkStringMatch(p, `${path}.${field}[${name}]`, sm);
      if (root && has(obj(sm), 'regex')) p.add(`${path}.${field}[${name}].regex`, `header match ${name} does not support regex match for delegating`);
    }
  }
  for (const [name, sm] of entries(m.queryParams)) {
    checkStringMatch(p, `${path}.queryParams[${name}]`, sm);
    if (root && has(obj(sm), 'regex')) p.add(`${path}.queryParams[${name}].regex`, `query param match ${name} does not support regex match for delegating`);
  }
  if (num(m.port) !== 0) checkPort(p, `${path}.port`, m.port);
  checkLabels(p, `${path}.sourceLabels`, m.sourceLabels);
  checkGatewayNames(p, `${path}.gateways`, m.gateways);
  const ns = str(m.sourceNamespace);
  if (ns !== undefined && ns !== '' && !isDns1123Label(ns)) p.add(`${path}.sourceNamespace`, `sourceNamespace match ${ns} is invalid`);
}

function checkHttpRoute(p: Problems, path: string, http: Json, delegateVs: boolean): void {
  const root = !delegateVs && has(http, 'delegate');
  const routes = arr(http.route);
  if (root) {
    if (has(http, 'redirect')) p.add(`${path}.redirect`, 'root HTTP route must not specify redirect');
    if (routes.length > 0) p.add(`${path}.route`, 'root HTTP route must not specify route');
    const d = obj(http.delegate);
    if (d !== undefined && (str(d.name) ?? '') === '') p.add(`${path}.delegate.name`, 'delegate name is required');
    if (d !== undefined) checkNamespace(p, `${path}.delegate.namespace`, d.namespace);
  } else {
    if (delegateVs && has(http, 'delegate')) p.add(`${path}.delegate`, 'delegate HTTP route cannot contain delegate');
    if (has(http, 'redirect') || has(http, 'directResponse')) {
      const what = has(http, 'redirect') ? 'redirect' : 'directResponse';
      if (has(http, 'redirect') && has(http, 'directResponse')) p.add(path, 'HTTP route cannot contain both redirect and directResponse');
      if (routes.length > 0) p.add(path, `HTTP route cannot contain both route and ${what}`);
      if (has(http, 'fault')) p.add(path, `HTTP route cannot contain both fault and ${what}`);
      if (has(http, 'rewrite')) p.add(path, `HTTP route rule cannot contain both rewrite and ${what}`);
    } else if (routes.length === 0) {
      p.add(path, 'HTTP route, redirect or directResponse is required');
    }
  }
  arr(http.match).forEach((m, i) => checkMatch(p, `${path}.match[${i}]`, m, root || delegateVs));
  checkHeaderOperations(p, `${path}.headers`, http.headers);
  const rewriteAuthority = str(obj(http.rewrite)?.authority) ?? '';
  const request = obj(obj(http.headers)?.request);
  const authoritySets = [...entries(request?.set), ...entries(request?.add)].filter(([k]) => /^(:authority|host)$/i.test(k));
  if (authoritySets.length + (rewriteAuthority === '' ? 0 : 1) > 1) p.add(`${path}.headers.request`, 'authority header cannot be set multiple times');
  checkCors(p, `${path}.corsPolicy`, http.corsPolicy);
  checkFault(p, `${path}.fault`, http.fault);
  const mirrorPercent = num(http.mirrorPercent);
  if (mirrorPercent !== undefined && mirrorPercent > 100) p.add(`${path}.mirrorPercent`, `mirror_percent must have a max value of 100 (it has ${mirrorPercent})`);
  checkPercentage(p, `${path}.mirrorPercentage`, http.mirrorPercentage);
  if (has(http, 'mirror')) checkDestination(p, `${path}.mirror`, http.mirror);
  arr(http.mirrors).forEach((m, i) => {
    checkDestination(p, `${path}.mirrors[${i}].destination`, obj(m)?.destination);
    checkPercentage(p, `${path}.mirrors[${i}].percentage`, obj(m)?.percentage);
  });
  checkRedirect(p, `${path}.redirect`, http.redirect);
  checkRetries(p, `${path}.retries`, http.retries);
  checkRewrite(p, `${path}.rewrite`, http.rewrite);
  checkRouteDestinations(p, `${path}.route`, routes);
  checkDuration(p, `${path}.timeout`, http.timeout);
}

function checkL4Match(p: Problems, path: string, v: unknown): void {
  const m = obj(v);
  if (m === undefined) return;
  arr(m.destinationSubnets).forEach((s, i) => {
    const cidr = str(s);
    if (cidr !== undefined && !isIpOrCidr(cidr)) p.add(`${path}.destinationSubnets[${i}]`, `invalid IP address or CIDR "${cidr}"`);
  });
  if (num(m.port) !== 0) checkPort(p, `${path}.port`, m.port);
  checkLabels(p, `${path}.sourceLabels`, m.sourceLabels);
  checkGatewayNames(p, `${path}.gateways`, m.gateways);
  checkNamespace(p, `${path}.sourceNamespace`, m.sourceNamespace);
}

export function validateVirtualService(spec: Json): Problems {
  const p = new Problems();
  const hosts = arr(spec.hosts);
  const gateways = arr(spec.gateways);
  const delegate = hosts.length === 0;
  const appliesToMesh = gateways.length === 0 || gateways.includes('mesh');
  if (delegate) {
    if (gateways.length > 0) p.add('spec.gateways', 'delegate virtual service must have no gateways specified');
    if (arr(spec.tls).length > 0) p.add('spec.tls', 'delegate virtual service must have no tls route specified');
    if (arr(spec.tcp).length > 0) p.add('spec.tcp', 'delegate virtual service must have no tcp route specified');
  }
  const seen = new Set<string>();
  hosts.forEach((h, i) => {
    const host = str(h);
    if (host === undefined) return;
    const at = `spec.hosts[${i}]`;
    if (seen.has(host)) p.add(at, `duplicate host "${host}"`);
    seen.add(host);
    if (host === '*' && appliesToMesh) p.add(at, 'wildcard host * is not allowed for virtual services bound to the mesh gateway');
    else if (!isIpAddress(host)) checkWildcardHost(p, at, host);
  });
  checkGatewayNames(p, 'spec.gateways', spec.gateways);
  const http = arr(spec.http);
  const tcp = arr(spec.tcp);
  const tls = arr(spec.tls);
  if (http.length === 0 && tcp.length === 0 && tls.length === 0) p.add('spec', 'http, tcp or tls must be provided in virtual service');
  http.forEach((r, i) => {
    const route = obj(r);
    if (route !== undefined) checkHttpRoute(p, `spec.http[${i}]`, route, delegate);
  });
  tcp.forEach((r, i) => {
    const route = obj(r);
    if (route === undefined) return;
    arr(route.match).forEach((m, j) => checkL4Match(p, `spec.tcp[${i}].match[${j}]`, m));
    const routes = arr(route.route);
    if (routes.length === 0) p.add(`spec.tcp[${i}].route`, 'TCP route is required');
    checkRouteDestinations(p, `spec.tcp[${i}].route`, routes);
  });
  tls.forEach((r, i) => {
    const route = obj(r);
    if (route === undefined) return;
    const matches = arr(route.match);
    if (matches.length === 0) p.add(`spec.tls[${i}].match`, 'TLS route must have at least one match condition');
    matches.forEach((m, j) => {
      const mm = obj(m);
      const sni = arr(mm?.sniHosts);
      if (sni.length === 0) p.add(`spec.tls[${i}].match[${j}].sniHosts`, 'TLS match must have at least one SNI host');
      sni.forEach((s, k) => checkWildcardHost(p, `spec.tls[${i}].match[${j}].sniHosts[${k}]`, s));
      checkL4Match(p, `spec.tls[${i}].match[${j}]`, mm);
    });
    const routes = arr(route.route);
    if (routes.length === 0) p.add(`spec.tls[${i}].route`, 'TLS route is required');
    checkRouteDestinations(p, `spec.tls[${i}].route`, routes);
  });
  checkExportTo(p, 'spec.exportTo', spec.exportTo);
  return p;
}
