/**
 * ClientTLSSettings → the cluster's upstream TLS transport socket. DISABLE (or none) → plain text;
 * SIMPLE → server verified against caCertificates (files) or the credentialName's SDS secret, SANs and
 * SNI as given; MUTUAL → the same plus the client certificate. ISTIO_MUTUAL goes through the
 * `istioMutual` hook (plain text without one; `istioMutualSidecar` is the mesh's). Without TLS
 * settings, auto mTLS (`mtls`) decides: `clusterTransport` is the one entry point.
 */
import type { ClientTLSSettings } from '../../../../config/kinds.js';
import type { EffectiveMtlsMode } from '../../../model/peer-authentication.js';
import type { MeshEndpoint, MeshProtocol } from '../../../model/services.js';
import { ADS, UPSTREAM_TLS_TYPE, type Json } from './envoy.js';
import { autoMtlsMatches, endpointIdentities, isMtlsCapable, istioSni, proxylessUpstreamMtls, sidecarUpstreamMtls } from './mtls.js';

export interface IstioMutualRequest {
  host: string;
  port: number;
  subset?: string;
  sni?: string;
  /** the DestinationRule's subjectAltNames; empty: check the endpoints' identities */
  subjectAltNames: readonly string[];
  /** the SPIFFE IDs of the destination endpoints' service accounts */
  serverIdentities?: readonly string[];
  protocol?: MeshProtocol;
}

/** Auto mTLS (Istio's MeshConfig enableAutoMtls) and the identities it checks. */
export interface MtlsOptions {
  trustDomain: string;
  autoMtls: boolean;
  /** what a client can know of a destination namespace's mode (PeerAuthentication): DISABLE turns auto mTLS off */
  namespaceMode(namespace: string): EffectiveMtlsMode;
}

export interface TlsHooks {
  /** the transport socket for ISTIO_MUTUAL (mesh certificates via SDS); undefined leaves the cluster plain text */
  istioMutual?: (req: IstioMutualRequest) => Json | undefined;
  /** absent: no auto mTLS, and no endpoint identities for ISTIO_MUTUAL */
  mtls?: MtlsOptions;
}

/** The mesh's ISTIO_MUTUAL for sidecars: the SDS secrets of secrets.ts, Istio's SNI, the server identity checked. */
export function istioMutualSidecar(req: IstioMutualRequest): Json {
  const identities = req.subjectAltNames.length > 0 ? req.subjectAltNames : (req.serverIdentities ?? []);
  const o: { sni: string; identities: readonly string[]; protocol?: MeshProtocol } = { sni: req.sni ?? istioSni(req.port, req.subset, req.host), identities };
  if (req.protocol) o.protocol = req.protocol;
  return sidecarUpstreamMtls(o);
}

export interface ClusterTlsRequest {
  host: string;
  /** the namespace of the destination service: its endpoints' identities live there */
  namespace: string;
  port: number;
  protocol: MeshProtocol;
  subset?: string;
  /** the cluster's endpoints (restricted to the subset) */
  endpoints: readonly MeshEndpoint[];
  proxyless: boolean;
}

export interface ClusterTransport {
  transport_socket?: Json;
  transport_socket_matches?: Json[];
}

/**
 * A cluster's transport: the DestinationRule's TLS settings when it has any (for proxyless clients only
 * ISTIO_MUTUAL: grpc-js-xds reads no file-based TLS), else Istio's auto mTLS — for a sidecar per
 * endpoint (`transport_socket_matches` on the endpoints' tlsMode metadata), for a proxyless client,
 * which reads only the cluster's own socket, when every endpoint is labelled `tlsMode: istio`.
 */
export function clusterTransport(tls: ClientTLSSettings | undefined, req: ClusterTlsRequest, hooks: TlsHooks): ClusterTransport {
  const identities = (): string[] => (hooks.mtls ? endpointIdentities(hooks.mtls.trustDomain, req.namespace, req.endpoints) : []);
  if (tls?.mode) {
    if (req.proxyless) {
      if (tls.mode !== 'ISTIO_MUTUAL' || !hooks.mtls) return {};
      return { transport_socket: proxylessUpstreamMtls(tls.subjectAltNames?.length ? tls.subjectAltNames : identities()) };
    }
    const base: Omit<IstioMutualRequest, 'sni' | 'subjectAltNames'> = { host: req.host, port: req.port, serverIdentities: identities(), protocol: req.protocol };
    if (req.subset) base.subset = req.subset;
    const ts = upstreamTransportSocket(tls, base, hooks);
    return ts ? { transport_socket: ts } : {};
  }
  const m = hooks.mtls;
  if (!m?.autoMtls || m.namespaceMode(req.namespace) === 'DISABLE') return {};
  const capable = req.endpoints.filter(isMtlsCapable);
  if (req.proxyless) {
    return capable.length > 0 && capable.length === req.endpoints.length ? { transport_socket: proxylessUpstreamMtls(identities()) } : {};
  }
  if (capable.length === 0) return {};
  const socket = sidecarUpstreamMtls({ sni: istioSni(req.port, req.subset, req.host), identities: endpointIdentities(m.trustDomain, req.namespace, capable), protocol: req.protocol });
  return { transport_socket_matches: autoMtlsMatches(socket) };
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
