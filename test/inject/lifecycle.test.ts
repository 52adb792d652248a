import { spawn } from 'node:child_process';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import { drainScript, proxyLifecycle, waitReadyScript } from '../../inject/lifecycle.js';

/**
 * The proxy's hooks run for real under bash against real HTTP servers on
 * 127.0.0.1 (the stock Envoy image has bash but no curl or wget).
 */

function bash(script: string): Promise<{ code: number | null; stderr: string; ms: number }> {
  const started = process.hrtime.bigint();
  return new Promise((resolve, reject) => {
    const p = spawn('bash', ['-c', script], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    p.on('error', reject);
    p.on('close', (code) => resolve({ code, stderr, ms: Number(process.hrtime.bigint() - started) / 1e6 }));
  });
}

async function serve(handler: (req: IncomingMessage) => number): Promise<{ server: Server; port: number; seen: string[] }> {
  const seen: string[] = [];
  const server = createServer((req, res) => {
    seen.push(`${req.method} ${req.url} ${req.httpVersion} host=${req.headers.host ?? ''}`);
    res.statusCode = handler(req);
    res.end('x');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, port: (server.address() as AddressInfo).port, seen };
}

const close = (s: Server) => new Promise<void>((r) => s.close(() => r()));

t.test('postStart wait: returns once /healthz/ready answers 200, over HTTP/1.1', async (t) => {
  let calls = 0;
  const { server, port, seen } = await serve(() => (++calls < 3 ? 503 : 200));
  t.teardown(() => close(server));
  const r = await bash(waitReadyScript(port, '/healthz/ready', 10));
  t.equal(r.code, 0, 'exit 0');
  t.equal(calls, 3, 'polled until ready');
  t.same(seen[0], 'GET /healthz/ready 1.1 host=127.0.0.1', 'HTTP/1.1 with a Host header (Envoy refuses HTTP/1.0)');
});

t.test('postStart wait: fails after its timeout when never ready, or nothing listens', async (t) => {
  const { server, port } = await serve(() => 503);
  t.teardown(() => close(server));
  const r = await bash(waitReadyScript(port, '/healthz/ready', 2));
  t.equal(r.code, 1);
  t.match(r.stderr, new RegExp(`proxy not ready on :${port}/healthz/ready after 2s`));
  // A port nobody listens on: connection refused is a failed attempt, not a crash of the script.
  const probe = await serve(() => 200);
  const freePort = probe.port;
  await close(probe.server);
  const refused = await bash(waitReadyScript(freePort, '/healthz/ready', 1));
  t.equal(refused.code, 1);
  t.match(refused.stderr, /proxy not ready/);
  t.notMatch(refused.stderr, /Connection refused/, 'bash noise silenced');
});

t.test('preStop: asks the admin port to drain inbound listeners, then waits the drain duration', async (t) => {
  const { server, port, seen } = await serve(() => 200);
  t.teardown(() => close(server));
  const r = await bash(drainScript(1, port));
  t.equal(r.code, 0);
  t.same(seen, ['POST /drain_listeners?inboundonly&graceful 1.1 host=127.0.0.1']);
  t.ok(r.ms >= 900, `kept the container alive for the drain (${Math.round(r.ms)} ms)`);
  // With the admin port gone the wait still happens (Envoy may already be exiting).
  const gone = await serve(() => 200);
  await close(gone.server);
  const r2 = await bash(drainScript(1, gone.port));
  t.equal(r2.code, 0);
  t.equal(r2.stderr, '');
});

t.test('proxyLifecycle: which hooks, for which settings', async (t) => {
  t.same(proxyLifecycle({ hold: false, drainSeconds: 0 }), undefined);
  t.same(proxyLifecycle({ hold: false, drainSeconds: 5 }), { preStop: { exec: { command: ['bash', '-c', drainScript(5)] } } });
  t.same(proxyLifecycle({ hold: true, drainSeconds: 0 }), { postStart: { exec: { command: ['bash', '-c', waitReadyScript()] } } });
  // The defaults are the proxy's own ports: readiness on 15021, admin on 15000.
  t.match(waitReadyScript(), /\/dev\/tcp\/127\.0\.0\.1\/15021/);
  t.match(waitReadyScript(), /for _ in \{1\.\.60\}/);
  t.match(drainScript(5), /\/dev\/tcp\/127\.0\.0\.1\/15000/);
  t.match(drainScript(5), /\nsleep 5$/);
});
