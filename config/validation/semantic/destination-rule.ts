import { isDns1123Label } from '../../../common/names.js';
import {
  Problems, arr, checkDuration, checkExportTo, checkHeaderName, checkLabels, checkPort, checkSelector, checkWildcardHost, has, num, obj, str,
  type Json,
} from './common.js';

/** Istio's DestinationRule rules (pkg/config/validation: validateDestinationRule, validateTrafficPolicy). */

function checkLoadBalancer(p: Problems, path: string, v: unknown): void {
  const lb = obj(v);
  if (lb === undefined) return;
  const ch = obj(lb.consistentHash);
  if (ch !== undefined) {
    const header = str(ch.httpHeaderName);
    if (header !== undefined) checkHeaderName(p, `${path}.consistentHash.httpHeaderName`, header);
    const cookie = obj(ch.httpCookie);
    if (cookie !== undefined) {
      if ((str(cookie.name) ?? '') === '') p.add(`${path}.consistentHash.httpCookie.name`, 'name required for HttpCookie');
      if (has(cookie, 'ttl') && cookie.ttl !== '0s') checkDuration(p, `${path}.consistentHash.httpCookie.ttl`, cookie.ttl);
    }
    const ring = obj(ch.ringHash);
    const min = num(ring?.minimumRingSize) ?? num(ch.minimumRingSize);
    if (min !== undefined && min > 8_388_608) p.add(`${path}.consistentHash.minimumRingSize`, 'minimumRingSize must be at most 8388608');
    const maglev = obj(ch.maglev);
    const table = num(maglev?.tableSize);
    if (table !== undefined && !isPrime(table)) p.add(`${path}.consistentHash.maglev.tableSize`, `tableSize ${table} must be a prime number`);
  }
  checkDuration(p, `${path}.warmupDurationSecs`, lb.warmupDurationSecs);
  const locality = obj(lb.localityLbSetting);
  if (locality !== undefined) {
    if (arr(locality.distribute).length > 0 && arr(locality.failover).length > 0) p.add(`${path}.localityLbSetting`, 'can not simultaneously specify \'distribute\' and \'failover\'');
    arr(locality.distribute).forEach((d, i) => {
      let total = 0;
      for (const [, w] of Object.entries(obj(obj(d)?.to) ?? {})) total += num(w) ?? 0;
      if (total !== 100) p.add(`${path}.localityLbSetting.distribute[${i}].to`, `total weight ${total} != 100`);
    });
    arr(locality.failover).forEach((f, i) => {
      const from = str(obj(f)?.from);
      if (from !== undefined && from === str(obj(f)?.to)) p.add(`${path}.localityLbSetting.failover[${i}]`, 'failover \'from\' and \'to\' cannot be the same region');
    });
  }
}

function isPrime(n: number): boolean {
  if (!Number.isInteger(n) || n < 2) return false;
  for (let i = 2; i * i <= n; i++) if (n % i === 0) return false;
  return true;
}

function checkConnectionPool(p: Problems, path: string, v: unknown): void {
  const cp = obj(v);
  if (cp === undefined) return;
  const tcp = obj(cp.tcp);
  const http = obj(cp.http);
  if (tcp === undefined && http === undefined) p.add(path, 'must have at least one field (tcp or http)');
  if (tcp !== undefined) {
    checkDuration(p, `${path}.tcp.connectTimeout`, tcp.connectTimeout);
    checkDuration(p, `${path}.tcp.maxConnectionDuration`, tcp.maxConnectionDuration);
    checkDuration(p, `${path}.tcp.idleTimeout`, tcp.idleTimeout);
    const ka = obj(tcp.tcpKeepalive);
    if (ka !== undefined) {
      checkDuration(p, `${path}.tcp.tcpKeepalive.time`, ka.time);
      checkDuration(p, `${path}.tcp.tcpKeepalive.interval`, ka.interval);
    }
    for (const f of ['maxConnections'] as const) if ((num(tcp[f]) ?? 0) < 0) p.add(`${path}.tcp.${f}`, `${f} must be >= 0`);
  }
  if (http !== undefined) {
    for (const f of ['http1MaxPendingRequests', 'http2MaxRequests', 'maxRequestsPerConnection', 'maxRetries', 'maxConcurrentStreams'] as const) {
      if ((num(http[f]) ?? 0) < 0) p.add(`${path}.http.${f}`, `${f} must be >= 0`);
    }
    checkDuration(p, `${path}.http.idleTimeout`, http.idleTimeout);
  }
}

function checkOutlierDetection(p: Problems, path: string, v: unknown): void {
  const od = obj(v);
  if (od === undefined) return;
  for (const f of ['consecutiveErrors', 'consecutive5xxErrors', 'consecutiveGatewayErrors', 'consecutiveLocalOriginFailures'] as const) {
    const n = num(od[f]) ?? num(obj(od[f])?.value);
    if (n !== undefined && n < 0) p.add(`${path}.${f}`, `${f} must be >= 0`);
  }
  checkDuration(p, `${path}.interval`, od.interval);
  checkDuration(p, `${path}.baseEjectionTime`, od.baseEjectionTime);
  for (const f of ['maxEjectionPercent', 'minHealthPercent'] as const) {
    const n = num(od[f]);
    if (n !== undefined && (n < 0 || n > 100)) p.add(`${path}.${f}`, `${f} must be in range [0, 100]`);
  }
}

function checkTls(p: Problems, path: string, v: unknown): void {
  const tls = obj(v);
  if (tls === undefined) return;
  const mode = str(tls.mode) ?? 'DISABLE';
  const certs = ['clientCertificate', 'privateKey', 'caCertificates', 'credentialName'].filter((k) => (str(tls[k]) ?? '') !== '');
  if ((mode === 'DISABLE' || mode === 'ISTIO_MUTUAL') && certs.length > 0) {
    p.add(path, `cannot specify client certificates or CA certificate or CredentialName when mode is ${mode}`);
  }
  if (mode === 'MUTUAL' && (str(tls.credentialName) ?? '') === '') {
    if ((str(tls.clientCertificate) ?? '') === '') p.add(`${path}.clientCertificate`, 'client certificate required for mutual tls');
    if ((str(tls.privateKey) ?? '') === '') p.add(`${path}.privateKey`, 'private key required for mutual tls');
  }
  if (mode === 'SIMPLE' && ((str(tls.clientCertificate) ?? '') !== '' || (str(tls.privateKey) ?? '') !== '')) {
    p.add(path, 'clientCertificate and privateKey are only used with mode MUTUAL');
  }
}

function checkTrafficPolicy(p: Problems, path: string, v: unknown, portLevelAllowed: boolean): void {
  const tp = obj(v);
  if (tp === undefined) return;
  const fields = ['loadBalancer', 'connectionPool', 'outlierDetection', 'tls', 'portLevelSettings', 'tunnel', 'proxyProtocol', 'retryBudget'];
  if (!fields.some((f) => has(tp, f))) p.add(path, 'traffic policy must have at least one field');
  checkLoadBalancer(p, `${path}.loadBalancer`, tp.loadBalancer);
  checkConnectionPool(p, `${path}.connectionPool`, tp.connectionPool);
  checkOutlierDetection(p, `${path}.outlierDetection`, tp.outlierDetection);
  checkTls(p, `${path}.tls`, tp.tls);
  const tunnel = obj(tp.tunnel);
  if (tunnel !== undefined) {
    if ((str(tunnel.targetHost) ?? '') === '') p.add(`${path}.tunnel.targetHost`, 'target host must be specified');
    checkPort(p, `${path}.tunnel.targetPort`, tunnel.targetPort);
  }
  const levels = arr(tp.portLevelSettings);
  if (levels.length > 0 && !portLevelAllowed) p.add(`${path}.portLevelSettings`, 'portLevelSettings are not allowed here');
  const ports = new Set<number>();
  levels.forEach((l, i) => {
    const pl = obj(l);
    if (pl === undefined) return;
    const at = `${path}.portLevelSettings[${i}]`;
    const port = num(obj(pl.port)?.number);
    if (port === undefined) p.add(`${at}.port`, 'port must be specified');
    else {
      checkPort(p, `${at}.port.number`, port);
      if (ports.has(port)) p.add(`${at}.port.number`, `duplicate port ${port} in portLevelSettings`);
      ports.add(port);
    }
    if (!['loadBalancer', 'connectionPool', 'outlierDetection', 'tls'].some((f) => has(pl, f))) p.add(at, 'port traffic policy must have at least one field');
    checkLoadBalancer(p, `${at}.loadBalancer`, pl.loadBalancer);
    checkConnectionPool(p, `${at}.connectionPool`, pl.connectionPool);
    checkOutlierDetection(p, `${at}.outlierDetection`, pl.outlierDetection);
    checkTls(p, `${at}.tls`, pl.tls);
  });
}

export function validateDestinationRule(spec: Json): Problems {
  const p = new Problems();
  const host = str(spec.host);
  if (host === undefined || host === '') p.add('spec.host', 'host is required');
  else checkWildcardHost(p, 'spec.host', host);
  checkTrafficPolicy(p, 'spec.trafficPolicy', spec.trafficPolicy, true);
  const names = new Set<string>();
  arr(spec.subsets).forEach((s, i) => {
    const subset = obj(s);
    if (subset === undefined) return;
    const at = `spec.subsets[${i}]`;
    const name = str(subset.name) ?? '';
    if (name === '') p.add(`${at}.name`, 'subset name is required');
    else if (!isDns1123Label(name)) p.add(`${at}.name`, `subset name "${name}" must be a DNS-1123 label`);
    if (names.has(name)) p.add(`${at}.name`, `duplicate subset name "${name}"`);
    names.add(name);
    checkLabels(p, `${at}.labels`, subset.labels);
    checkTrafficPolicy(p, `${at}.trafficPolicy`, subset.trafficPolicy, true);
  });
  checkExportTo(p, 'spec.exportTo', spec.exportTo);
  checkSelector(p, 'spec.workloadSelector', spec.workloadSelector, 'matchLabels');
  return p;
}
