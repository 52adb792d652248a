import t from 'tap';
import { X509Certificate } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { credentials, Metadata, Server, type Client, type ServiceError } from '@grpc/grpc-js';
import { startMeshCa } from '../../ca/mesh-ca.js';
import { certificateServiceClient, type IstioCertificateResponse } from '../../ca/proto/service.js';
import { jwtIssuer } from './helpers.js';

t.test('startMeshCa without a cluster: local CA directory, JWKS tokens, the CA API on a 15012-style TLS server', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'tandem-mesh-ca-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const jwt = await jwtIssuer();
  await writeFile(join(dir, 'jwks.json'), JSON.stringify(jwt.jwks));

  const noTokens = await startMeshCa({ dir: join(dir, 'ca') });
  t.throws(() => noTokens.registerCertificateService(new Server()), /needs a way to verify tokens/);

  const ca = await startMeshCa({ dir: join(dir, 'ca'), jwks: { file: join(dir, 'jwks.json'), issuer: jwt.issuer } });
  t.equal(ca.source, 'dir');
  t.equal(ca.authority.caCert.fingerprint256, noTokens.authority.caCert.fingerprint256, 'the directory CA is kept across starts');
  const served = new X509Certificate(ca.serverCertificate.chainPem);
  t.equal(served.subjectAltName, 'DNS:tandem-xds.tandem-system.svc, DNS:tandem-xds.tandem-system.svc.cluster.local, DNS:localhost, IP Address:127.0.0.1');
  t.same(served.keyUsage, ['1.3.6.1.5.5.7.3.1'], 'serverAuth only');
  t.ok(served.verify(ca.authority.caCert.publicKey), 'issued by the mesh CA');

  const server = new Server();
  ca.registerCertificateService(server);
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', ca.credentials, (e, p) => (e ? reject(e) : resolve(p))));
  const Ctor = certificateServiceClient();
  // As a sidecar in the cluster connects: checking the server name tandem-xds.tandem-system.svc.
  const client = new Ctor(`127.0.0.1:${port}`, credentials.createSsl(Buffer.from(ca.authority.rootsPem)), { 'grpc.default_authority': 'tandem-xds.tandem-system.svc', 'grpc.ssl_target_name_override': 'tandem-xds.tandem-system.svc' }) as unknown as Client & { CreateCertificate: Function };
  t.teardown(() => {
    client.close();
    server.forceShutdown();
  });
  const md = new Metadata();
  md.set('authorization', `Bearer ${await jwt.token({ ns: 'demo', sa: 'echo' })}`);
  const res = await new Promise<IstioCertificateResponse>((resolve, reject) =>
    (client.CreateCertificate as (r: object, m: Metadata, cb: (e: ServiceError | null, r: IstioCertificateResponse) => void) => void)({ csr: '' }, md, (e, r) => (e ? reject(e) : resolve(r))),
  ).catch((e: ServiceError) => e);
  t.match((res as ServiceError).details, /the CSR does not parse/, 'reached the service over TLS for the service name');
  await ca.stop();
  await noTokens.stop();
  
});
