// Shared by the proxyless security end-to-end tests (mtls-e2e, authz-mtls-e2e): workload
// certificates from tandem's CA on disk, per-workload gRPC xDS bootstraps, the peer a server saw.
import type * as grpc from '@grpc/grpc-js';
import type { Test } from 'tap';
import { createServer } from 'node:net';
import path from 'node:path';
import type { Authority } from '../../../ca/authority.js';
import { issueWithNewKey } from '../../../ca/issue-local.js';
import { writeWorkloadFiles } from '../../../ca/workload-files.js';
import { openIstioConfig } from '../../../control-plane/istio-config.js';
import { createFileRegistry } from '../../../control-plane/registry/file.js';
import { startControlPlane, type ControlPlane } from '../../../control-plane/server.js';

/**
 * grpc-js-xds reads the process-wide bootstrap once; each workload gets its own through this
 * per-channel/per-server option (resolver-xds.js, server.js): the same format, one XdsClient each.
 */
export const BOOTSTRAP_OPTION = 'grpc.TEST_ONLY_DO_NOT_USE_IN_PROD.xds_bootstrap_config';
export const TLS_MODE = 'security.istio.io/tlsMode';
const DAY = 24 * 3600 * 1000;

export async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** A certificate for `spiffe://cluster.local/ns/<namespace>/sa/<sa>` written in Istio's file layout into `dir`. */
export async function issueInto(authority: Authority, sa: string, dir: string, namespace = 'demo'): Promise<string> {
  const { pems } = await issueWithNewKey(authority, { trustDomain: 'cluster.local', namespace, serviceAccount: sa }, DAY);
  await writeWorkloadFiles(dir, pems);
  return dir;
}

/** A gRPC xDS bootstrap: tandem at `cpPort`, the node, the file_watcher provider `default` over `certDir`, Istio's server listener template. */
export function grpcBootstrap(cpPort: number, node: { id: string; metadata: Record<string, unknown> }, certDir: string): string {
  return JSON.stringify({
    xds_servers: [{ server_uri: `127.0.0.1:${cpPort}`, channel_creds: [{ type: 'insecure' }], server_features: ['xds_v3'] }],
    node: { id: node.id, locality: {}, metadata: node.metadata },
    certificate_providers: {
      default: {
        plugin_name: 'file_watcher',
        config: {
          certificate_file: path.join(certDir, 'cert-chain.pem'),
          private_key_file: path.join(certDir, 'key.pem'),
          ca_certificate_file: path.join(certDir, 'root-cert.pem'),
          refresh_interval: '1s',
        },
      },
    },
    server_listener_resource_name_template: 'xds.istio.io/grpc/lds/inbound/%s',
  });
}

/** The peer a server saw: its SPIFFE ID over mTLS, `plaintext` otherwise. */
export function peerOf(call: grpc.ServerUnaryCall<unknown, unknown>): string {
  const ctx = call.getAuthContext();
  if (!ctx.transportSecurityType) return 'plaintext';
  const san = ctx.sslPeerCertificate?.subjectaltname ?? '';
  return san.split(', ').find((s) => s.startsWith('URI:'))?.slice(4) ?? 'tls-without-peer-certificate';
}

/** The status code a call failed with, or `answered`. */
export function outcome(p: Promise<unknown>): Promise<number | 'answered'> {
  return p.then(
    () => 'answered' as const,
    (e: grpc.ServiceError) => e.code,
  );
}

/**
 * tandem's control plane over a file registry and a watched Istio config directory, as `tandem
 * control-plane --registry file:… --config file:…` runs it, with a short debounce; closed at teardown.
 */
export async function startMeshControlPlane(t: Test, registryFile: string, configDir: string): Promise<ControlPlane> {
  const registry = await createFileRegistry(registryFile, { settleMs: 10 });
  const istio = await openIstioConfig({ spec: `file:${configDir}` });
  const cp = await startControlPlane({ host: '127.0.0.1', port: 0, registry, config: istio.store!, mesh: istio.mesh, ready: istio.synced, debounce: { quietMs: 20, maxDelayMs: 500 } });
  t.teardown(async () => {
    await cp.close();
    await istio.close();
    await registry.close();
  });
  return cp;
}
