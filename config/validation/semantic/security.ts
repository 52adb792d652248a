import {
  Problems, arr, checkHeaderName, checkPort, checkSelector, entries, has, isIpOrCidr, obj, str, type Json,
} from './common.js';

/** Istio's security.istio.io rules (pkg/config/validation: PeerAuthentication, AuthorizationPolicy, RequestAuthentication). */

export function validatePeerAuthentication(spec: Json): Problems {
  const p = new Problems();
  checkSelector(p, 'spec.selector', spec.selector, 'matchLabels');
  for (const [port, mtls] of entries(spec.portLevelMtls)) {
    checkPort(p, `spec.portLevelMtls[${port}]`, port);
    if (obj(mtls) === undefined) p.add(`spec.portLevelMtls[${port}]`, 'port level mTLS must set a mode');
  }
  return p;
}

/** Attribute keys `when` conditions may test (Istio's AuthorizationPolicy condition reference). */
const CONDITION_KEYS = new Set([
  'source.ip', 'remote.ip', 'source.namespace', 'source.principal', 'source.serviceAccount',
  'request.auth.principal', 'request.auth.audiences', 'request.auth.presenter',
  'destination.ip', 'destination.port', 'connection.sni',
]);
const CONDITION_PREFIXES = [/^request\.headers\[[^\]]+\]$/, /^request\.auth\.claims\[.+\]$/, /^experimental\.envoy\.filters\./];
const IP_KEYS = new Set(['source.ip', 'remote.ip', 'destination.ip']);

function checkCondition(p: Problems, path: string, v: unknown): void {
  const c = obj(v);
  if (c === undefined) return;
  const key = str(c.key) ?? '';
  if (key === '') p.add(`${path}.key`, 'key must not be empty');
  else if (!CONDITION_KEYS.has(key) && !CONDITION_PREFIXES.some((re) => re.test(key))) p.add(`${path}.key`, `unknown attribute: ${key}`);
  const values = arr(c.values);
  const notValues = arr(c.notValues);
  if (values.length === 0 && notValues.length === 0) p.add(path, `at least one of values or notValues must be set for key: ${key}`);
  for (const [field, list] of [['values', values], ['notValues', notValues]] as const) {
    list.forEach((val, i) => {
      const s = str(val);
      if (s === undefined) return;
      if (IP_KEYS.has(key) && !isIpOrCidr(s)) p.add(`${path}.${field}[${i}]`, `invalid IP address or CIDR "${s}" for ${key}`);
      if (key === 'destination.port') checkPort(p, `${path}.${field}[${i}]`, s);
    });
  }
}

function checkNonEmptyStrings(p: Problems, path: string, o: Json, fields: readonly string[]): void {
  for (const f of fields) {
    arr(o[f]).forEach((v, i) => {
      if (str(v) === '') p.add(`${path}.${f}[${i}]`, 'empty value is not allowed');
    });
  }
}

const SOURCE_FIELDS = ['principals', 'notPrincipals', 'requestPrincipals', 'notRequestPrincipals', 'namespaces', 'notNamespaces', 'ipBlocks', 'notIpBlocks', 'remoteIpBlocks', 'notRemoteIpBlocks', 'serviceAccounts', 'notServiceAccounts'] as const;
const OPERATION_FIELDS = ['hosts', 'notHosts', 'ports', 'notPorts', 'methods', 'notMethods', 'paths', 'notPaths'] as const;

export function validateAuthorizationPolicy(spec: Json): Problems {
  const p = new Problems();
  const action = str(spec.action) ?? 'ALLOW';
  if (action === 'CUSTOM') p.add('spec.action', 'CUSTOM action is not supported by tandem (no external authorization provider)');
  if (has(spec, 'provider') && action !== 'CUSTOM') p.add('spec.provider', 'provider can only be used with the CUSTOM action');
  checkSelector(p, 'spec.selector', spec.selector, 'matchLabels');
  arr(spec.rules).forEach((r, i) => {
    const rule = obj(r);
    const at = `spec.rules[${i}]`;
    if (rule === undefined) {
      if (r === null) p.add(at, 'rule must not be null');
      return;
    }
    arr(rule.from).forEach((f, j) => {
      const source = obj(obj(f)?.source);
      const sp = `${at}.from[${j}].source`;
      if (source === undefined || !SOURCE_FIELDS.some((k) => arr(source[k]).length > 0)) {
        p.add(sp, '`from.source` must not be empty');
        return;
      }
      checkNonEmptyStrings(p, sp, source, SOURCE_FIELDS);
      for (const f2 of ['ipBlocks', 'notIpBlocks', 'remoteIpBlocks', 'notRemoteIpBlocks'] as const) {
        arr(source[f2]).forEach((v, k) => {
          const s = str(v);
          if (s !== undefined && s !== '' && !isIpOrCidr(s)) p.add(`${sp}.${f2}[${k}]`, `invalid IP address or CIDR "${s}"`);
        });
      }
    });
    arr(rule.to).forEach((t, j) => {
      const op = obj(obj(t)?.operation);
      const opPath = `${at}.to[${j}].operation`;
      if (op === undefined || !OPERATION_FIELDS.some((k) => arr(op[k]).length > 0)) {
        p.add(opPath, '`to.operation` must not be empty');
        return;
      }
      checkNonEmptyStrings(p, opPath, op, OPERATION_FIELDS);
      for (const f2 of ['ports', 'notPorts'] as const) arr(op[f2]).forEach((v, k) => checkPort(p, `${opPath}.${f2}[${k}]`, v));
    });
    arr(rule.when).forEach((c, j) => checkCondition(p, `${at}.when[${j}]`, c));
  });
  return p;
}

export function validateRequestAuthentication(spec: Json): Problems {
  const p = new Problems();
  checkSelector(p, 'spec.selector', spec.selector, 'matchLabels');
  arr(spec.jwtRules).forEach((r, i) => {
    const rule = obj(r);
    if (rule === undefined) return;
    const at = `spec.jwtRules[${i}]`;
    if ((str(rule.issuer) ?? '') === '') p.add(`${at}.issuer`, 'issuer must be set');
    arr(rule.audiences).forEach((a, j) => {
      if (str(a) === '') p.add(`${at}.audiences[${j}]`, 'audience must be non-empty string');
    });
    const uri = str(rule.jwksUri) ?? str(rule.jwks_uri);
    if (uri !== undefined && uri !== '') {
      const field = has(rule, 'jwksUri') ? 'jwksUri' : 'jwks_uri';
      let ok = false;
      try {
        const u = new URL(uri);
        ok = (u.protocol === 'http:' || u.protocol === 'https:') && u.hostname !== '';
      } catch {
        ok = false;
      }
      if (!ok) p.add(`${at}.${field}`, `invalid jwksUri "${uri}": must be an http:// or https:// URL with a host`);
    }
    arr(rule.fromHeaders).forEach((h, j) => {
      const name = str(obj(h)?.name) ?? '';
      if (name === '') p.add(`${at}.fromHeaders[${j}].name`, 'location header name must be non-empty string');
      else checkHeaderName(p, `${at}.fromHeaders[${j}].name`, name);
    });
    arr(rule.fromParams).forEach((q, j) => {
      if (str(q) === '') p.add(`${at}.fromParams[${j}]`, 'location query must be non-empty string');
    });
    const out = str(rule.outputPayloadToHeader);
    if (out !== undefined && out !== '') checkHeaderName(p, `${at}.outputPayloadToHeader`, out);
    arr(rule.outputClaimToHeaders).forEach((c, j) => {
      const header = str(obj(c)?.header) ?? '';
      if (header === '') p.add(`${at}.outputClaimToHeaders[${j}].header`, 'header must be set');
      else checkHeaderName(p, `${at}.outputClaimToHeaders[${j}].header`, header);
      if ((str(obj(c)?.claim) ?? '') === '') p.add(`${at}.outputClaimToHeaders[${j}].claim`, 'claim must be set');
    });
  });
  return p;
}
