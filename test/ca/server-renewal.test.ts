import t from 'tap';
import { X509Certificate } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { credentials, Metadata, Server, type Client, type ServiceError } from '@grpc/grpc-js';
import { startMeshCa } from '../../ca/mesh-ca.js';
import { certificateServiceClient } from '../../ca/proto/service.js';
import { renewalDelayMs } from '../../ca/server-credentials.js';
import { jwtIssuer } from './helpers.js';

/**
 * The secure port's certificate is renewed in-process: with a 3 s lifetime (renewed every 1.5 s),
 * fresh TLS handshakes against the running gRPC server, one every 50 ms for 5 s, must all succeed
 * (each one verified against the mesh root and the service name, so an expired certificate fails
 * it) and must see more than one certificate; a gRPC client connected before the renewals keeps
 * working on its connection, and a client created after them reaches the service.
 */
const SERVICE_NAME = 'tandem-xds.tandem-system.svc';

function handshake(port: number, rootsPem: string): Promise<{ serial: string; validTo: number }> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port, servername: SERVICE_NAME, ca: rootsPem, ALPNProtocols: ['h2'] }, () => {
      const c = s.getPeerX509Certificate();
      s.destroy();
      if (!c) reject(new Error('no peer certificate'));
      else resolve({ serial: c.serialNumber, validTo: Date.parse(c.validTo) });
    });
    s.on('error', reject);
  });
}

type CaClient = Client & { CreateCertificate: (r: object, m: Metadata, cb: (e: ServiceError | null) => void) => void };

t.test('renewalDelayMs: half the remaining lifetime', async (t) => {
  t.equal(renewalDelayMs(1_000, new Date(11_000)), 5_000);
  t.equal(renewalDelayMs(20_000, new Date(11_000)), 0, 'an expired certificate is renewed at once');
});

t.test('15012 certificate renewed at half-life without restarting the server; no handshake fails', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'tandem-renew-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const jwt = await jwtIssuer();
  await writeFile(join(dir, 'jwks.json'), JSON.stringify(jwt.jwks));
  const ca = await startMeshCa({ dir: join(dir, 'ca'), jwks: { file: join(dir, 'jwks.json'), issuer: jwt.issuer }, serverCertTtlMs: 3_000 });
  t.teardown(() => ca.stop());
  const first = new X509Certificate(ca.serverCertificate.chainPem);

  const server = new Server();
  ca.registerCertificateService(server);
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', ca.credentials, (e, p) => (e ? reject(e) : resolve(p))));
  t.teardown(() => server.forceShutdown());

  const Ctor = certificateServiceClient();
  const opts = { 'grpc.default_authority': SERVICE_NAME, 'grpc.ssl_target_name_override': SERVICE_NAME };
  const newClient = (): CaClient => new Ctor(`127.0.0.1:${port}`, credentials.createSsl(Buffer.from(ca.authority.rootsPem)), opts) as unknown as CaClient;
  const md = new Metadata();
  md.set('authorization', `Bearer ${await jwt.token({ ns: 'demo', sa: 'echo' })}`);
  // csr '' reaches the service and is refused there: proof the call went through TLS to the CA API.
  const call = (c: CaClient): Promise<string> => new Promise((resolve) => c.CreateCertificate({ csr: '' }, md, (e) => resolve(e?.details ?? 'no error')));

  const early = newClient();
  t.teardown(() => early.close());
  t.match(await call(early), /the CSR does not parse/, 'a client connected before any renewal reaches the service');

  const serials = new Set<string>();
  const failures: string[] = [];
  const servedMatches: boolean[] = [];
  const end = Date.now() + 5_000;
  while (Date.now() < end) {
    try {
      const h = await handshake(port, ca.authority.rootsPem);
      serials.add(h.serial);
      if (h.validTo < Date.now()) failures.push(`expired certificate ${h.serial} served`);
      servedMatches.push(h.serial === new X509Certificate(ca.serverCertificate.chainPem).serialNumber);
    } catch (err) {
      failures.push((err as Error).message);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  t.same(failures, [], 'every handshake succeeded, each verified against the mesh root and the service name');
  t.ok(serials.size >= 3, `new handshakes saw renewed certificates (${serials.size} distinct, expected about 4)`);
  t.ok(serials.has(first.serialNumber), 'the first certificate was served before its renewal');
  t.ok(servedMatches.filter(Boolean).length >= servedMatches.length - serials.size, 'handshakes get the certificate the CA reports as current (a renewal may land between the two reads)');
  const now = new X509Certificate(ca.serverCertificate.chainPem);
  t.not(now.serialNumber, first.serialNumber, 'serverCertificate reports the renewed certificate');
  t.ok(now.verify(ca.authority.caCert.publicKey), 'the renewed certificate is issued by the mesh CA');
  t.equal(now.subjectAltName, first.subjectAltName, 'for the same names');

  t.match(await call(early), /the CSR does not parse/, 'the client connected before the renewals still works');
  const late = newClient();
  t.teardown(() => late.close());
  t.match(await call(late), /the CSR does not parse/, 'a client created after the renewals reaches the service');
});
