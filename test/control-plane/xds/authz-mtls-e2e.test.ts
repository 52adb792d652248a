// AuthorizationPolicy by identity, end to end: an xDS-enabled gRPC server (xds.XdsServer) whose
// server listener tandem builds from PeerAuthentication (STRICT: mTLS) and AuthorizationPolicy (RBAC
// on the peer's SPIFFE ID, path and header), real grpc-js-xds clients holding certificates issued by
// tandem's CA for different service accounts, policies edited live in the watched config directory.
//
// grpc-js-xds gates its RBAC filter behind GRPC_XDS_EXPERIMENTAL_RBAC (environment.js, read when the
// module loads): set before the dynamic import below. Without it the server would NACK the listener.
import * as grpc from '@grpc/grpc-js';
import { mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { loadDirCa } from '../../../ca/dir-source.js';
import { echoClient, eventually, loadEcho, say, type EchoReply } from '../helpers.js';
import { BOOTSTRAP_OPTION, freePort, grpcBootstrap, issueInto, outcome, peerOf, startMeshControlPlane, TLS_MODE } from './mesh-e2e.js';

process.env['GRPC_XDS_EXPERIMENTAL_RBAC'] = 'true';
const xds = await import('@grpc/grpc-js-xds');

const root = await mkdtemp(path.join(os.tmpdir(), 'tandem-authz-e2e-'));
t.teardown(() => rm(root, { recursive: true, force: true }));

const SECURITY = `
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: demo}
spec: {mtls: {mode: STRICT}}
`;
const ALLOW_CLIENT = `
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: api, namespace: demo}
spec:
  selector: {matchLabels: {app: api}}
  action: ALLOW
  rules:
  - from: [{source: {principals: ["cluster.local/ns/demo/sa/client"]}}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: no-debug, namespace: demo}
spec:
  selector: {matchLabels: {app: api}}
  action: DENY
  rules:
  - when: [{key: "request.headers[x-debug]", values: ["on"]}]
`;
const ALLOW_OTHER_NAMESPACE = `
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: api, namespace: demo}
spec:
  selector: {matchLabels: {app: api}}
  action: ALLOW
  rules:
  - from: [{source: {namespaces: ["elsewhere"]}}]
`;

async function writeAtomically(file: string, text: string): Promise<void> {
  await writeFile(`${file}.tmp`, text);
  await rename(`${file}.tmp`, file);
}

t.test('AuthorizationPolicy on the peer identity of mTLS calls, served to a grpc-js-xds server, edited live', async (t) => {
  const ca = (await loadDirCa(path.join(root, 'ca'))).authority;
  const port = await freePort();
  const labels = { app: 'api', [TLS_MODE]: 'istio' };
  const serverCerts = await issueInto(ca, 'api', path.join(root, 'cert-api'));
  const clientCerts = await issueInto(ca, 'client', path.join(root, 'cert-client'));
  const intruderCerts = await issueInto(ca, 'intruder', path.join(root, 'cert-intruder'));

  const registryFile = path.join(root, 'registry.yaml');
  await writeFile(
    registryFile,
    JSON.stringify({
      services: [{ name: 'api', namespace: 'demo', ports: [{ name: 'grpc', port: 7070, protocol: 'GRPC' }], endpoints: [{ address: '127.0.0.1', port, labels, serviceAccount: 'api' }] }],
    }),
  );
  const configDir = path.join(root, 'config');
  await mkdir(configDir);
  await writeFile(path.join(configDir, 'security.yaml'), SECURITY);
  const policyFile = path.join(configDir, 'authorization.yaml');
  await writeFile(policyFile, ALLOW_CLIENT);
  const cp = await startMeshControlPlane(t, registryFile, configDir);

  xds.register();
  const { service } = loadEcho();
  const node = { id: 'sidecar~127.0.0.1~api.demo~demo.svc.cluster.local', metadata: { NAMESPACE: 'demo', LABELS: labels, INSTANCE_IPS: '127.0.0.1', APP_PORTS: String(port), GENERATOR: 'grpc' } };
  const server = new xds.XdsServer({ [BOOTSTRAP_OPTION]: grpcBootstrap(cp.port, node, serverCerts) });
  server.addService(service, {
    Say: (call: grpc.ServerUnaryCall<{ message: string }, EchoReply>, cb: grpc.sendUnaryData<EchoReply>) => cb(null, { message: peerOf(call), server: 'api' }),
  });
  t.teardown(() => server.forceShutdown());
  await new Promise<void>((resolve, reject) => server.bindAsync(`127.0.0.1:${port}`, new xds.XdsServerCredentials(grpc.ServerCredentials.createInsecure()), (err) => (err ? reject(err) : resolve())));

  const clientAs = (sa: string, certs: string): ReturnType<typeof echoClient> => {
    const n = { id: `sidecar~10.0.0.9~${sa}.demo~demo.svc.cluster.local`, metadata: { NAMESPACE: 'demo', LABELS: { app: sa }, GENERATOR: 'grpc' } };
    const c = echoClient('xds:///api.demo.svc.cluster.local:7070', new xds.XdsChannelCredentials(grpc.credentials.createInsecure()), { [BOOTSTRAP_OPTION]: grpcBootstrap(cp.port, n, certs) });
    t.teardown(() => c.close());
    return c;
  };
  const client = clientAs('client', clientCerts);
  const intruder = clientAs('intruder', intruderCerts);
  const withHeader = (c: ReturnType<typeof echoClient>, value: string): Promise<EchoReply> => {
    const md = new grpc.Metadata();
    md.set('x-debug', value);
    return say(c, 'h', 5000, md);
  };

  const first = await say(client, 'hi', 15_000);
  t.same([first.server, first.message], ['api', 'spiffe://cluster.local/ns/demo/sa/client'], 'the allowed identity is served over mTLS');
  t.equal(await outcome(say(intruder, 'hi', 5000)), grpc.status.PERMISSION_DENIED, 'another service account of the same mesh is denied (ALLOW by principal)');
  t.equal(await outcome(withHeader(client, 'on')), grpc.status.PERMISSION_DENIED, 'DENY on a request header wins over ALLOW');
  t.equal((await withHeader(client, 'off')).server, 'api', 'the same header with another value passes');

  await writeAtomically(policyFile, ALLOW_OTHER_NAMESPACE);
  t.ok(await eventually(async () => (await outcome(say(client, 'x', 2000))) === grpc.status.PERMISSION_DENIED, 15_000), 'after the edit only namespace elsewhere is allowed: the client is denied');
  t.equal(await outcome(say(intruder, 'x', 2000)), grpc.status.PERMISSION_DENIED, 'and so is the intruder');

  await rm(policyFile);
  t.ok(await eventually(async () => (await outcome(say(intruder, 'x', 2000))) === 'answered', 15_000), 'with the policies deleted every mesh identity is served');
  t.equal((await say(client, 'x', 5000)).message, 'spiffe://cluster.local/ns/demo/sa/client', 'still over mTLS (STRICT)');

  const nacks = cp.proxies().reduce((n, p) => n + (p.types.listener?.nacks ?? 0) + (p.types.cluster?.nacks ?? 0) + (p.types.route?.nacks ?? 0), 0);
  t.equal(nacks, 0, 'no proxy NACKed anything');
});
