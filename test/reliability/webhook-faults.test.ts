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
 * admissions stream in, and SIGTERM under load with --drain-delay. (`tandem serve`'s SIGTERM
 * drain is covered in test/cli/serve.test.ts; this covers the standalone webhook and
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

t.test('tandem webhook --drain-delay: SIGTERM under load, no admission fails, kept-alive clients are told to reconnect', async (t) => {
  // As `tandem serve --drain-delay` (test/cli/serve.test.ts): readiness turns false at once, the
  // webhook keeps serving for the delay, then closes. The load does what the endpoints controller
  // does: it keeps sending until it sees /readyz fail, plus the lag the drain delay exists to cover.
  const hook = await startWebhook(t, ['--drain-delay', '1500']);
  const keepAlive = new Agent({ keepAlive: true, maxSockets: 2 });
  t.teardown(() => keepAlive.destroy());
  let routable = true;
  let signalled = false;
  let notReadyAt = 0;
  const watcher = (async () => {
    while (routable) {
      const r = await httpGet(hook.monitoring, '/readyz').catch(() => ({ status: 0, body: 'closed' }));
      if (r.status !== 200 && signalled) {
        notReadyAt = Date.now();
        await sleep(300);
        routable = false;
      } else await sleep(20);
    }
  })();
  let afterSignal = 0;
  let closeHeaders = 0;
  const outcome: Outcome = { ok: 0, failures: [] };
  const worker = async (w: number, reuse: boolean): Promise<void> => {
    for (let i = 0; routable && i < 5000; i++) {
      const uid = `term-${w}-${i}`;
      try {
        const r = await post(hook.port, hook.ca, distinctReview(uid), { agent: reuse ? keepAlive : false });
        if (r.status === 200 && answered(r.body, uid)) {
          outcome.ok++;
          if (signalled) afterSignal++;
          if (signalled && reuse && r.headers['connection'] === 'close') closeHeaders++;
        } else outcome.failures.push(`${uid}: HTTP ${r.status} ${r.body.slice(0, 120)}`);
      } catch (err) {
        outcome.failures.push(`${uid}: ${(err as NodeJS.ErrnoException).code ?? ''} ${(err as Error).message}`);
        return;
      }
    }
  };
  const workers = [[0, false], [1, false], [2, true], [3, true]].map(([w, reuse]) => worker(w as number, reuse as boolean));
  while (outcome.ok < 40) await sleep(10);
  const signalAt = Date.now();
  signalled = true;
  hook.child.kill('SIGTERM');
  await Promise.all(workers);
  await watcher;
  const code = await hook.exit;
  const exitedAt = Date.now();
  t.comment(`${outcome.ok} admissions answered, ${afterSignal} after the signal; readiness false after ${notReadyAt - signalAt} ms, exit after ${exitedAt - signalAt} ms`);
  t.same(outcome.failures, [], 'no admission failed');
  t.ok(afterSignal > 0, 'admissions kept arriving after the signal and were answered');
  t.ok(notReadyAt > 0, 'readiness turned false');
  t.ok(closeHeaders > 0, `answers on kept-alive connections during the drain carry Connection: close (${closeHeaders})`);
  // The drain delay is a lower bound on the time to exit: the process kept serving for it.
  t.ok(exitedAt - signalAt >= 1500, `the process served through the drain delay before exiting (${exitedAt - signalAt} ms)`);
  t.equal(code, 0, 'exits 0');
  t.match(hook.stderr(), /SIGTERM, draining/);
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
    { what: 'control-plane', args: ['control-plane', '--host', '127.0.0.1', '--port', '0'], message: /cannot list Services, EndpointSlices and Pods from https:\/\/127\.0\.0\.1:\d+: .*ECONNREFUSED/ },
    { what: 'serve (secret mode)', args: ['serve', '--state-dir', join(dir, 's1'), '--webhook-port', '0', '--xds-port', '0', '--secure-port', '0', '--monitoring-port', '0'], message: /webhook certificates \(secret mode\): cannot sync the Secret through https:\/\/127\.0\.0\.1:\d+: .*ECONNREFUSED/ },
    // (`serve --cert-mode local --registry kubernetes` keeps serving instead: apiserver-late.test.ts)
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
