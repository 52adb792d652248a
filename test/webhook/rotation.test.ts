import t from 'tap';
import { mkdtemp, mkdir, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { X509Certificate } from 'node:crypto';
import https from 'node:https';
import { pino } from 'pino';
import { createCa, issueServingCert, validityFor, type PemPair } from '../../certs/x509.js';
import { loadInjector } from '../../inject/injector.js';
import { startWebhookServer } from '../../webhook/server.js';
import { call, review, SERVICE_DNS } from './helpers.js';

const require = createRequire(import.meta.url);
const fixturePod = require('./fixture-pod.json') as Record<string, unknown>;
const NAMES = [SERVICE_DNS, `${SERVICE_DNS}.cluster.local`];

/**
 * Lays files out as the kubelet does for a Secret volume: the data lives in a timestamped
 * directory, `..data` points at it, and each key is a symlink through `..data`.
 */
async function secretVolume(dir: string, files: Record<string, string>): Promise<void> {
  await writeVersion(dir, 'v0', files);
  await symlink('..v0', join(dir, '..data'));
  for (const name of Object.keys(files)) await symlink(join('..data', name), join(dir, name));
}

async function writeVersion(dir: string, version: string, files: Record<string, string>): Promise<void> {
  await mkdir(join(dir, `..${version}`));
  for (const [name, content] of Object.entries(files)) await writeFile(join(dir, `..${version}`, name), content, { mode: 0o600 });
}

/** The kubelet's update: write the new version, then atomically re-point `..data` and drop the old one. */
async function swapSecret(dir: string, from: string, to: string, files: Record<string, string>): Promise<void> {
  await writeVersion(dir, to, files);
  await symlink(`..${to}`, join(dir, '..data_tmp'));
  await rename(join(dir, '..data_tmp'), join(dir, '..data'));
  await rm(join(dir, `..${from}`), { recursive: true });
}

function serial(pair: PemPair): string {
  return new X509Certificate(pair.certPem).serialNumber;
}

async function until(cond: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

t.test('rotation under load: a Secret-style swap, zero failed admissions, new connections get the new cert', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'tandem-rotation-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const ca = await createCa({ validity: validityFor(30) });
  const first = await issueServingCert({ ca, dnsNames: NAMES, validity: validityFor(1) });
  const second = await issueServingCert({ ca, dnsNames: NAMES, validity: validityFor(1) });
  await secretVolume(dir, { 'tls.crt': first.certPem, 'tls.key': first.keyPem, 'ca.crt': ca.certPem });

  const logs: Record<string, unknown>[] = [];
  const server = await startWebhookServer({
    host: '127.0.0.1',
    port: 0,
    certDir: dir,
    injector: await loadInjector(),
    reloadDebounceMs: 50,
    reloadPollMs: 0,
    log: pino({ level: 'warn' }, { write: (l: string) => void logs.push(JSON.parse(l) as Record<string, unknown>) }),
  });
  t.teardown(() => server.close());

  const body = JSON.stringify(review(fixturePod));
  const keepAlive = new https.Agent({ keepAlive: true, maxSockets: 2 });
  t.teardown(() => keepAlive.destroy());
  let stop = false;
  let swapped = false;
  const failures: string[] = [];
  const fresh: { afterReload: boolean; serial: string }[] = [];
  const reused: { afterSwap: boolean; serial: string }[] = [];
  let reloaded = false;

  // Workers alternate between keep-alive connections (like the apiserver's pool) and a new
  // TLS handshake per request (what a new apiserver connection does after the swap).
  const worker = async (reuse: boolean): Promise<number> => {
    let n = 0;
    while (!stop && n < 2000) {
      const afterSwap = swapped;
      const afterReload = reloaded;
      try {
        const res = await call(server.url, '/inject', body, { ca: ca.certPem, agent: reuse ? keepAlive : false });
        const patchType = (res.json as { response?: { patchType?: string } } | undefined)?.response?.patchType;
        if (res.status !== 200 || patchType !== 'JSONPatch') failures.push(`HTTP ${res.status} ${res.body.slice(0, 200)}`);
        if (reuse) reused.push({ afterSwap, serial: res.peerSerial });
        else fresh.push({ afterReload, serial: res.peerSerial });
      } catch (err) {
        failures.push((err as Error).message);
      }
      n++;
    }
    return n;
  };
  const workers = [true, true, false, false, false, false].map((reuse) => worker(reuse));

  await until(() => fresh.length >= 20 && reused.length >= 20, 'load to build up');
  swapped = true;
  await swapSecret(dir, 'v0', 'v1', { 'tls.crt': second.certPem, 'tls.key': second.keyPem, 'ca.crt': ca.certPem });
  await until(() => server.certs.current().info.serialNumber === serial(second), 'the reload');
  reloaded = true;
  const freshBefore = fresh.length;
  await until(() => fresh.length >= freshBefore + 30, 'admissions after the reload');
  stop = true;
  const counts = await Promise.all(workers);

  t.same(failures, [], 'zero failed admissions');
  t.ok(counts.reduce((a, b) => a + b, 0) >= 100, `load was sent (${counts.join('+')} requests)`);
  t.ok(fresh.some((f) => !f.afterReload && f.serial === serial(first)), 'the old certificate was served before the swap');
  const afterReload = fresh.filter((f) => f.afterReload);
  t.ok(afterReload.length >= 30);
  t.same([...new Set(afterReload.map((f) => f.serial))], [serial(second)], 'every new connection after the reload got the new certificate');
  t.ok(reused.some((r) => r.afterSwap && r.serial === serial(first)), 'connections opened before the swap kept working');

  // A broken update (key of another certificate) must not replace the working pair.
  const bad = await issueServingCert({ ca, dnsNames: NAMES, validity: validityFor(1) });
  await swapSecret(dir, 'v1', 'v2', { 'tls.crt': second.certPem, 'tls.key': bad.keyPem, 'ca.crt': ca.certPem });
  await until(() => logs.some((l) => typeof l.msg === 'string' && l.msg.startsWith('certificate change ignored')), 'the rejection log line');
  const rejected = logs.find((l) => typeof l.msg === 'string' && l.msg.startsWith('certificate change ignored'));
  t.match(rejected, { level: 40, reason: /tls\.key does not match the certificate in .*tls\.crt/ });
  const still = await call(server.url, '/inject', body, { ca: ca.certPem });
  t.equal(still.status, 200);
  t.equal(still.peerSerial, serial(second), 'still serving the last good certificate');

  // The next good update is picked up again.
  const third = await issueServingCert({ ca, dnsNames: NAMES, validity: validityFor(1) });
  await swapSecret(dir, 'v2', 'v3', { 'tls.crt': third.certPem, 'tls.key': third.keyPem, 'ca.crt': ca.certPem });
  await until(() => server.certs.current().info.serialNumber === serial(third), 'the third certificate');
  t.equal((await call(server.url, '/healthz', undefined, { ca: ca.certPem })).peerSerial, serial(third));
});

t.test('files replaced by rename (ensureCerts --force) are picked up too', async (t) => {
  const { ensureCerts } = await import('../../certs/ensure.js');
  const dir = await mkdtemp(join(tmpdir(), 'tandem-rotation-rename-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const r1 = await ensureCerts({ dir });
  const server = await startWebhookServer({ host: '127.0.0.1', port: 0, certDir: dir, injector: await loadInjector(), reloadDebounceMs: 50, reloadPollMs: 0 });
  t.teardown(() => server.close());
  t.equal((await call(server.url, '/healthz', undefined, { ca: r1.caPem })).peerSerial, r1.serving.info.serialNumber);
  const r2 = await ensureCerts({ dir, force: true });
  await until(() => server.certs.current().info.serialNumber === r2.serving.info.serialNumber, 'the reload');
  const res = await call(server.url, '/healthz', undefined, { ca: r2.caPem });
  t.equal(res.status, 200);
  t.equal(res.peerSerial, r2.serving.info.serialNumber, 'new CA and certificate served');
});
