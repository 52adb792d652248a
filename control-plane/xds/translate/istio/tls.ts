/**
 * ClientTLSSettings → the cluster's upstream TLS transport socket. DISABLE (or none) → plain text;
 * SIMPLE → server verified against caCertificates (files) or the credentialName's SDS secret, SANs and
 * SNI as given; MUTUAL → the same plus the client certificate. ISTIO_MUTUAL needs the mesh identity
 * (the identity issue): it goes through the `istioMutual` hook, plain text until one is supplied.
 */
import type { ClientTLSSettings } from '../../../../config/kinds.js';
import { ADS, UPSTREAM_TLS_TYPE, type Json } from './envoy.js';

export interface IstioMutualRequest {
  host: string;
  port: number;
  subset?: string;
  sni?: string;
  subjectAltNames: readonly string[];
}

export interface TlsHooks {
  /** the transport socket for ISTIO_MUTUAL (mesh certificates via SDS); undefined leaves the cluster plain text */
  istioMutual?: (req: IstioMutualRequest) => Json | undefined;
}

function sanMatchers(sans: readonly string[] | undefined): Json[] | undefined {
  return sans && sans.length > 0 ? sans.map((exact) => ({ san_type: 'DNS', matcher: { exact } })) : undefined;
}

function sds(name: string): Json {
  return { name, sds_config: ADS };
}

export function upstreamTransportSocket(tls: ClientTLSSettings | undefined, req: Omit<IstioMutualRequest, 'sni' | 'subjectAltNames'>, hooks: TlsHooks): Json | undefined {
  if (!tls || !tls.mode || tls.mode === 'DISABLE') return undefined;
  if (tls.mode === 'ISTIO_MUTUAL') {
    const r: IstioMutualRequest = { ...req, subjectAltNames: tls.subjectAltNames ?? [] };
    if (tls.sni) r.sni = tls.sni;
    return hooks.istioMutual?.(r);
  }
  const common: Json = {};
  const sans = sanMatchers(tls.subjectAltNames);
  if (tls.credentialName) {
    // Istio's SDS names for a Kubernetes Secret: the key pair, and the CA under `-cacert`
    if (tls.mode === 'MUTUAL') common['tls_certificate_sds_secret_configs'] = [sds(`kubernetes://${tls.credentialName}`)];
    if (!tls.insecureSkipVerify) {
      const validation = sds(`kubernetes://${tls.credentialName}-cacert`);
      if (sans) common['combined_validation_context'] = { default_validation_context: { match_typed_subject_alt_names: sans }, validation_context_sds_secret_config: validation };
      else common['validation_context_sds_secret_config'] = validation;
    }
  } else {
    if (tls.mode === 'MUTUAL' && tls.clientCertificate && tls.privateKey) {
      common['tls_certificates'] = [{ certificate_chain: { filename: tls.clientCertificate }, private_key: { filename: tls.privateKey } }];
    }
    if (!tls.insecureSkipVerify && (tls.caCertificates || sans)) {
      const v: Json = {};
      if (tls.caCertificates) v['trusted_ca'] = { filename: tls.caCertificates };
      if (sans) v['match_typed_subject_alt_names'] = sans;
      if (tls.caCrl) v['crl'] = { filename: tls.caCrl };
      common['validation_context'] = v;
    }
  }
  const ctx: Json = { '@type': UPSTREAM_TLS_TYPE, common_tls_context: common };
  if (tls.sni) ctx['sni'] = tls.sni;
  return { name: 'envoy.transport_sockets.tls', typed_config: ctx };
}
