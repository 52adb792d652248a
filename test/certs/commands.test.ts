import t from 'tap';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import { runTandemInProcess } from '../tandem-cli.js';

const run = runTandemInProcess;

t.test('tandem certs init / check', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'tandem-certs-cli-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));

  const first = await run(['certs', 'init', '--dir', dir, '--days', '10', '--local', '-o', 'json']);
  t.equal(first.code, 0, first.stderr);
  const r1 = JSON.parse(first.stdout) as { created: boolean; issued: string; dnsNames: string[]; ips: string[]; serial: string; notAfter: string };
  t.equal(r1.created, true);
  t.same(r1.dnsNames, ['tandem-webhook.tandem-system.svc', 'tandem-webhook.tandem-system.svc.cluster.local', 'localhost']);
  t.same(r1.ips, ['127.0.0.1']);
  const leaf = new X509Certificate(await readFile(join(dir, 'tls.crt')));
  t.equal(r1.serial, leaf.serialNumber);
  const lifetimeDays = (new Date(leaf.validTo).getTime() - new Date(leaf.validFrom).getTime()) / 86_400_000;
  t.ok(lifetimeDays > 10 && lifetimeDays < 10.01, `--days 10 honoured (${lifetimeDays})`);
  t.equal((await stat(join(dir, 'tls.key'))).mode & 0o777, 0o600);

  const second = await run(['certs', 'init', '--dir', dir, '--days', '10', '--local']);
  t.equal(second.code, 0);
  t.match(second.stdout, /^kept the existing certificates in /);

  const forced = await run(['certs', 'init', '--dir', dir, '--force', '--rsa']);
  t.equal(forced.code, 0);
  t.match(forced.stdout, /^created a CA and a serving certificate in .* \(renewal forced\)/);
  t.equal(new X509Certificate(await readFile(join(dir, 'tls.crt'))).publicKey.asymmetricKeyType, 'rsa');

  const check = await run(['certs', 'check', '--dir', dir]);
  t.equal(check.code, 0);
  t.match(check.stdout, /^ok: serial [0-9A-F]+, valid until /);

  const wrongSvc = await run(['certs', 'check', '--dir', dir, '--service', 'nope']);
  t.equal(wrongSvc.code, 0, 'a missing SAN only warns');
  t.match(wrongSvc.stderr, /warning: .*has no SAN for nope\.tandem-system\.svc; SANs found: DNS:tandem-webhook/);

  const missing = await run(['certs', 'check', '--dir', join(dir, 'absent')]);
  t.equal(missing.code, 1);
  t.equal(missing.stderr, `tandem: cannot read ${join(dir, 'absent', 'tls.crt')} (ENOENT)\n`);

  const badDays = await run(['certs', 'init', '--dir', dir, '--days', '0']);
  t.equal(badDays.code, 1);
  t.match(badDays.stderr, /--days.*positive whole number/);
});
