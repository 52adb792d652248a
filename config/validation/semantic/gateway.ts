import { Problems, arr, checkLabels, checkNamespacedHost, checkServicePort, obj, str, type Json } from './common.js';

/** Istio's Gateway rules (pkg/config/validation: validateGateway, validateServer, validateServerTLS). */

function checkServerTls(p: Problems, path: string, v: unknown, protocol: string): void {
  const tls = obj(v);
  if (tls === undefined) {
    if (protocol === 'HTTPS' || protocol === 'TLS') p.add(path, `server must have TLS settings for ${protocol} protocol`);
    return;
  }
  const mode = str(tls.mode) ?? 'PASSTHROUGH';
  const credential = (str(tls.credentialName) ?? '') !== '' || arr(tls.credentialNames).length > 0 || arr(tls.tlsCertificates).length > 0;
  if (mode === 'SIMPLE' || mode === 'MUTUAL' || mode === 'OPTIONAL_MUTUAL') {
    if (!credential) {
      if ((str(tls.serverCertificate) ?? '') === '') p.add(`${path}.serverCertificate`, `${mode} TLS requires a server certificate (or credentialName)`);
      if ((str(tls.privateKey) ?? '') === '') p.add(`${path}.privateKey`, `${mode} TLS requires a private key (or credentialName)`);
      if (mode !== 'SIMPLE' && (str(tls.caCertificates) ?? '') === '') p.add(`${path}.caCertificates`, `${mode} TLS requires client CA certificates (or credentialName)`);
    }
  }
  if (tls.httpsRedirect === true && protocol !== 'HTTP') p.add(`${path}.httpsRedirect`, 'httpsRedirect only applies to HTTP servers');
}

export function validateGateway(spec: Json): Problems {
  const p = new Problems();
  const servers = arr(spec.servers);
  if (servers.length === 0) p.add('spec.servers', 'gateway must have at least one server');
  const names = new Set<string>();
  servers.forEach((s, i) => {
    const server = obj(s);
    if (server === undefined) return;
    const at = `spec.servers[${i}]`;
    const hosts = arr(server.hosts);
    if (hosts.length === 0) p.add(`${at}.hosts`, 'server config must contain at least one host');
    hosts.forEach((h, j) => checkNamespacedHost(p, `${at}.hosts[${j}]`, h, { namespaceRequired: false }));
    const port = obj(server.port);
    if (port === undefined) p.add(`${at}.port`, 'server config must contain a port');
    checkServicePort(p, `${at}.port`, server.port, { numberRequired: true });
    const name = str(port?.name);
    if (name !== undefined && name !== '') {
      if (names.has(name)) p.add(`${at}.port.name`, `port names in servers must be unique: duplicate name ${name}`);
      names.add(name);
    }
    const protocol = (str(port?.protocol) ?? '').toUpperCase();
    checkServerTls(p, `${at}.tls`, server.tls, protocol);
    const bind = str(server.bind);
    if (bind !== undefined && bind !== '' && !/^(unix:\/\/.+|[0-9a-fA-F.:]+)$/.test(bind)) p.add(`${at}.bind`, `invalid bind address "${bind}"`);
  });
  checkLabels(p, 'spec.selector', spec.selector);
  return p;
}
