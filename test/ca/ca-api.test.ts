import t, { type Test } from 'tap';
import { X509Certificate } from 'node:crypto';
import { credentials, Metadata, Server, ServerCredentials, status, type Client, type ServiceError } from '@grpc/grpc-js';
import protobuf from 'protobufjs';
import { loadAuthority, type Authority } from '../../ca/authority.js';
import { jwksAuthenticator } from '../../ca/authn.js';
import { registerCertificateService, type CertificateServiceDeps } from '../../ca/ca-service.js';
import { CA_PROTO_JSON } from '../../ca/proto/ca-proto.js';
import { certificateServiceClient, type IstioCertificateRequest, type IstioCertificateResponse } from '../../ca/proto/service.js';
import { secureServerCredentials } from '../../ca/server-credentials.js';
import type { Logger } from '../../common/logger.js';
import { conformancePath } from '../conformance.js';
import { jwtIssuer, makeCsr, opensslText, opensslVerify, pluginIntermediate, selfSignedAuthority, where } from './helpers.js';

/**
 * Istio's CA API end to end: a real gRPC server over TLS (its certificate issued by the mesh CA),
 * a real gRPC client built from ca.proto, tokens signed by a JWKS issuer standing in for the
 * apiserver's service-account signer (verified locally, the --ca-jwks path).
 */

type CaClient = Client & {
  CreateCertificate(req: Partial<IstioCertificateRequest>, md: Metadata, cb: (err: ServiceError | null, res?: IstioCertificateResponse) => void): void;
};

const HOUR = 3_600_000;

async function startCa(t: Test, authority: Authority, extra: Partial<CertificateServiceDeps> = {}): Promise<{ client: CaClient; issued: () => number; jwt: Awaited<ReturnType<typeof jwtIssuer>> }> {
  const jwt = await jwtIssuer();
  let count = 0;
  const logger: Logger = { debug() {}, info(_o, msg) { if (msg === 'issued workload certificate') count++; }, warn() {}, error() {} };
  const server = new Server();
  registerCertificateService(server, { authority: () => authority, authenticate: jwksAuthenticator({ jwks: jwt.jwks, issuer: jwt.issuer }), maxTtlMs: 48 * HOUR, logger, ...extra });
  const { credentials: serverCreds } = await secureServerCredentials(authority);
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', serverCreds, (err, p) => (err ? reject(err) : resolve(p))));
  const Ctor = certificateServiceClient();
  // The client trusts only the mesh roots and checks the server name "localhost" (a SAN of the 15012 certificate).
  const client = new Ctor(`localhost:${port}`, credentials.createSsl(Buffer.from(authority.rootsPem))) as unknown as CaClient;
  t.teardown(() => {
    client.close();
    server.forceShutdown();
  });
  return { client, issued: () => count, jwt };
}

function call(client: CaClient, req: Partial<IstioCertificateRequest>, token?: string): Promise<{ err?: ServiceError; res?: IstioCertificateResponse }> {
  const md = new Metadata();
  if (token !== undefined) md.set('authorization', `Bearer ${token}`);
  return new Promise((resolve) => client.CreateCertificate(req, md, (err, res) => resolve(err ? { err } : { res: res! })));
}

const ID = 'spiffe://cluster.local/ns/demo/sa/echo';

t.test('the vendored proto bundle is what protobufjs makes of the conformance ca.proto', async (t) => {
  const root = new protobuf.Root().loadSync(conformancePath('istio-ca', 'ca.proto'), { keepCase: true });
  root.resolveAll();
  t.same(CA_PROTO_JSON, JSON.parse(JSON.stringify(root.toJSON())));
});

t.test('issues an SVID for the token\'s identity, chained to the root', async (t) => {
  const { authority } = await selfSignedAuthority();
  const { client, issued, jwt } = await startCa(t, authority);
  const token = await jwt.token({ ns: 'demo', sa: 'echo' });
  const csr = await makeCsr({ uris: [ID] });
  const { err, res } = await call(client, { csr: csr.pem }, token);
  t.error(err);
  const chain = res!.cert_chain;
  t.equal(chain.length, 2, 'leaf then root');
  t.equal(chain[1]!.trim(), authority.rootsPem.trim(), 'root last');
  const leaf = new X509Certificate(chain[0]!);
  t.equal(leaf.subjectAltName, `URI:${ID}`, 'exactly one SAN, the SPIFFE URI');
  t.equal(leaf.publicKey.export({ type: 'spki', format: 'der' }).toString('hex'), Buffer.from(await globalThis.crypto.subtle.exportKey('spki', csr.keys.publicKey)).toString('hex'), 'for the CSR\'s key');
  t.equal(leaf.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1');
  t.equal(leaf.ca, false);
  const lifetime = Date.parse(leaf.validTo) - Date.parse(leaf.validFrom);
  t.equal(lifetime, 24 * HOUR, 'default lifetime 24 h');
  const text = await opensslText(chain[0]!);
  t.match(text, /X509v3 Extended Key Usage: *\n\s*TLS Web Server Authentication, TLS Web Client Authentication/);
  t.match(text, /X509v3 Subject Alternative Name: critical\n\s*URI:spiffe:\/\/cluster\.local\/ns\/demo\/sa\/echo\n/);
  const v = await opensslVerify(authority.rootsPem, chain);
  t.ok(v.ok, v.output);
  t.equal(issued(), 1);

  const noSans = await call(client, { csr: (await makeCsr()).pem }, token);
  t.error(noSans.err, 'a CSR naming nothing gets the token\'s identity');
  t.equal(new X509Certificate(noSans.res!.cert_chain[0]!).subjectAltName, `URI:${ID}`);

  const short = await call(client, { csr: csr.pem, validity_duration: 3600 }, token);
  const s = new X509Certificate(short.res!.cert_chain[0]!);
  t.equal(Date.parse(s.validTo) - Date.parse(s.validFrom), HOUR, 'validity_duration honoured');
  const long = await call(client, { csr: csr.pem, validity_duration: 365 * 24 * 3600 }, token);
  const l = new X509Certificate(long.res!.cert_chain[0]!);
  t.equal(Date.parse(l.validTo) - Date.parse(l.validFrom), 48 * HOUR, 'capped at maxTtl');

  const rsa = await call(client, { csr: (await makeCsr({ uris: [ID], key: 'rsa2048' })).pem }, token);
  t.error(rsa.err, 'RSA 2048 is usable by Envoy');
  t.ok((await opensslVerify(authority.rootsPem, rsa.res!.cert_chain)).ok);
});

t.test('signs as an intermediate under an Istio plug-in root (cacerts)', async (t) => {
  const plugin = await pluginIntermediate();
  const authority = await loadAuthority(plugin.pems, where('cacerts'));
  t.equal(authority.intermediate, true);
  const { client, jwt } = await startCa(t, authority);
  const { err, res } = await call(client, { csr: (await makeCsr({ uris: [ID] })).pem }, await jwt.token({ ns: 'demo', sa: 'echo' }));
  t.error(err);
  const chain = res!.cert_chain;
  t.equal(chain.length, 3, 'leaf, intermediate, root');
  t.equal(chain[1]!.trim(), plugin.intermediatePem.trim());
  t.equal(chain[2]!.trim(), plugin.rootPem.trim());
  const v = await opensslVerify(plugin.rootPem, chain);
  t.ok(v.ok, v.output);
  const withoutIntermediate = await opensslVerify(plugin.rootPem, [chain[0]!]);
  t.notOk(withoutIntermediate.ok, 'the leaf is really signed by the intermediate (the root alone does not verify it)');
});

t.test('refusals: gRPC codes, and nothing issued', async (t) => {
  const { authority } = await selfSignedAuthority();
  const { client, issued, jwt } = await startCa(t, authority);
  const good = await jwt.token({ ns: 'demo', sa: 'echo' });
  const csr = (await makeCsr({ uris: [ID] })).pem;
  const other = await jwtIssuer();
  const cases: { name: string; req: Partial<IstioCertificateRequest>; token?: string; code: status; details: RegExp }[] = [
    { name: 'no token', req: { csr }, code: status.UNAUTHENTICATED, details: /no authorization metadata/ },
    { name: 'not a JWT', req: { csr }, token: 'garbage', code: status.UNAUTHENTICATED, details: /token rejected/ },
    { name: 'expired token', req: { csr }, token: await jwt.token({ ns: 'demo', sa: 'echo', expSeconds: -60 }), code: status.UNAUTHENTICATED, details: /token rejected: "exp" claim timestamp check failed/ },
    { name: 'wrong audience', req: { csr }, token: await jwt.token({ ns: 'demo', sa: 'echo', aud: 'kubernetes' }), code: status.UNAUTHENTICATED, details: /token rejected: unexpected "aud"/ },
    { name: 'wrong issuer', req: { csr }, token: await jwt.token({ ns: 'demo', sa: 'echo', iss: 'https://evil' }), code: status.UNAUTHENTICATED, details: /token rejected: unexpected "iss"/ },
    { name: 'token signed by another key', req: { csr }, token: await other.token({ ns: 'demo', sa: 'echo' }), code: status.UNAUTHENTICATED, details: /token rejected: signature verification failed/ },
    { name: 'sub and kubernetes.io disagree', req: { csr }, token: await jwt.token({ ns: 'demo', sa: 'echo', sub: 'system:serviceaccount:demo:admin' }), code: status.UNAUTHENTICATED, details: /different service accounts/ },
    { name: 'CSR for a foreign identity', req: { csr: (await makeCsr({ uris: ['spiffe://cluster.local/ns/demo/sa/admin'] })).pem }, token: good, code: status.PERMISSION_DENIED, details: /asks for spiffe:\/\/cluster\.local\/ns\/demo\/sa\/admin but the caller is spiffe:\/\/cluster\.local\/ns\/demo\/sa\/echo/ },
    { name: 'CSR adding a DNS name', req: { csr: (await makeCsr({ uris: [ID], dnsNames: ['echo.demo.svc'] })).pem }, token: good, code: status.PERMISSION_DENIED, details: /DNS:echo\.demo\.svc/ },
    { name: 'malformed CSR', req: { csr: '-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n' }, token: good, code: status.INVALID_ARGUMENT, details: /the CSR does not parse/ },
    { name: 'no CSR at all', req: {}, token: good, code: status.INVALID_ARGUMENT, details: /no PEM "CERTIFICATE REQUEST" block/ },
    { name: 'Ed25519 key', req: { csr: (await makeCsr({ uris: [ID], key: 'ed25519' })).pem }, token: good, code: status.INVALID_ARGUMENT, details: /ed25519 keys cannot be used by Envoy/ },
    { name: 'RSA 1024 key', req: { csr: (await makeCsr({ uris: [ID], key: 'rsa1024' })).pem }, token: good, code: status.INVALID_ARGUMENT, details: /RSA 1024 is too short/ },
    { name: 'negative validity', req: { csr, validity_duration: -5 }, token: good, code: status.INVALID_ARGUMENT, details: /validity_duration -5/ },
    { name: 'impersonation', req: { csr, metadata: { fields: { ImpersonatedIdentity: { stringValue: 'spiffe://cluster.local/ns/demo/sa/admin' } } } }, token: good, code: status.PERMISSION_DENIED, details: /impersonation/ },
  ];
  // A CSR whose signature does not match its key: swap the signature of one CSR into another.
  const a = (await makeCsr({ uris: [ID] })).pem;
  const b = (await makeCsr({ uris: [ID] })).pem;
  const der = (p: string): Buffer => Buffer.from(p.replace(/-----[^-]+-----|\s/g, ''), 'base64');
  const da = der(a);
  const db = der(b);
  const tampered = Buffer.concat([da.subarray(0, da.length - 72), db.subarray(db.length - 72)]);
  cases.push({ name: 'CSR signature not by its key', req: { csr: `-----BEGIN CERTIFICATE REQUEST-----\n${tampered.toString('base64')}\n-----END CERTIFICATE REQUEST-----\n` }, token: good, code: status.INVALID_ARGUMENT, details: /signature does not verify|does not parse/ });

  for (const c of cases) {
    const { err, res } = await call(client, c.req, c.token);
    t.equal(err?.code, c.code, `${c.name}: ${status[c.code]} (${err?.details})`);
    t.match(err?.details ?? '', c.details, `${c.name}: reason`);
    t.equal(res, undefined);
  }
  t.equal(issued(), 0, 'no refused request was signed');
});
