// Mutual TLS through xDS, end to end: real @grpc/grpc-js-xds clients and xDS-enabled gRPC servers
// (xds.XdsServer) configured by tandem's control plane, with certificates issued by tandem's CA
// (ca/ in process) and read by gRPC's file_watcher certificate provider, over real TLS on loopback.
//
// grpc-js-xds reads the process-wide bootstrap once; every workload here has its own node (labels,
// IPs, ports) and certificates, so each gets its bootstrap through grpc-js-xds' per-channel/per-server
// option `grpc.TEST_ONLY_DO_NOT_USE_IN_PROD.xds_bootstrap_config` (resolver-xds.js, server.js) — the
// same bootstrap format, one XdsClient per workload. grpc-js-xds 1.14 has no environment gate for
// xDS security (its environment.js lists none; GRPC_XDS_EXPERIMENTAL_SECURITY_SUPPORT is gone), so
// none is set.
import * as grpc from '@grpc/grpc-js';
import * as xds from '@grpc/grpc-js-xds';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { loadDirCa } from '../../../ca/dir-source.js';
import { readWorkloadFiles } from '../../../ca/workload-files.js';
import { echoClient, loadEcho, say, type EchoReply } from '../helpers.js';
import { BOOTSTRAP_OPTION, freePort, grpcBootstrap, issueInto, outcome, peerOf, startMeshControlPlane, TLS_MODE } from './mesh-e2e.js';

interface Workload {
  name: string;
  labels: Record<string, string>;
  /** the service account its certificate is issued for */
  sa: string;
  port: number;
}

const root = await mkdtemp(path.join(os.tmpdir(), 'tandem-mtls-e2e-'));
t.teardown(() => rm(root, { recursive: true, force: true }));

const ports = await Promise.all([0, 1, 2, 3].map(() => freePort()));
const W: Record<string, Workload> = {
  strict: { name: 'strict', labels: { app: 'strict', [TLS_MODE]: 'istio' }, sa: 'echo', port: ports[0]! },
  permissive: { name: 'permissive', labels: { app: 'permissive' }, sa: 'echo', port: ports[1]! },
  permissiveMtls: { name: 'permissive-mtls', labels: { app: 'permissive-mtls', [TLS_MODE]: 'istio' }, sa: 'echo', port: ports[2]! },
  disabled: { name: 'disabled', labels: { app: 'disabled' }, sa: 'echo', port: ports[3]! },
};
// Not here: a server holding a certificate for another service account. tandem sends the expected
// identities as match_typed_subject_alt_names (translate-istio/mtls-translation.test.ts); grpc-js-xds
// 1.14 reads only the deprecated match_subject_alt_names, which the strict checker will not encode, so
// a grpc-js client would accept such a server today.

function registryYaml(): string {
  const services = Object.values(W).map((w) => ({
    name: `echo-${w.name}`,
    namespace: 'demo',
    ports: [{ name: 'grpc', port: 7070, protocol: 'GRPC' }],
    // the registry says every endpoint runs as `echo`: the identity clients expect
    endpoints: [{ address: '127.0.0.1', port: w.port, labels: w.labels, serviceAccount: 'echo' }],
  }));
  return JSON.stringify({ services });
}

const PEER_AUTHENTICATIONS = `
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: demo}
spec: {mtls: {mode: PERMISSIVE}}
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: strict, namespace: demo}
spec: {selector: {matchLabels: {app: strict}}, mtls: {mode: STRICT}}
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: disabled, namespace: demo}
spec: {selector: {matchLabels: {app: disabled}}, mtls: {mode: DISABLE}}
`;

t.test('mTLS between grpc-js-xds clients and xDS-enabled servers, by PeerAuthentication', async (t) => {
  const ca = (await loadDirCa(path.join(root, 'ca'))).authority;
  const otherCa = (await loadDirCa(path.join(root, 'other-ca'))).authority;
  const certs: Record<string, string> = {};
  for (const w of Object.values(W)) certs[w.name] = await issueInto(ca, w.sa, path.join(root, `cert-${w.name}`));
  const clientCerts = await issueInto(ca, 'client', path.join(root, 'cert-client'));
  const foreignCerts = await issueInto(otherCa, 'client', path.join(root, 'cert-foreign'));

  const registryFile = path.join(root, 'registry.yaml');
  await writeFile(registryFile, registryYaml());
  const configDir = path.join(root, 'config');
  const { mkdir } = await import('node:fs/promises');
  await mkdir(configDir);
  await writeFile(path.join(configDir, 'peer-authentication.yaml'), PEER_AUTHENTICATIONS);
  const cp = await startMeshControlPlane(t, registryFile, configDir);

  xds.register();
  const { service } = loadEcho();
  const servers: grpc.Server[] = [];
  t.teardown(() => servers.forEach((s) => s.forceShutdown()));
  for (const w of Object.values(W)) {
    const node = { id: `sidecar~127.0.0.1~${w.name}.demo~demo.svc.cluster.local`, metadata: { NAMESPACE: 'demo', LABELS: w.labels, INSTANCE_IPS: '127.0.0.1', APP_PORTS: String(w.port), GENERATOR: 'grpc' } };
    const server = new xds.XdsServer({ [BOOTSTRAP_OPTION]: grpcBootstrap(cp.port, node, certs[w.name]!) });
    server.addService(service, {
      Say: (call: grpc.ServerUnaryCall<{ message: string }, EchoReply>, cb: grpc.sendUnaryData<EchoReply>) => cb(null, { message: peerOf(call), server: w.name }),
    });
    await new Promise<void>((resolve, reject) => server.bindAsync(`127.0.0.1:${w.port}`, new xds.XdsServerCredentials(grpc.ServerCredentials.createInsecure()), (err) => (err ? reject(err) : resolve())));
    servers.push(server);
  }

  const clientNode = { id: 'sidecar~10.0.0.9~client.demo~demo.svc.cluster.local', metadata: { NAMESPACE: 'demo', LABELS: { app: 'client' }, GENERATOR: 'grpc' } };
  const clientOptions = { [BOOTSTRAP_OPTION]: grpcBootstrap(cp.port, clientNode, clientCerts) };
  const xdsClient = (svc: string): ReturnType<typeof echoClient> => {
    const c = echoClient(`xds:///echo-${svc}.demo.svc.cluster.local:7070`, new xds.XdsChannelCredentials(grpc.credentials.createInsecure()), clientOptions);
    t.teardown(() => c.close());
    return c;
  };
  const direct = (w: Workload, creds: grpc.ChannelCredentials): ReturnType<typeof echoClient> => {
    // the server certificates name no DNS host: only the chain is checked for these direct TLS clients
    const c = echoClient(`127.0.0.1:${w.port}`, creds, { 'grpc.ssl_target_name_override': 'echo' });
    t.teardown(() => c.close());
    return c;
  };
  const refused = outcome;

  await t.test('STRICT: the xDS client calls over mTLS (auto mTLS: every endpoint is labelled)', async (t) => {
    const r = await say(xdsClient('strict'), 'hi', 15_000);
    t.equal(r.server, 'strict');
    t.equal(r.message, 'spiffe://cluster.local/ns/demo/sa/client', 'the server saw the client\'s certificate');
  });

  await t.test('STRICT: plaintext, certificate-less and foreign-CA clients are refused', async (t) => {
    t.equal(await refused(say(direct(W.strict!, grpc.credentials.createInsecure()), 'x', 3000)), grpc.status.UNAVAILABLE, 'plaintext refused');
    const own = await readWorkloadFiles(clientCerts);
    const foreign = await readWorkloadFiles(foreignCerts);
    const rootPem = Buffer.from(own.rootPem);
    const checkNothing = { checkServerIdentity: () => undefined };
    t.equal(await refused(say(direct(W.strict!, grpc.credentials.createSsl(rootPem, null, null, checkNothing)), 'x', 3000)), grpc.status.UNAVAILABLE, 'TLS without a client certificate refused');
    t.equal(
      await refused(say(direct(W.strict!, grpc.credentials.createSsl(rootPem, Buffer.from(foreign.keyPem), Buffer.from(foreign.chainPem), checkNothing)), 'x', 3000)),
      grpc.status.UNAVAILABLE,
      'a certificate from another CA refused',
    );
    // the same direct client with the mesh's certificate gets through: the refusals above are about the certificate
    const ok = await say(direct(W.strict!, grpc.credentials.createSsl(rootPem, Buffer.from(own.keyPem), Buffer.from(own.chainPem), checkNothing)), 'x', 5000);
    t.equal(ok.message, 'spiffe://cluster.local/ns/demo/sa/client');
  });

  await t.test('PERMISSIVE without the tlsMode label: plain text for xDS and plaintext clients alike (proxyless)', async (t) => {
    const r = await say(xdsClient('permissive'), 'hi', 15_000);
    t.same([r.server, r.message], ['permissive', 'plaintext']);
    const p = await say(direct(W.permissive!, grpc.credentials.createInsecure()), 'hi', 5000);
    t.same([p.server, p.message], ['permissive', 'plaintext'], 'a client without a mesh certificate is served');
  });

  await t.test('PERMISSIVE on a workload labelled for mTLS: served over mTLS, its clients use it', async (t) => {
    const r = await say(xdsClient('permissive-mtls'), 'hi', 15_000);
    t.same([r.server, r.message], ['permissive-mtls', 'spiffe://cluster.local/ns/demo/sa/client']);
    t.equal(await refused(say(direct(W.permissiveMtls!, grpc.credentials.createInsecure()), 'x', 3000)), grpc.status.UNAVAILABLE);
  });

  await t.test('DISABLE: plain text only', async (t) => {
    const r = await say(xdsClient('disabled'), 'hi', 15_000);
    t.same([r.server, r.message], ['disabled', 'plaintext']);
  });

  const status = cp.proxies();
  t.equal(status.reduce((n, p) => n + (p.types.listener?.nacks ?? 0) + (p.types.cluster?.nacks ?? 0), 0), 0, 'no proxy NACKed anything');
});
