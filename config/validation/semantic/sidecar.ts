import { Problems, arr, checkNamespacedHost, checkPort, checkSelector, checkServicePort, has, isIpAddress, num, obj, str, type Json } from './common.js';

/** Istio's Sidecar rules (pkg/config/validation: validateSidecar). */

function checkDefaultEndpoint(p: Problems, path: string, v: unknown): void {
  const s = str(v);
  if (s === undefined || s === '') return;
  if (s.startsWith('unix://')) {
    if (s.length <= 'unix://'.length || !/^unix:\/\/[/@]/.test(s)) p.add(path, `invalid unix domain socket "${s}"`);
    return;
  }
  const m = /^(\[[^\]]+\]|[^:]+):(\d+)$/.exec(s);
  const host = m?.[1]?.replace(/^\[|\]$/g, '');
  if (m === null || host === undefined || !['127.0.0.1', '0.0.0.0', '::1', '::', 'localhost'].includes(host)) {
    p.add(path, `invalid defaultEndpoint "${s}": must be 127.0.0.1:PORT, 0.0.0.0:PORT, [::1]:PORT, [::]:PORT or unix:///path`);
    return;
  }
  checkPort(p, path, Number(m[2]));
}

export function validateSidecar(spec: Json): Problems {
  const p = new Problems();
  const egress = arr(spec.egress);
  const ingress = arr(spec.ingress);
  if (egress.length === 0 && ingress.length === 0 && !has(spec, 'outboundTrafficPolicy') && !has(spec, 'inboundConnectionPool')) {
    p.add('spec', 'sidecar: empty configuration provided');
  }
  const selector = obj(spec.workloadSelector);
  if (selector !== undefined && Object.keys(obj(selector.labels) ?? {}).length === 0) p.add('spec.workloadSelector.labels', 'sidecar: workloadSelector labels cannot be empty');
  checkSelector(p, 'spec.workloadSelector', spec.workloadSelector, 'labels');

  const ingressPorts = new Set<number>();
  ingress.forEach((l, i) => {
    const listener = obj(l);
    if (listener === undefined) return;
    const at = `spec.ingress[${i}]`;
    if (!has(listener, 'port')) p.add(`${at}.port`, 'sidecar: port is required for ingress listeners');
    checkServicePort(p, `${at}.port`, listener.port, { numberRequired: true });
    const n = num(obj(listener.port)?.number);
    if (n !== undefined) {
      if (ingressPorts.has(n)) p.add(`${at}.port.number`, `sidecar: ports on IP bound listeners must be unique (${n})`);
      ingressPorts.add(n);
    }
    const bind = str(listener.bind);
    if (bind !== undefined && bind !== '' && !isIpAddress(bind)) p.add(`${at}.bind`, `sidecar: bind "${bind}" must be an IP address`);
    checkDefaultEndpoint(p, `${at}.defaultEndpoint`, listener.defaultEndpoint);
  });

  let catchAll = 0;
  const egressPorts = new Set<string>();
  egress.forEach((l, i) => {
    const listener = obj(l);
    if (listener === undefined) return;
    const at = `spec.egress[${i}]`;
    const hosts = arr(listener.hosts);
    if (hosts.length === 0) p.add(`${at}.hosts`, 'sidecar: egress listener must contain at least one host');
    hosts.forEach((h, j) => checkNamespacedHost(p, `${at}.hosts[${j}]`, h, { namespaceRequired: true }));
    const bind = str(listener.bind) ?? '';
    if (bind !== '' && !isIpAddress(bind) && !bind.startsWith('unix://')) p.add(`${at}.bind`, `sidecar: bind "${bind}" must be an IP address or unix domain socket`);
    if (has(listener, 'port')) {
      checkServicePort(p, `${at}.port`, listener.port, { numberRequired: !bind.startsWith('unix://') });
      const key = `${bind}:${String(obj(listener.port)?.number)}`;
      if (egressPorts.has(key)) p.add(`${at}.port`, 'sidecar: egress listeners must have unique ports (and bind addresses)');
      egressPorts.add(key);
    } else {
      catchAll++;
      if (catchAll > 1) p.add(at, 'sidecar: the egress listener with empty port must be unique');
      else if (i !== egress.length - 1) p.add(at, 'sidecar: the egress listener with empty port should be the last listener in the list');
    }
  });

  const otp = obj(spec.outboundTrafficPolicy);
  if (otp !== undefined && has(otp, 'egressProxy') && str(otp.mode) !== 'ALLOW_ANY') {
    p.add('spec.outboundTrafficPolicy.egressProxy', 'sidecar: egress_proxy must be set only with ALLOW_ANY outbound_traffic_policy mode');
  }
  return p;
}
