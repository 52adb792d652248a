/**
 * Istio mutual TLS as Envoy transport sockets (pure). Sidecars read their certificates as SDS secrets
 * (`default`, `ROOTCA`; secrets.ts) that their bootstrap defines from files; proxyless gRPC reads them
 * from its bootstrap's certificate provider instance `default`. Server identities are SPIFFE IDs
 * `spiffe://<trustDomain>/ns/<ns>/sa/<sa>`.
 *
 * What grpc-js-xds (1.14) accepts, read from its source: a `validation_context` (or combined) naming
 * `ca_certificate_provider_instance` (the deprecated `validation_context_certificate_provider_instance`
 * is not read), `tls_certificate_provider_instance`, and on servers `require_client_certificate`.
 * Server identities go in `match_typed_subject_alt_names`, which Envoy, grpc-go and grpc-java check;
 * grpc-js-xds 1.14 reads only the deprecated `match_subject_alt_names`, which the strict Envoy-proto
 * checker (rightly) refuses to encode — so grpc-js clients do not check the server's identity yet.
 */
import type { MeshEndpoint, MeshProtocol } from '../../../model/services.js';
import { T, UPSTREAM_TLS_TYPE, type Json } from './envoy.js';
import { GRPC_CERT_PROVIDER_INSTANCE, GRPC_IDENTITY_CERT_NAME, GRPC_ROOT_CERT_NAME, ROOT_SECRET, WORKLOAD_SECRET } from './secrets.js';

export const DOWNSTREAM_TLS_TYPE = `${T}envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext`;
export const TLS_TRANSPORT_SOCKET = 'envoy.transport_sockets.tls';

/** the label the injector puts on pods that have a sidecar (Istio's), and its value for mTLS-capable workloads */
export const TLS_MODE_LABEL = 'security.istio.io/tlsMode';
export const TLS_MODE_ISTIO = 'istio';
/** the endpoint metadata namespace Envoy matches `transport_socket_matches` against */
export const TRANSPORT_SOCKET_MATCH = 'envoy.transport_socket_match';
/** the key Istio uses there (the label's last segment) */
export const TLS_MODE_KEY = 'tlsMode';

/** Istio's inbound ALPNs: what an Istio client offers over mTLS (PERMISSIVE chains match on them). */
export const ISTIO_MTLS_ALPNS: readonly string[] = ['istio', 'istio-peer-exchange', 'istio-http/1.0', 'istio-http/1.1', 'istio-h2'];
/** Istio's client ALPNs (ALPNInMeshWithMxc, ALPNInMeshH2WithMxc) */
const CLIENT_ALPNS = ['istio-peer-exchange', 'istio'];
const CLIENT_ALPNS_H2 = ['istio-peer-exchange', 'istio', 'h2'];
/** Istio's server ALPNs (ALPNHttp for HTTP chains, ALPNDownstreamWithMxc for TCP chains) */
const SERVER_ALPNS_HTTP = ['h2', 'http/1.1'];
const SERVER_ALPNS_TCP = ['istio-peer-exchange', 'h2', 'http/1.1'];

/** Istio's sidecar TLS parameters (authn/utils SupportedCiphers, TLS 1.2 to 1.3). */
const TLS_PARAMS: Json = {
  tls_minimum_protocol_version: 'TLSv1_2',
  tls_maximum_protocol_version: 'TLSv1_3',
  cipher_suites: ['ECDHE-ECDSA-AES256-GCM-SHA384', 'ECDHE-RSA-AES256-GCM-SHA384', 'ECDHE-ECDSA-AES128-GCM-SHA256', 'ECDHE-RSA-AES128-GCM-SHA256', 'AES256-GCM-SHA384', 'AES128-GCM-SHA256'],
};

export function spiffeId(trustDomain: string, namespace: string, serviceAccount: string): string {
  return `spiffe://${trustDomain}/ns/${namespace}/sa/${serviceAccount}`;
}

/** The SPIFFE IDs of the endpoints' service accounts, sorted, each once; endpoints without one add nothing. */
export function endpointIdentities(trustDomain: string, namespace: string, endpoints: readonly MeshEndpoint[]): string[] {
  const sas = new Set<string>();
  for (const e of endpoints) if (e.serviceAccount) sas.add(e.serviceAccount);
  return [...sas].sort().map((sa) => spiffeId(trustDomain, namespace, sa));
}

export function isMtlsCapable(e: MeshEndpoint): boolean {
  return e.labels[TLS_MODE_LABEL] === TLS_MODE_ISTIO;
}

/** Istio's SNI for in-mesh mTLS: `outbound_.<port>_.<subset>_.<host>`. */
export function istioSni(port: number, subset: string | undefined, host: string): string {
  return `outbound_.${port}_.${subset ?? ''}_.${host}`;
}

function isH2(protocol: MeshProtocol | undefined): boolean {
  return protocol === 'GRPC' || protocol === 'HTTP2';
}

/** A sidecar's client side of Istio mTLS: its own certificate, the server checked against the root and the expected identities. */
export function sidecarUpstreamMtls(o: { sni: string; identities: readonly string[]; protocol?: MeshProtocol }): Json {
  const validation: Json = {};
  if (o.identities.length > 0) validation['match_typed_subject_alt_names'] = uriMatchers(o.identities);
  return {
    name: TLS_TRANSPORT_SOCKET,
    typed_config: {
      '@type': UPSTREAM_TLS_TYPE,
      common_tls_context: {
        tls_params: TLS_PARAMS,
        alpn_protocols: isH2(o.protocol) ? CLIENT_ALPNS_H2 : CLIENT_ALPNS,
        tls_certificate_sds_secret_configs: [{ name: WORKLOAD_SECRET }],
        combined_validation_context: { default_validation_context: validation, validation_context_sds_secret_config: { name: ROOT_SECRET } },
      },
      sni: o.sni,
    },
  };
}

/** A sidecar's server side of Istio mTLS: a client certificate chained to the mesh root is required. */
export function sidecarDownstreamMtls(http: boolean): Json {
  return {
    name: TLS_TRANSPORT_SOCKET,
    typed_config: {
      '@type': DOWNSTREAM_TLS_TYPE,
      common_tls_context: {
        tls_params: TLS_PARAMS,
        alpn_protocols: http ? SERVER_ALPNS_HTTP : SERVER_ALPNS_TCP,
        tls_certificate_sds_secret_configs: [{ name: WORKLOAD_SECRET }],
        combined_validation_context: { default_validation_context: {}, validation_context_sds_secret_config: { name: ROOT_SECRET } },
      },
      require_client_certificate: true,
    },
  };
}

function grpcProviders(identities: readonly string[]): Json {
  const validation: Json = { ca_certificate_provider_instance: { instance_name: GRPC_CERT_PROVIDER_INSTANCE, certificate_name: GRPC_ROOT_CERT_NAME } };
  if (identities.length > 0) validation['match_typed_subject_alt_names'] = uriMatchers(identities);
  return {
    tls_certificate_provider_instance: { instance_name: GRPC_CERT_PROVIDER_INSTANCE, certificate_name: GRPC_IDENTITY_CERT_NAME },
    // not combined_validation_context: that requires an SDS secret, which gRPC has not
    validation_context: validation,
  };
}

function uriMatchers(identities: readonly string[]): Json[] {
  return identities.map((exact) => ({ san_type: 'URI', matcher: { exact } }));
}

/** A proxyless client's side of Istio mTLS: the bootstrap's certificate providers. */
export function proxylessUpstreamMtls(identities: readonly string[]): Json {
  return { name: TLS_TRANSPORT_SOCKET, typed_config: { '@type': UPSTREAM_TLS_TYPE, common_tls_context: grpcProviders(identities) } };
}

/** A proxyless server's side of Istio mTLS. */
export function proxylessDownstreamMtls(): Json {
  return {
    name: TLS_TRANSPORT_SOCKET,
    typed_config: { '@type': DOWNSTREAM_TLS_TYPE, common_tls_context: grpcProviders([]), require_client_certificate: true },
  };
}

/**
 * Istio's auto mTLS for a sidecar cluster: endpoints carrying `tlsMode: istio` in their transport-socket
 * metadata (endpoints.ts) get mTLS, the rest the cluster's own (plain text) socket.
 */
export function autoMtlsMatches(socket: Json): Json[] {
  return [{ name: `${TLS_MODE_KEY}-${TLS_MODE_ISTIO}`, match: { [TLS_MODE_KEY]: TLS_MODE_ISTIO }, transport_socket: socket }];
}

/** The endpoint metadata auto mTLS matches on. */
export function endpointTlsMetadata(e: MeshEndpoint): Json | undefined {
  return isMtlsCapable(e) ? { filter_metadata: { [TRANSPORT_SOCKET_MATCH]: { [TLS_MODE_KEY]: TLS_MODE_ISTIO } } } : undefined;
}
