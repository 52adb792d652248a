import t from 'tap';
import { createPrivateKey, createPublicKey, X509Certificate } from 'node:crypto';
import { lstat, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runTandemInProcess } from '../tandem-cli.js';
import { readWorkloadFiles } from '../../ca/workload-files.js';
import { opensslVerify } from './helpers.js';

const run = runTandemInProcess;

const spki = (k: ReturnType<typeof createPublicKey>): string => k.export({ type: 'spki', format: 'der' }).toString('hex');

t.test('tandem ca init / check / issue', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'tandem-ca-cli-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const ca = join(dir, 'ca');

  const init = await run(['ca', 'init', '--dir', ca, '-o', 'json']);
  t.equal(init.code, 0, init.stderr);
  for (const f of ['ca-cert.pem', 'cert-chain.pem', 'root-cert.pem']) t.ok((await stat(join(ca, f))).isFile(), f);
  t.equal((await stat(join(ca, 'ca-key.pem'))).mode & 0o777, 0o600, 'the CA key is 0600');
  const firstSerial = (JSON.parse(init.stdout) as { serial: string }).serial;
  const again = await run(['ca', 'init', '--dir', ca, '-o', 'json']);
  t.not((JSON.parse(again.stdout) as { serial: string }).serial, firstSerial, 'a fresh root each time');
  const root = await readFile(join(ca, 'root-cert.pem'), 'utf8');

  const check = await run(['ca', 'check', '--dir', ca]);
  t.equal(check.code, 0);
  t.match(check.stdout, /^ok: self-signed root, serial [0-9A-F]+, valid until 20/);

  const out = join(dir, 'w');
  const issue = await run(['ca', 'issue', '--dir', ca, '--namespace', 'demo', '--service-account', 'echo', '--ttl', '2h', '--out', out, '-o', 'json']);
  t.equal(issue.code, 0, issue.stderr);
  t.equal((JSON.parse(issue.stdout) as { spiffeId: string }).spiffeId, 'spiffe://cluster.local/ns/demo/sa/echo');
  const chainPem = await readFile(join(out, 'cert-chain.pem'), 'utf8');
  const keyPem = await readFile(join(out, 'key.pem'), 'utf8');
  t.equal(await readFile(join(out, 'root-cert.pem'), 'utf8'), root);
  t.equal((await stat(join(out, 'key.pem'))).mode & 0o777, 0o600, 'key.pem is 0600');
  t.ok((await lstat(join(out, 'key.pem'))).isSymbolicLink(), 'names go through ..data');
  const leaf = new X509Certificate(chainPem);
  t.equal(leaf.subjectAltName, 'URI:spiffe://cluster.local/ns/demo/sa/echo');
  t.equal(Date.parse(leaf.validTo) - Date.parse(leaf.validFrom), 2 * 3_600_000, '--ttl 2h');
  t.equal(spki(createPublicKey(createPrivateKey(keyPem))), spki(leaf.publicKey), 'key.pem belongs to the leaf');
  const v = await opensslVerify(root, [chainPem]);
  t.ok(v.ok, v.output);

  const td = await run(['ca', 'issue', '--dir', ca, '--namespace', 'demo', '--service-account', 'echo', '--trust-domain', 'example.org', '--out', out, '-o', 'json']);
  t.equal((JSON.parse(td.stdout) as { spiffeId: string }).spiffeId, 'spiffe://example.org/ns/demo/sa/echo');

  const badNs = await run(['ca', 'issue', '--dir', ca, '--namespace', 'Demo!', '--service-account', 'echo', '--out', out]);
  t.equal(badNs.code, 1);
  t.equal(badNs.stderr, 'tandem: cannot issue: namespace "Demo!" is not a DNS-1123 label\n');
  const badTtl = await run(['ca', 'issue', '--dir', ca, '--namespace', 'demo', '--service-account', 'echo', '--ttl', '1 day', '--out', out]);
  t.equal(badTtl.code, 1);
  t.match(badTtl.stderr, /--ttl.*expected a duration such as 24h/);
  const missing = await run(['ca', 'check', '--dir', join(dir, 'absent')]);
  t.equal(missing.code, 1);
  t.equal(missing.stderr, `tandem: cannot read ${join(dir, 'absent', 'ca-cert.pem')} (ENOENT)\n`);
  await writeFile(join(ca, 'cert-chain.pem'), 'junk');
  const broken = await run(['ca', 'check', '--dir', ca]);
  t.equal(broken.code, 1);
  t.equal(broken.stderr, `tandem: ${join(ca, 'cert-chain.pem')}: no PEM certificate found\n`);
});

t.test('re-issuing into the same directory never shows a reader a key and a chain that do not match', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'tandem-ca-atomic-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const ca = join(dir, 'ca');
  t.equal((await run(['ca', 'init', '--dir', ca])).code, 0);
  const out = join(dir, 'w');
  t.equal((await run(['ca', 'issue', '--dir', ca, '--namespace', 'demo', '--service-account', 'echo', '--out', out])).code, 0);

  let stop = false;
  let reads = 0;
  const serials = new Set<string>();
  const mismatches: string[] = [];
  const reader = (async () => {
    while (!stop) {
      const f = await readWorkloadFiles(out);
      const leaf = new X509Certificate(f.chainPem);
      serials.add(leaf.serialNumber);
      if (spki(createPublicKey(createPrivateKey(f.keyPem))) !== spki(leaf.publicKey)) mismatches.push(leaf.serialNumber);
      reads++;
      await new Promise((r) => setImmediate(r));
    }
  })();
  for (let i = 0; i < 20; i++) t.equal((await run(['ca', 'issue', '--dir', ca, '--namespace', 'demo', '--service-account', 'echo', '--out', out])).code, 0);
  stop = true;
  await reader;
  t.same(mismatches, [], `no mismatched pair in ${reads} reads`);
  t.ok(serials.size > 1, `the reader saw re-issues happen (${serials.size} serials)`);
});
