import t from 'tap';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { credentials, Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { certificateServiceClient, type IstioCertificateRequest, type IstioCertificateResponse } from '../../ca/proto/service.js';
import { jwtIssuer, makeCsr, opensslVerify } from '../ca/helpers.js';
import { startServe, tempDir } from '../reliability/processes.js';

/**
 * `tandem serve` with the mesh CA wired in, as a process: the CA created on first start in the state
 * directory, Istio's CA API on the TLS port (a real gRPC client trusting only the mesh root and
 * checking the server name), callers verified against a JWKS file (no cluster here), the chain
 * checked by openssl, and the same API refused on the plaintext xDS port.
 */

type CaClient = {
  CreateCertificate(req: Partial<IstioCertificateRequest>, md: Metadata, cb: (err: ServiceError | null, res?: IstioCertificateResponse) => void): void;
  close(): void;
};

function call(client: CaClient, req: Partial<IstioCertificateRequest>, token: string): Promise<{ err?: ServiceError; res?: IstioCertificateResponse }> {
  const md = new Metadata();
  md.set('authorization', `Bearer ${token}`);
  return new Promise((resolve) => client.CreateCertificate(req, md, (err, res) => resolve(err ? { err } : { res: res! })));
}

t.test('serve: the CA API issues on the TLS port and refuses plaintext', async (t) => {
  const jwt = await jwtIssuer();
  const dir = tempDir(t, 'serve-ca');
  const jwksFile = join(dir, 'jwks.json');
  writeFileSync(jwksFile, JSON.stringify(jwt.jwks));
  const s = await startServe(t, ['--ca-jwks', jwksFile, '--ca-jwt-issuer', jwt.issuer]);
  const root = readFileSync(join(s.state, 'ca', 'root-cert.pem'), 'utf8');
  t.match(root, /BEGIN CERTIFICATE/, 'the mesh CA was created in the state directory');

  const Ctor = certificateServiceClient();
  const tls = new Ctor(`localhost:${s.secure}`, credentials.createSsl(Buffer.from(root))) as unknown as CaClient;
  const plain = new Ctor(`127.0.0.1:${s.xds}`, credentials.createInsecure()) as unknown as CaClient;
  t.teardown(() => {
    tls.close();
    plain.close();
  });
  const token = await jwt.token({ ns: 'demo', sa: 'echo' });
  const { pem } = await makeCsr({ uris: ['spiffe://cluster.local/ns/demo/sa/echo'] });

  const ok = await call(tls, { csr: pem, validity_duration: 3600 }, token);
  t.notOk(ok.err, `issued over TLS (${ok.err?.details ?? ''})`);
  const chain = ok.res?.cert_chain ?? [];
  t.ok(chain.length >= 2, 'leaf first, root last');
  const verified = await opensslVerify(root, chain.slice(0, -1));
  t.ok(verified.ok, `openssl verifies the leaf against the mesh root: ${verified.output}`);

  const refused = await call(plain, { csr: pem, validity_duration: 3600 }, token);
  t.equal(refused.err?.code, status.UNIMPLEMENTED, 'the plaintext port has no CA service: it never signs');
});

t.test('serve without a cluster or a JWKS keeps the CA API off, never an unauthenticated signer', async (t) => {
  const s = await startServe(t);
  t.match(s.stderr(), /CA API off/, 'the banner says so');
  const root = readFileSync(join(s.state, 'ca', 'root-cert.pem'), 'utf8');
  const Ctor = certificateServiceClient();
  const tls = new Ctor(`localhost:${s.secure}`, credentials.createSsl(Buffer.from(root))) as unknown as CaClient;
  t.teardown(() => tls.close());
  const { pem } = await makeCsr({ uris: ['spiffe://cluster.local/ns/demo/sa/echo'] });
  const r = await call(tls, { csr: pem }, 'not-a-token');
  t.equal(r.err?.code, status.UNIMPLEMENTED, 'no CertificateService registered');
});
