#!/usr/bin/env node
// Benchmark: tandem's POST /inject against a bare Fastify HTTPS route that returns a canned
// patch for the same AdmissionReview, each server in its own child process, driven one after
// the other by autocannon from this process. Run after `npx tsc -p .` (it loads dist/).
//
//   node bench/webhook.mjs [--connections 8] [--duration 10] [--warmup 3]
//
// Prints admissions/s and p99 latency for both and the ratio tandem/baseline.
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { openSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const root = new URL('../', import.meta.url);
const dist = new URL('dist/', root);

const { values: args } = parseArgs({
  options: {
    child: { type: 'string' },
    'cert-dir': { type: 'string' },
    canned: { type: 'string' },
    connections: { type: 'string', default: '8' },
    duration: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '3' },
  },
});

async function payload() {
  const pod = JSON.parse(await readFile(new URL('test/webhook/server-fixture-pod.json', root), 'utf8'));
  delete pod.metadata.namespace; // as the apiserver sends a ReplicaSet's pod
  return JSON.stringify({
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: '705ab4f5-6393-11e8-b7cc-42010a800002',
      kind: { group: '', version: 'v1', kind: 'Pod' },
      resource: { group: '', version: 'v1', resource: 'pods' },
      namespace: 'bookinfo',
      operation: 'CREATE',
      userInfo: { username: 'system:serviceaccount:kube-system:replicaset-controller' },
      object: pod,
      oldObject: null,
      dryRun: false,
    },
  });
}

// ---- child processes -------------------------------------------------------------------
async function runTandem(certDir) {
  const { startWebhookServer } = await import(new URL('webhook/server.js', dist).href);
  const { loadInjector } = await import(new URL('webhook/injector.js', dist).href);
  // Logging stays on (one JSON line per admission, to stderr) because production pays for it.
  const server = await startWebhookServer({ host: '127.0.0.1', port: 0, certDir, injector: await loadInjector(), reloadPollMs: 0 });
  process.stdout.write(`READY ${server.port}\n`);
}

async function runBaseline(certDir, cannedFile) {
  const { default: Fastify } = await import('fastify');
  const [key, cert, canned] = await Promise.all([
    readFile(join(certDir, 'tls.key')), readFile(join(certDir, 'tls.crt')), readFile(cannedFile, 'utf8'),
  ]);
  const patch = JSON.parse(canned).response.patch;
  const app = Fastify({ https: { key, cert }, logger: false });
  app.post('/inject', async (request) => ({
    apiVersion: request.body.apiVersion,
    kind: 'AdmissionReview',
    response: { uid: request.body.request.uid, allowed: true, patchType: 'JSONPatch', patch },
  }));
  await app.listen({ host: '127.0.0.1', port: 0 });
  process.stdout.write(`READY ${app.server.address().port}\n`);
}

// ---- parent ---------------------------------------------------------------------------
function startChild(kind, extra) {
  // e.g. TANDEM_BENCH_NODE_ARGS='--cpu-prof --cpu-prof-dir=/tmp/prof' to profile both servers
  const nodeArgs = (process.env.TANDEM_BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const child = spawn(process.execPath, [...nodeArgs, new URL(import.meta.url).pathname, '--child', kind, ...extra], {
    stdio: ['ignore', 'pipe', openSync('/dev/null', 'w'), 'ipc'],
  });
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      const m = /READY (\d+)/.exec(out);
      if (m) resolve({ child, port: Number(m[1]) });
    });
    child.once('exit', (code) => reject(new Error(`${kind} server exited with ${code} before it was ready`)));
  });
}

function cpuOf(child) {
  return new Promise((resolve) => {
    child.once('message', (u) => resolve((u.user + u.system) / 1000));
    child.send('cpu');
  });
}

async function fire(autocannon, server, body, duration, connections) {
  const { port, child } = server;
  const cpuBefore = await cpuOf(child);
  const result = await autocannon({
    url: `https://127.0.0.1:${port}/inject`,
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body,
    connections,
    duration,
    servername: 'tandem-webhook.tandem-system.svc',
  });
  const cpuMs = (await cpuOf(child)) - cpuBefore;
  return {
    cpuUsPerAdmission: Math.round((cpuMs * 1000) / Math.max(1, result['2xx'])),
    rps: result.requests.average,
    p99: result.latency.p99,
    p50: result.latency.p50,
    ok: result['2xx'],
    errors: result.errors + result.timeouts + result.non2xx,
  };
}

async function main() {
  const connections = Number(args.connections);
  const duration = Number(args.duration);
  const warmup = Number(args.warmup);
  const { ensureCerts } = await import(new URL('certs/ensure.js', dist).href);
  const { default: autocannon } = await import('autocannon');
  const dir = await mkdtemp(join(tmpdir(), 'tandem-bench-'));
  const children = [];
  try {
    await ensureCerts({ dir });
    const body = await payload();

    const tandem = await startChild('tandem', ['--cert-dir', dir]);
    children.push(tandem.child);
    // One real answer from tandem becomes the baseline's canned patch (same bytes on the wire).
    const https = await import('node:https');
    const canned = await new Promise((resolve, reject) => {
      const req = https.request({ host: '127.0.0.1', port: tandem.port, path: '/inject', method: 'POST', rejectUnauthorized: false, headers: { 'content-type': 'application/json' } }, (res) => {
        let d = '';
        res.on('data', (c) => (d += c));
        res.on('end', () => resolve(d));
      });
      req.on('error', reject);
      req.end(body);
    });
    if (!JSON.parse(canned).response?.patch) throw new Error(`tandem did not inject the benchmark pod: ${canned.slice(0, 300)}`);
    const { writeFile } = await import('node:fs/promises');
    const cannedFile = join(dir, 'canned.json');
    await writeFile(cannedFile, canned);
    const baseline = await startChild('baseline', ['--cert-dir', dir, '--canned', cannedFile]);
    children.push(baseline.child);

    await fire(autocannon, baseline, body, warmup, connections);
    await fire(autocannon, tandem, body, warmup, connections);
    const b = await fire(autocannon, baseline, body, duration, connections);
    const t = await fire(autocannon, tandem, body, duration, connections);

    const fmt = (name, r) => `${name.padEnd(22)} ${r.rps.toFixed(0).padStart(7)} admissions/s   p50 ${String(r.p50).padStart(3)} ms   p99 ${String(r.p99).padStart(3)} ms   server CPU ${String(r.cpuUsPerAdmission).padStart(4)} us/admission   errors ${r.errors}`;
    console.log(`webhook benchmark: ${connections} connections, ${duration}s each, payload ${body.length} bytes, patch ${JSON.parse(canned).response.patch.length} bytes base64`);
    console.log(fmt('baseline (canned)', b));
    console.log(fmt('tandem /inject', t));
    const ratio = t.rps / b.rps;
    console.log(`ratio tandem/baseline ${ratio.toFixed(2)} (target >= 0.8)   tandem p99 ${t.p99} ms (target <= 5 ms)   CPU per admission tandem/baseline ${(t.cpuUsPerAdmission / b.cpuUsPerAdmission).toFixed(2)}`);
    console.log(JSON.stringify({ connections, duration, baseline: b, tandem: t, ratio: Number(ratio.toFixed(3)) }));
  } finally {
    for (const c of children) c.kill('SIGTERM');
    await rm(dir, { recursive: true, force: true });
  }
}

// CPU time is less sensitive than throughput to other load on a shared 2-core machine.
if (args.child) process.on('message', (m) => { if (m === 'cpu') process.send?.(process.cpuUsage()); });
// process.exit lets --cpu-prof write its profile when the parent stops a child.
if (args.child) process.once('SIGTERM', () => process.exit(0));
if (args.child === 'tandem') await runTandem(args['cert-dir']);
else if (args.child === 'baseline') await runBaseline(args['cert-dir'], args.canned);
else await main();
