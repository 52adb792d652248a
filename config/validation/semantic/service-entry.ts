import {
  Problems, arr, checkExportTo, checkLabels, checkPort, checkProtocol, checkWildcardHost, entries, isIpAddress, isIpOrCidr, obj, str, type Json,
} from './common.js';

/** Istio's ServiceEntry rules (pkg/config/validation: validateServiceEntry), beyond the CRD's CEL rules. */

const PORT_NAME = /^[a-zA-Z0-9](?:[-a-zA-Z0-9]*[a-zA-Z0-9])?$/;

export function validateServiceEntry(spec: Json): Problems {
  const p = new Problems();
  const hosts = arr(spec.hosts);
  const resolution = str(spec.resolution) ?? 'NONE';
  const endpoints = arr(spec.endpoints);
  if (hosts.length === 0) p.add('spec.hosts', 'service entry must have at least one host');
  hosts.forEach((h, i) => {
    const host = str(h);
    if (host === undefined) return;
    if (isIpAddress(host)) p.add(`spec.hosts[${i}]`, `invalid host ${host}: an IP address belongs in addresses`);
    else if (host !== '*') checkWildcardHost(p, `spec.hosts[${i}]`, host);
    if (host.startsWith('*') && (resolution === 'DNS' || resolution === 'DNS_ROUND_ROBIN') && endpoints.length === 0) {
      p.add(`spec.hosts[${i}]`, `wildcard host ${host} is not allowed with ${resolution} resolution without endpoints`);
    }
  });
  arr(spec.addresses).forEach((a, i) => {
    const addr = str(a);
    if (addr !== undefined && !isIpOrCidr(addr)) p.add(`spec.addresses[${i}]`, `invalid address ${addr}: must be an IP address or CIDR`);
  });
  const portNames = new Set<string>();
  arr(spec.ports).forEach((pp, i) => {
    const port = obj(pp);
    if (port === undefined) return;
    const at = `spec.ports[${i}]`;
    checkPort(p, `${at}.number`, port.number);
    checkPort(p, `${at}.targetPort`, port.targetPort);
    checkProtocol(p, `${at}.protocol`, port.protocol);
    const name = str(port.name) ?? '';
    if (name === '') p.add(`${at}.name`, 'port name must be set');
    else if (name.length > 63 || !PORT_NAME.test(name)) p.add(`${at}.name`, `invalid port name "${name}"`);
    else if (portNames.has(name)) p.add(`${at}.name`, `port name "${name}" already defined`);
    portNames.add(name);
  });
  if (resolution === 'STATIC' && endpoints.length === 0 && obj(spec.workloadSelector) === undefined) {
    p.add('spec.endpoints', 'endpoints must be provided if service entry discovery mode is STATIC');
  }
  endpoints.forEach((e, i) => {
    const ep = obj(e);
    if (ep === undefined) return;
    const at = `spec.endpoints[${i}]`;
    const address = str(ep.address);
    if (address !== undefined && address !== '' && !address.startsWith('unix://')) {
      if (resolution === 'STATIC' && !isIpAddress(address)) p.add(`${at}.address`, `endpoint address ${address} is not a valid IP address (STATIC resolution)`);
      else if (resolution !== 'STATIC' && !isIpAddress(address)) checkWildcardHost(p, `${at}.address`, address);
    }
    checkLabels(p, `${at}.labels`, ep.labels);
    for (const [name, target] of entries(ep.ports)) {
      if (!portNames.has(name)) p.add(`${at}.ports[${name}]`, `endpoint port "${name}" is not defined by the service entry`);
      checkPort(p, `${at}.ports[${name}]`, target);
    }
  });
  checkLabels(p, 'spec.workloadSelector.labels', obj(spec.workloadSelector)?.labels);
  checkExportTo(p, 'spec.exportTo', spec.exportTo);
  arr(spec.subjectAltNames).forEach((s, i) => {
    if (str(s) === '') p.add(`spec.subjectAltNames[${i}]`, 'subjectAltNames must not be empty');
  });
  return p;
}
