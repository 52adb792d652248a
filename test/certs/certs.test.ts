import t, { type Test } from 'tap';
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { promisify } from 'node:util';
import { UserError } from '../../common/errors.js';
import { ensureCerts } from '../../certs/ensure.js';
import { loadServingCert } from '../../certs/load.js';
import { createCa, issueServingCert, validityFor } from '../../certs/x509.js';

const exec = promisify(execFile);
const SVC = 'tandem-webhook.tandem-system.svc';

async function tempDir(t: Test): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'tandem-certs-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function opensslVerify(caFile: string, certFile: string, at?: Date): Promise<{ ok: boolean; out: string }> {
  const attime = at ? ['-attime', String(Math.floor(at.getTime() / 1000))] : [];
  try {
    const { stdout, stderr } = await exec('openssl', ['verify', ...attime, '-CAfile', caFile, certFile]);
    return { ok: true, out: stdout + stderr };
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string };
    return { ok: false, out: `${e.stdout ?? ''}${e.stderr ?? ''}` };
  }
}

/** Serves `dir`'s pair on loopback and connects with Node's TLS client trusting only `caPem`. */
async function handshake(dir: string, caPem: string, servername: string | undefined): Promise<{ authorized: boolean; error?: string; serial?: string }> {
  const [key, cert] = await Promise.all([readFile(join(dir, 'tls.key')), readFile(join(dir, 'tls.crt'))]);
  const server = tls.createServer({ key, cert }, (s) => s.end());
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  try {
    return await new Promise((resolve) => {
      const socket = tls.connect({ host: '127.0.0.1', port, ca: caPem, ...(servername !== undefined ? { servername } : {}) });
      socket.once('secureConnect', () => {
        resolve({ authorized: socket.authorized, serial: socket.getPeerCertificate().serialNumber });
        socket.destroy();
      });
      socket.once('error', (err) => resolve({ authorized: false, error: err.message }));
    });
  } finally {
    await new Promise((r) => server.close(r));
  }
}

t.test('init creates a CA-signed serving certificate the apiserver would accept', async (t) => {
  const dir = await tempDir(t);
  const r = await ensureCerts({ dir });
  t.equal(r.created, true);
  t.equal(r.issued, 'ca-and-serving');
  for (const f of ['ca.crt', 'ca.key', 'tls.crt', 'tls.key']) t.ok((await stat(join(dir, f))).isFile(), `${f} written`);
  t.equal((await stat(join(dir, 'tls.key'))).mode & 0o777, 0o600, 'tls.key is 0600');
  t.equal((await stat(join(dir, 'ca.key'))).mode & 0o777, 0o600, 'ca.key is 0600');
  t.equal((await stat(join(dir, 'tls.crt'))).mode & 0o077, 0o044, 'tls.crt is world-readable');

  const v = await opensslVerify(join(dir, 'ca.crt'), join(dir, 'tls.crt'));
  t.ok(v.ok, `openssl verify: ${v.out.trim()}`);
  const leaf = new X509Certificate(await readFile(join(dir, 'tls.crt')));
  t.equal(leaf.subjectAltName, `DNS:${SVC}, DNS:${SVC}.cluster.local`, 'exactly the two service names');
  t.equal(leaf.ca, false);
  t.equal(leaf.publicKey.asymmetricKeyType, 'ec');
  t.equal(leaf.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1');
  const ca = new X509Certificate(await readFile(join(dir, 'ca.crt')));
  t.equal(ca.ca, true);
  t.ok(new Date(ca.validTo).getTime() > new Date(leaf.validTo).getTime(), 'the CA outlives the serving cert');

  const caPem = await readFile(join(dir, 'ca.crt'), 'utf8');
  for (const name of [SVC, `${SVC}.cluster.local`]) {
    const h = await handshake(dir, caPem, name);
    t.ok(h.authorized, `TLS client trusting only ca.crt accepts ${name}`);
    t.equal(h.serial, leaf.serialNumber);
  }
  const wrongName = await handshake(dir, caPem, 'other.tandem-system.svc');
  t.equal(wrongName.authorized, false, 'a name not in the SANs is refused');
  t.match(wrongName.error, /altnames|Hostname/);
  const local = await handshake(dir, caPem, undefined);
  t.equal(local.authorized, false, 'without --local, 127.0.0.1 is not a valid name');
});

t.test('a different CA does not validate the chain', async (t) => {
  const [a, b] = [await tempDir(t), await tempDir(t)];
  await ensureCerts({ dir: a });
  await ensureCerts({ dir: b });
  const v = await opensslVerify(join(b, 'ca.crt'), join(a, 'tls.crt'));
  t.equal(v.ok, false, 'openssl refuses the chain');
  const h = await handshake(a, await readFile(join(b, 'ca.crt'), 'utf8'), SVC);
  t.equal(h.authorized, false, 'Node TLS refuses the chain');
});

t.test('--local adds localhost and 127.0.0.1; --rsa gives RSA 2048; --service/--namespace set the names', async (t) => {
  const dir = await tempDir(t);
  await ensureCerts({ dir, local: true, algorithm: 'rsa-2048', service: 'hook', namespace: 'mesh' });
  const leaf = new X509Certificate(await readFile(join(dir, 'tls.crt')));
  t.equal(leaf.subjectAltName, 'DNS:hook.mesh.svc, DNS:hook.mesh.svc.cluster.local, DNS:localhost, IP Address:127.0.0.1');
  t.equal(leaf.publicKey.asymmetricKeyType, 'rsa');
  t.equal(leaf.publicKey.asymmetricKeyDetails?.modulusLength, 2048);
  t.ok((await opensslVerify(join(dir, 'ca.crt'), join(dir, 'tls.crt'))).ok);
  const caPem = await readFile(join(dir, 'ca.crt'), 'utf8');
  t.ok((await handshake(dir, caPem, undefined)).authorized, '127.0.0.1 by IP');
  t.ok((await handshake(dir, caPem, 'localhost')).authorized, 'localhost');
  t.ok((await handshake(dir, caPem, 'hook.mesh.svc')).authorized, 'service name');
});

t.test('idempotent: valid files are kept; --force renews everything', async (t) => {
  const dir = await tempDir(t);
  await ensureCerts({ dir, days: 30 });
  const before = await Promise.all(['ca.crt', 'ca.key', 'tls.crt', 'tls.key'].map((f) => readFile(join(dir, f), 'utf8')));
  const again = await ensureCerts({ dir, days: 30 });
  t.equal(again.created, false);
  t.equal(again.issued, 'none');
  const after = await Promise.all(['ca.crt', 'ca.key', 'tls.crt', 'tls.key'].map((f) => readFile(join(dir, f), 'utf8')));
  t.same(after, before, 'no file rewritten');

  const forced = await ensureCerts({ dir, days: 30, force: true });
  t.equal(forced.issued, 'ca-and-serving');
  const renewed = await Promise.all(['ca.crt', 'ca.key', 'tls.crt', 'tls.key'].map((f) => readFile(join(dir, f), 'utf8')));
  renewed.forEach((content, i) => t.not(content, before[i], `file ${i} replaced`));
  t.ok((await opensslVerify(join(dir, 'ca.crt'), join(dir, 'tls.crt'))).ok);
});

t.test('a serving cert due for renewal, or for other names, is re-issued by the same CA', async (t) => {
  const dir = await tempDir(t);
  const first = await ensureCerts({ dir, days: 30 });
  const caBefore = await readFile(join(dir, 'ca.crt'), 'utf8');
  // 2/3 of the lifetime, from the certificate itself (not from the code under test).
  const leaf = new X509Certificate(await readFile(join(dir, 'tls.crt')));
  const from = Date.parse(leaf.validFrom);
  const due = new Date(from + ((Date.parse(leaf.validTo) - from) * 2) / 3);
  const notYet = await ensureCerts({ dir, days: 30, now: new Date(due.getTime() - 60_000) });
  t.equal(notYet.issued, 'none', 'kept just before 2/3 of its lifetime');
  const later = new Date(due.getTime() + 60_000);
  const renewed = await ensureCerts({ dir, days: 30, now: later });
  t.equal(renewed.issued, 'serving');
  t.match(renewed.reason, /2\/3 of its lifetime/);
  t.equal(await readFile(join(dir, 'ca.crt'), 'utf8'), caBefore, 'CA unchanged, so the caBundle stays valid');
  t.not(renewed.serving.info.serialNumber, first.serving.info.serialNumber);
  t.ok((await opensslVerify(join(dir, 'ca.crt'), join(dir, 'tls.crt'), later)).ok, 'new cert chains to the old CA');

  const other = await ensureCerts({ dir, service: 'other', now: later });
  t.equal(other.issued, 'serving');
  t.match(other.reason, /no SAN for other\.tandem-system\.svc/);
  t.equal(await readFile(join(dir, 'ca.crt'), 'utf8'), caBefore);
});

t.test('a broken key pair or a missing CA key leads to re-issuing', async (t) => {
  const dir = await tempDir(t);
  await ensureCerts({ dir });
  const caBefore = await readFile(join(dir, 'ca.crt'), 'utf8');
  await writeFile(join(dir, 'tls.key'), (await createCa({ validity: validityFor(1) })).keyPem);
  const fixed = await ensureCerts({ dir });
  t.equal(fixed.issued, 'serving');
  t.match(fixed.reason, /tls\.key does not match/);
  t.equal(await readFile(join(dir, 'ca.crt'), 'utf8'), caBefore);

  await rm(join(dir, 'ca.key'));
  t.equal((await ensureCerts({ dir })).issued, 'none', 'a valid serving pair needs no CA key');
  await writeFile(join(dir, 'tls.crt'), 'garbage');
  const fresh = await ensureCerts({ dir });
  t.equal(fresh.issued, 'ca-and-serving', 'cannot re-sign without ca.key: new CA');
  t.match(fresh.reason, /ca\.key is missing/);
  t.ok((await opensslVerify(join(dir, 'ca.crt'), join(dir, 'tls.crt'))).ok);
});

t.test('ensureCerts refuses a non-positive lifetime', async (t) => {
  const dir = await tempDir(t);
  await t.rejects(ensureCerts({ dir, days: 0 }), UserError);
});

t.test('loadServingCert: clear errors and warnings', async (t) => {
  const ca = await createCa({ validity: validityFor(10) });
  const now = Date.now();

  t.test('expired certificate: refuses, names the file and the expiry', async (t) => {
    const dir = await tempDir(t);
    const notAfter = new Date(Math.floor((now - 2 * 86_400_000) / 1000) * 1000);
    const pair = await issueServingCert({ ca, dnsNames: [SVC], validity: { notBefore: new Date(now - 10 * 86_400_000), notAfter } });
    await writeFile(join(dir, 'tls.crt'), pair.certPem);
    await writeFile(join(dir, 'tls.key'), pair.keyPem);
    const err = await loadServingCert(dir).then(() => undefined, (e: unknown) => e);
    t.type(err, UserError);
    t.equal((err as Error).message.startsWith(`${join(dir, 'tls.crt')} expired at ${notAfter.toISOString()}`), true, (err as Error).message);
  });

  t.test('certificate not yet valid', async (t) => {
    const dir = await tempDir(t);
    const pair = await issueServingCert({ ca, dnsNames: [SVC], validity: { notBefore: new Date(now + 86_400_000), notAfter: new Date(now + 5 * 86_400_000) } });
    await writeFile(join(dir, 'tls.crt'), pair.certPem);
    await writeFile(join(dir, 'tls.key'), pair.keyPem);
    await t.rejects(loadServingCert(dir), { name: 'UserError', message: /tls\.crt is not valid before / });
  });

  t.test('key that does not belong to the certificate', async (t) => {
    const dir = await tempDir(t);
    const a = await issueServingCert({ ca, dnsNames: [SVC], validity: validityFor(1) });
    const b = await issueServingCert({ ca, dnsNames: [SVC], validity: validityFor(1) });
    await writeFile(join(dir, 'tls.crt'), a.certPem);
    await writeFile(join(dir, 'tls.key'), b.keyPem);
    await t.rejects(loadServingCert(dir), { name: 'UserError', message: `${join(dir, 'tls.key')} does not match the certificate in ${join(dir, 'tls.crt')}` + ` (serial ${new X509Certificate(a.certPem).serialNumber})` });
  });

  t.test('unreadable and unparseable files', async (t) => {
    const dir = await tempDir(t);
    await t.rejects(loadServingCert(dir), { name: 'UserError', message: `cannot read ${join(dir, 'tls.crt')} (ENOENT)` });
    const pair = await issueServingCert({ ca, dnsNames: [SVC], validity: validityFor(1) });
    await writeFile(join(dir, 'tls.crt'), pair.certPem);
    await t.rejects(loadServingCert(dir), { name: 'UserError', message: `cannot read ${join(dir, 'tls.key')} (ENOENT)` });
    await writeFile(join(dir, 'tls.key'), 'not a key');
    await t.rejects(loadServingCert(dir), { name: 'UserError', message: new RegExp(`^${join(dir, 'tls.key')}: cannot parse private key`) });
    await writeFile(join(dir, 'tls.crt'), 'not a cert');
    await t.rejects(loadServingCert(dir), { name: 'UserError', message: `${join(dir, 'tls.crt')}: no PEM certificate found` });
  });

  t.test('certificate without the service SAN: served, with a warning listing the SANs found', async (t) => {
    const dir = await tempDir(t);
    const pair = await issueServingCert({ ca, dnsNames: ['localhost', 'hook.example.com'], ips: ['127.0.0.1'], validity: validityFor(1) });
    await writeFile(join(dir, 'tls.crt'), pair.certPem);
    await writeFile(join(dir, 'tls.key'), pair.keyPem);
    await writeFile(join(dir, 'ca.crt'), ca.certPem);
    const cert = await loadServingCert(dir);
    t.same(cert.warnings, [`${join(dir, 'tls.crt')} has no SAN for ${SVC}; SANs found: DNS:localhost, DNS:hook.example.com, IP:127.0.0.1`]);
    t.same(cert.info.dnsNames, ['localhost', 'hook.example.com']);
    const named = await loadServingCert(dir, { service: 'hook', namespace: 'x' });
    t.equal(named.warnings.length, 1, 'still missing hook.x.svc');
  });

  t.test('certificate not signed by ca.crt: a warning', async (t) => {
    const dir = await tempDir(t);
    const pair = await issueServingCert({ ca, dnsNames: [SVC], validity: validityFor(1) });
    const other = await createCa({ validity: validityFor(10) });
    await writeFile(join(dir, 'tls.crt'), pair.certPem);
    await writeFile(join(dir, 'tls.key'), pair.keyPem);
    await writeFile(join(dir, 'ca.crt'), other.certPem);
    const cert = await loadServingCert(dir);
    t.equal(cert.warnings.length, 1);
    t.match(cert.warnings[0], /is not signed by the CA in .*ca\.crt/);
    await writeFile(join(dir, 'ca.crt'), ca.certPem);
    t.same((await loadServingCert(dir)).warnings, [], 'no warning with the right CA');
  });
});
