/**
 * One AuthorizationPolicy attribute (a `from.source` field, a `to.operation` field or a `when` key)
 * → Envoy RBAC permission or principal JSON, one value at a time — or all values at once for the JWT
 * claim attributes, which Istio matches with one metadata matcher. Istio's generators
 * (pilot/pkg/security/authz/model/generator.go) are the reference for every shape here.
 *
 * A value that cannot be expressed throws `Unsupported`: HTTP-only attributes on a TCP chain, and
 * what proxyless gRPC's RBAC cannot evaluate (gRFC A41 as @grpc/grpc-js-xds implements it: SNI is
 * compared with '', URI templates match nothing, addresses: see PROXYLESS_ADDRESSES). The caller decides what that means per action.
 */
import { isPort } from '../../../../../common/names.js';
import type { Json } from '../envoy.js';
import { cidrRange, headerMatcher, hostMatcher, orValueMatcher, quoteMeta, regexMatcher, stringMatcher } from './matchers.js';

export class Unsupported extends Error {}

export interface AttributeContext {
  /** a TCP filter chain (network RBAC): the HTTP-only attributes cannot be evaluated */
  forTcp: boolean;
  proxyless: boolean;
  /** the policy's namespace: `serviceAccounts` without a namespace are in it */
  policyNamespace: string;
}

export type Side = 'permission' | 'principal';

export interface AttributeKind {
  side: Side;
  /** the matcher of one value; the values of a list are OR-ed, the notValues negated */
  each?: (key: string, value: string, ctx: AttributeContext) => Json;
  /** the matcher of all values together (JWT claims, Envoy filter metadata) */
  all?: (key: string, values: readonly string[], ctx: AttributeContext) => Json;
}

const JWT_FILTER = 'envoy.filters.http.jwt_authn';
const JWT_PAYLOAD = 'payload';
const SPIFFE = 'spiffe://';
const URI_TEMPLATE_TYPE = 'type.googleapis.com/envoy.extensions.path.match.uri_template.v3.UriTemplateMatchConfig';

function httpOnly(key: string, ctx: AttributeContext): void {
  if (ctx.forTcp) throw new Unsupported(`"${key}" is HTTP only`);
}

function notForProxyless(key: string, ctx: AttributeContext, why: string): void {
  if (ctx.proxyless) throw new Unsupported(`"${key}" is not supported by proxyless gRPC (${why})`);
}

/**
 * grpc-js-xds (1.14) sees an IPv4 peer of an XdsServer as an IPv4-mapped IPv6 address
 * (`::ffff:127.0.0.1`, observed in authz-e2e.test.ts): an IPv4 CIDR never matches it, and an IPv6
 * CIDR makes its address parser throw. So no address test is sent to proxyless servers: an ALLOW
 * rule with one is dropped, a DENY ignores it (refuses more, never less).
 */
const PROXYLESS_ADDRESSES = 'grpc-js-xds sees IPv4 peers as IPv4-mapped IPv6 addresses, which no CIDR matches';

function cidr(key: string, value: string, ctx: AttributeContext): Json {
  notForProxyless(key, ctx, PROXYLESS_ADDRESSES);
  const range = cidrRange(value);
  if (!range) throw new Unsupported(`"${key}": invalid IP address or CIDR "${value}"`);
  return range;
}

/** Peer identity: Envoy compares it with the URI SAN of the client certificate (the SPIFFE ID). */
function authenticated(principalName: Json): Json {
  return { authenticated: { principal_name: principalName } };
}

function jwtClaimPath(claims: readonly string[]): Json[] {
  return [JWT_PAYLOAD, ...claims].map((key) => ({ key }));
}

/** A claim that may be a string or a list of strings (Istio's "extended JWT" matcher). */
function jwtListClaim(claims: readonly string[], values: readonly string[]): Json {
  const value = orValueMatcher(values.map((v) => ({ string_match: stringMatcher(v) })));
  return { metadata: { filter: JWT_FILTER, path: jwtClaimPath(claims), value: { or_match: { value_matchers: [{ list_match: { one_of: value } }, value] } } } };
}

function jwtStringClaim(claim: string, m: Json): Json {
  return { metadata: { filter: JWT_FILTER, path: jwtClaimPath([claim]), value: { string_match: m } } };
}

const ANY_VALUE = regexMatcher('.+');

/** `iss/sub` with `*` allowed at either end; the issuer may itself contain `/` (a URL), hence the last one. */
function requestPrincipal(value: string): Json {
  const idx = value.lastIndexOf('/');
  const found = idx >= 0;
  const iss = found ? value.slice(0, idx) : value;
  const sub = found ? value.slice(idx + 1) : '';
  let matchIss: Json;
  let matchSub: Json;
  if (value === '*') {
    matchIss = ANY_VALUE;
    matchSub = ANY_VALUE;
  } else if (value.startsWith('*')) {
    if (found) {
      matchIss = iss === '*' ? ANY_VALUE : { suffix: iss.slice(1) };
      matchSub = { exact: sub };
    } else {
      matchIss = ANY_VALUE;
      matchSub = { suffix: value.slice(1) };
    }
  } else if (value.endsWith('*')) {
    if (found) {
      matchIss = { exact: iss };
      matchSub = sub === '*' ? ANY_VALUE : { prefix: sub.slice(0, -1) };
    } else {
      matchIss = { prefix: value.slice(0, -1) };
      matchSub = ANY_VALUE;
    }
  } else {
    matchIss = { exact: iss };
    matchSub = { exact: sub };
  }
  return { and_ids: { ids: [jwtStringClaim('iss', matchIss), jwtStringClaim('sub', matchSub)] } };
}

/** `[name]` → name. */
function nameInBrackets(key: string, s: string): string {
  if (!s.startsWith('[') || !s.endsWith(']') || s.length < 3) throw new Unsupported(`"${key}": expecting format [<NAME>]`);
  return s.slice(1, -1);
}

/** `[a][b]` → [a, b] (nested claims); anything else is one `[name]`. */
function namesInBrackets(key: string, s: string): string[] {
  return /^(\[[^[\]]+\])+$/.test(s) ? [...s.matchAll(/\[([^[\]]+)\]/g)].map((m) => m[1]!) : [nameInBrackets(key, s)];
}

function regexNamespace(value: string): string {
  return value.split('*').map(quoteMeta).join('.*');
}

/** Istio's service-account pattern: the `/sa/` segment must end the ID or be followed by `/`. */
function serviceAccountRegex(defaultNamespace: string, value: string): string {
  const slash = value.indexOf('/');
  const ns = slash < 0 ? defaultNamespace : value.slice(0, slash);
  const sa = slash < 0 ? value : value.slice(slash + 1);
  return `spiffe://.+/ns/${quoteMeta(ns)}/(.+/|)sa/${quoteMeta(sa)}(/.+)?`;
}

function pathPermission(key: string, value: string, ctx: AttributeContext): Json {
  httpOnly(key, ctx);
  if (value.includes('{*}') || value.includes('{**}')) {
    notForProxyless(key, ctx, 'URI templates');
    const template = value.replaceAll('{**}', '**').replaceAll('{*}', '*');
    return { uri_template: { name: 'uri-template', typed_config: { '@type': URI_TEMPLATE_TYPE, path_template: template } } };
  }
  return { url_path: { path: stringMatcher(value) } };
}

/** `experimental.envoy.filters.a.b[c]` → filter `envoy.filters.a.b`, key `c`; `[v]` values match a list element. */
function envoyFilterMetadata(key: string, values: readonly string[], ctx: AttributeContext): Json {
  notForProxyless(key, ctx, 'no Envoy filter metadata');
  const open = key.indexOf('[');
  if (open < 0 || !key.endsWith(']')) throw new Unsupported(`invalid key: ${key}`);
  const filter = key.slice('experimental.'.length, open);
  const field = key.slice(open + 1, -1);
  const matchers = values.map((v) =>
    v.startsWith('[') && v.endsWith(']') ? { list_match: { one_of: { string_match: stringMatcher(v.slice(1, -1)) } } } : { string_match: stringMatcher(v) },
  );
  return { metadata: { filter, path: [{ key: field }], value: orValueMatcher(matchers) } };
}

export const ATTRIBUTES = {
  'destination.ip': { side: 'permission', each: (k, v, ctx) => ({ destination_ip: cidr(k, v, ctx) }) },
  'destination.port': {
    side: 'permission',
    each: (k, v) => {
      if (!isPort(v)) throw new Unsupported(`"${k}": invalid port ${v}`);
      return { destination_port: Number(v) };
    },
  },
  'connection.sni': {
    side: 'permission',
    each: (k, v, ctx) => {
      notForProxyless(k, ctx, 'it compares SNI with the empty string');
      return { requested_server_name: stringMatcher(v) };
    },
  },
  'experimental.envoy.filters': { side: 'permission', all: envoyFilterMetadata },
  'source.ip': { side: 'principal', each: (k, v, ctx) => ({ direct_remote_ip: cidr(k, v, ctx) }) },
  'remote.ip': { side: 'principal', each: (k, v, ctx) => ({ remote_ip: cidr(k, v, ctx) }) },
  'source.namespace': { side: 'principal', each: (_k, v) => authenticated(regexMatcher(`.*/ns/${regexNamespace(v)}/.*`)) },
  'source.serviceAccount': { side: 'principal', each: (_k, v, ctx) => authenticated(regexMatcher(serviceAccountRegex(ctx.policyNamespace, v))) },
  'source.principal': { side: 'principal', each: (_k, v) => authenticated(stringMatcher(v, SPIFFE)) },
  'request.auth.principal': {
    side: 'principal',
    all: (k, values, ctx) => {
      httpOnly(k, ctx);
      const ids = values.map(requestPrincipal);
      return ids.length === 1 ? ids[0]! : { or_ids: { ids } };
    },
  },
  'request.auth.audiences': {
    side: 'principal',
    all: (k, values, ctx) => {
      httpOnly(k, ctx);
      return jwtListClaim(['aud'], values);
    },
  },
  'request.auth.presenter': {
    side: 'principal',
    all: (k, values, ctx) => {
      httpOnly(k, ctx);
      return jwtListClaim(['azp'], values);
    },
  },
  'request.auth.claims': {
    side: 'principal',
    all: (k, values, ctx) => {
      httpOnly(k, ctx);
      return jwtListClaim(namesInBrackets(k, k.slice('request.auth.claims'.length)), values);
    },
  },
  'request.headers': {
    side: 'principal',
    each: (k, v, ctx) => {
      httpOnly(k, ctx);
      return { header: headerMatcher(nameInBrackets(k, k.slice('request.headers'.length)), v) };
    },
  },
  // to.operation: `:authority`, `:method` and the path, as Istio's internal keys
  hosts: {
    side: 'permission',
    each: (k, v, ctx) => {
      httpOnly(k, ctx);
      return { header: hostMatcher(':authority', v) };
    },
  },
  methods: {
    side: 'permission',
    each: (k, v, ctx) => {
      httpOnly(k, ctx);
      return { header: headerMatcher(':method', v) };
    },
  },
  paths: { side: 'permission', each: pathPermission },
} satisfies Record<string, AttributeKind>;

export type AttributeName = keyof typeof ATTRIBUTES;

/** The attribute a `when` key names (`request.headers[x]` → `request.headers`), or undefined. */
export function conditionAttribute(key: string): AttributeName | undefined {
  if (key in ATTRIBUTES && !['hosts', 'methods', 'paths', 'request.headers', 'request.auth.claims', 'experimental.envoy.filters'].includes(key)) {
    return key as AttributeName;
  }
  if (key.startsWith('request.headers')) return 'request.headers';
  if (key.startsWith('request.auth.claims')) return 'request.auth.claims';
  if (key.startsWith('experimental.envoy.filters.')) return 'experimental.envoy.filters';
  return undefined;
}
