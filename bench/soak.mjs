#!/usr/bin/env node
// Soak: the real `tandem webhook` and `tandem serve` processes under steady load for a while,
// watching errors, latency and memory. Run after `npx tsc -p .` (bin/tandem loads dist/).
//
//   node bench/soak.mjs [--part webhook|xds|both] [--rate 1000] [--duration 60] [--warmup 10]
//                       [--streams 500] [--per-channel 1] [--connections 32]
//
// webhook: a fixed rate of admissions (open loop: sent on schedule whether or not earlier ones
//   were answered, so a slow server shows as latency, not as a lower rate), every one a distinct
//   pod (its own uid, name and a label), over kept-alive HTTPS connections as the apiserver uses.
//   Prints errors, p50/p99/max (after warm-up), achieved rate, and RSS at start, after warm-up
//   and at the end with the server's own memory breakdown from its /metrics (prom-client's
//   nodejs_* and process_* series: V8 heap used/total per space, external, array buffers).
// xds: `--streams` ADS streams that each connect, subscribe to CDS and EDS, read the first
//   answers, stay 0.2-2 s and reconnect, in a loop, while the registry file's endpoints change
//   every second. Prints the streams opened, responses read, errors, the server's own count of
//   connected streams once every client has gone (tandem_xds_connected_streams: anything but 0
//   is a leaked stream), and RSS with the same breakdown.
// Latency here is measured from this process, which shares the 2 cores with the server: read
// the figures as a whole-system number, and compare runs made in the same conditions.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { Agent, request as httpsRequest } from 'node:https';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../', import.meta.url));
const BIN = join(root, 'bin', 'tandem');
const { values: args } = parseArgs({
  options: {
    part: { type: 'string', default: 'both' },
    rate: { type: 'string', default: '1000' },
    duration: { type: 'string', default: '60' },
    warmup: { type: 'string', default: '10' },
    streams: { type: 'string', default: '500' },
    connections: { type: 'string', default: '32' },
    'per-channel': { type: 'string', default: '1' },
  },
});
const RATE = Number(args.rate);
const DURATION = Number(args.duration);
const WARMUP = Number(args.warmup);
const STREAMS = Number(args.streams);
const CONNECTIONS = Number(args.connections);
const PER_CHANNEL = Math.max(1, Number(args['per-channel']) || 1);
for (const [k, v] of Object.entries({ rate: RATE, duration: DURATION, warmup: WARMUP, streams: STREAMS, connections: CONNECTIONS })) {
  if (!Number.isFinite(v) || v < 0) {
    console.error(`soak: --${k} must be a non-negative number`);
    process.exit(1);
  }
}
if (!['webhook', 'xds', 'both'].includes(args.part)) {
  console.error('soak: --part must be webhook, xds or both');
  process.exit(1);
}

let stoppingServer = false;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function rssMiB(pid) {
  const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

function get(port, path) {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      let text = '';
      res.on('data', (d) => (text += d));
      res.on('end', () => resolve(text));
    });
    req.on('error', reject);
    req.end();
  });
}

function series(text, re) {
  const line = text.split('\n').find((l) => re.test(l));
  return line === undefined ? NaN : Number(line.slice(line.lastIndexOf(' ') + 1));
}

const MiB = (b) => (b / 1024 / 1024).toFixed(1);

/** The server's own memory breakdown, from prom-client's default metrics. */
async function memory(pid, monitoringPort) {
  const m = await get(monitoringPort, '/metrics');
  const space = (s) => series(m, new RegExp(`^nodejs_heap_space_size_used_bytes\\{space="${s}"\\}`));
  return {
    rss: rssMiB(pid),
    heapUsed: series(m, /^nodejs_heap_size_used_bytes /),
    heapTotal: series(m, /^nodejs_heap_size_total_bytes /),
    external: series(m, /^nodejs_external_memory_bytes /),
    spaces: { new: space('new'), old: space('old'), code: space('code'), large: space('large_object') },
    handles: series(m, /^nodejs_active_handles_total /),
  };
}

function show(label, mem) {
  return `${label.padEnd(12)} RSS ${mem.rss.toFixed(1)} MiB | V8 heap used ${MiB(mem.heapUsed)} of ${MiB(mem.heapTotal)} MiB (old ${MiB(mem.spaces.old)}, new ${MiB(mem.spaces.new)}, code ${MiB(mem.spaces.code)}, large ${MiB(mem.spaces.large)}) | external ${MiB(mem.external)} MiB | handles ${mem.handles}`;
}

/**
 * Memory after a full garbage collection: V8 collects before it writes a heap snapshot, which the
 * server writes on SIGWINCH (--heapsnapshot-signal, set in startProcess; SIGUSR2 would stop it: close-with-grace drains on it). Without this, "heap used"
 * includes garbage no collection has reclaimed yet, and an idle process never collects.
 */
async function afterFullGc(pid, monitoringPort, dir) {
  const { readdirSync, statSync } = await import('node:fs');
  const snapshots = () => readdirSync(dir).filter((f) => f.endsWith('.heapsnapshot'));
  const before = snapshots().length;
  process.kill(pid, 'SIGWINCH');
  let size = -1;
  for (let i = 0; i < 600; i++) {
    await sleep(100);
    const files = snapshots();
    if (files.length > before) {
      const now = statSync(join(dir, files.at(-1))).size;
      if (now > 0 && now === size) break;
      size = now;
    }
  }
  return { ...(await memory(pid, monitoringPort)), snapshotMiB: size / 1024 / 1024 };
}

function startProcess(argv, env, pattern) {
  const diag = env.HOME;
  const child = spawn(process.execPath, [BIN, ...argv], { cwd: root, env: { ...env, NODE_OPTIONS: `--heapsnapshot-signal=SIGWINCH --diagnostic-dir=${diag}` } });
  let out = '';
  // the server's log is drained so the pipe never blocks it; warnings and errors are kept
  const onData = (d) => {
    if (out.length < 1e6) out += d;
  };
  const problems = { count: 0, first: [] };
  let partial = '';
  const scan = (d) => {
    const lines = (partial + d).split('\n');
    partial = lines.pop() ?? '';
    for (const l of lines) {
      if (!/"level":(40|50|60)/.test(l)) continue;
      problems.count++;
      if (problems.first.length < 3) problems.first.push(l.slice(0, 300));
    }
  };
  child.stderr.on('data', onData);
  child.stdout.on('data', onData);
  return new Promise((resolve, reject) => {
    const deadline = Date.now() + 30_000;
    const poll = setInterval(() => {
      const m = pattern.exec(out);
      if (m) {
        clearInterval(poll);
        out = '';
        child.stderr.off('data', onData);
        child.stdout.off('data', onData);
        child.stderr.on('data', scan);
        child.stdout.resume();
        resolve({ child, m, problems });
      } else if (child.exitCode !== null || Date.now() > deadline) {
        clearInterval(poll);
        reject(new Error(`tandem ${argv[0]} did not start:\n${out}`));
      }
    }, 25);
  });
}

function percentile(sorted, p) {
  return sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

async function soakWebhook(dir) {
  const certDir = join(dir, 'certs');
  const init = spawnSync(process.execPath, [BIN, 'certs', 'init', '--dir', certDir, '--local'], { cwd: root, env: { PATH: process.env.PATH, HOME: dir } });
  if (init.status !== 0) throw new Error(`certs init failed: ${init.stderr}`);
  const ca = readFileSync(join(certDir, 'ca.crt'));
  const { child, m, problems } = await startProcess(
    ['webhook', '--cert-dir', certDir, '--host', '127.0.0.1', '--port', '0', '--monitoring-port', '0'],
    { PATH: process.env.PATH, HOME: dir },
    /"url":"http:\/\/127\.0\.0\.1:(\d+)"[\s\S]*"url":"https:\/\/127\.0\.0\.1:(\d+)"|"url":"https:\/\/127\.0\.0\.1:(\d+)"[\s\S]*"url":"http:\/\/127\.0\.0\.1:(\d+)"/,
  );
  const monitoring = Number(m[1] ?? m[4]);
  const port = Number(m[2] ?? m[3]);
  const pid = child.pid;
  child.on('exit', (code, signal) => { if (!stoppingServer) console.log(`  server exited unexpectedly: code ${code} signal ${signal}`); });

  const review = JSON.parse(readFileSync(join(root, 'test/fixtures/admission-review.json'), 'utf8'));
  const body = (i) => {
    review.request.uid = `soak-${i}`;
    review.request.object.metadata.name = `hello-${i}`;
    review.request.object.metadata.labels['soak-counter'] = String(i);
    return JSON.stringify(review);
  };
  const agent = new Agent({ keepAlive: true, maxSockets: CONNECTIONS });
  const start = await memory(pid, monitoring);

  let sent = 0;
  let inFlight = 0;
  const latencies = [];
  const errors = new Map();
  const fail = (what) => errors.set(what, (errors.get(what) ?? 0) + 1);
  let measuring = false;
  const one = (i) => {
    const t0 = performance.now();
    inFlight++;
    const req = httpsRequest(
      { host: '127.0.0.1', port, path: '/inject', method: 'POST', ca, servername: 'tandem-webhook.tandem-system.svc', agent, headers: { 'content-type': 'application/json' } },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d) => (text += d));
        res.on('end', () => {
          inFlight--;
          if (res.statusCode !== 200 || !text.includes(`"uid":"soak-${i}"`) || !text.includes('"patch"')) fail(`HTTP ${res.statusCode} ${text.slice(0, 80)}`);
          else if (measuring) latencies.push(performance.now() - t0);
        });
      },
    );
    req.on('error', (err) => {
      inFlight--;
      fail(err.code ?? err.message);
    });
    req.end(body(i));
  };

  // Open loop on a 10 ms tick: each tick sends what the schedule says is due by now.
  const run = async (seconds) => {
    const t0 = performance.now();
    const first = sent;
    while (performance.now() - t0 < seconds * 1000) {
      const due = Math.floor(((performance.now() - t0) / 1000) * RATE);
      while (sent - first < due) one(sent++);
      await sleep(10);
    }
    return (sent - first) / ((performance.now() - t0) / 1000);
  };
  console.log(`webhook: ${RATE} admissions/s, distinct pods, ${CONNECTIONS} kept-alive connections; warm-up ${WARMUP} s, then ${DURATION} s measured`);
  await run(WARMUP);
  while (inFlight > 0) await sleep(10);
  const warm = await memory(pid, monitoring);
  measuring = true;
  const rate = await run(DURATION);
  while (inFlight > 0) await sleep(10);
  const end = await memory(pid, monitoring);
  latencies.sort((a, b) => a - b);
  const errorCount = [...errors.values()].reduce((a, b) => a + b, 0);
  console.log(`  sent ${sent} admissions, achieved ${rate.toFixed(0)}/s in the measured part; errors ${errorCount}${errorCount ? ` ${JSON.stringify([...errors])}` : ''}`);
  console.log(`  latency (measured part) p50 ${percentile(latencies, 50).toFixed(2)} ms, p99 ${percentile(latencies, 99).toFixed(2)} ms, max ${latencies.at(-1)?.toFixed(2)} ms`);
  console.log(`  ${show('start', start)}`);
  console.log(`  ${show('after warm-up', warm)}`);
  console.log(`  ${show('end', end)}`);
  console.log(`  RSS growth after warm-up: ${(((end.rss - warm.rss) / warm.rss) * 100).toFixed(1)} %`);
  agent.destroy();
  await sleep(1000);
  console.log(`  ${show('after full GC', await afterFullGc(pid, monitoring, dir))}`);
  console.log(`  server warnings/errors logged: ${problems.count}${problems.first.length ? `\n    ${problems.first.join('\n    ')}` : ''}`);
  stoppingServer = true;
  child.kill('SIGTERM');
  await new Promise((r) => child.on('exit', r));
}

function loadAds() {
  const require = createRequire(join(root, 'package.json'));
  const grpc = require('@grpc/grpc-js');
  const protoLoader = require('@grpc/proto-loader');
  const deps = join(dirname(require.resolve('@grpc/grpc-js-xds/package.json')), 'deps');
  const def = protoLoader.loadSync('envoy/service/discovery/v3/ads.proto', {
    keepCase: true,
    longs: String,
    defaults: true,
    includeDirs: ['envoy-api', 'xds', 'googleapis', 'protoc-gen-validate'].map((d) => join(deps, d)),
  });
  const method = def['envoy.service.discovery.v3.AggregatedDiscoveryService'].StreamAggregatedResources;
  return { grpc, method };
}

function registry(services, endpoints, round) {
  const lines = ['services:'];
  for (let s = 0; s < services; s++) {
    lines.push(`  - name: svc-${s}`, '    namespace: shop', '    ports: [{name: http, port: 8080, protocol: HTTP}]', '    endpoints:');
    for (let e = 0; e < endpoints; e++) lines.push(`      - {address: 10.${(round >> 8) & 255}.${round & 255}.${e + 1}}`);
  }
  return `${lines.join('\n')}\n`;
}

async function soakXds(dir) {
  const { grpc, method } = loadAds();
  const file = join(dir, 'services.yaml');
  const SERVICES = 20;
  let round = 0;
  writeFileSync(file, registry(SERVICES, 5, round));
  const { child, m, problems } = await startProcess(
    ['serve', '--state-dir', join(dir, 'state'), '--registry', `file:${file}`, '--webhook-port', '0', '--xds-port', '0', '--monitoring-port', '0'],
    { PATH: process.env.PATH, HOME: dir },
    /xDS 127\.0\.0\.1:(\d+), metrics http:\/\/127\.0\.0\.1:(\d+)\/metrics/,
  );
  const target = `127.0.0.1:${m[1]}`;
  const monitoring = Number(m[2]);
  const pid = child.pid;
  child.on('exit', (code, signal) => { if (!stoppingServer) console.log(`  server exited unexpectedly: code ${code} signal ${signal}`); });
  const clusters = Array.from({ length: SERVICES }, (_, i) => `outbound|8080||svc-${i}.shop.svc.cluster.local`);
  // --per-channel proxies share one HTTP/2 connection (default 1: every Envoy has its own).
  // Measured on an overloaded machine (load average 25 on 2 cores), 500 streams, with 1 or 50 per
  // channel alike: about a fifth of the streams ended with "Session closed with error code 2" (the
  // client's HTTP/2 connection closed with INTERNAL_ERROR) and the server logged nothing; cause not
  // established yet. With 100 streams there were none.
  const channels = Array.from({ length: Math.max(1, Math.ceil(STREAMS / PER_CHANNEL)) }, () => new grpc.Client(target, grpc.credentials.createInsecure()));
  const start = await memory(pid, monitoring);
  let opened = 0;
  let responses = 0;
  const errors = new Map();
  let stopping = false;

  const loop = async (n) => {
    const client = channels[n % channels.length];
    for (let gen = 0; !stopping; gen++) {
      await new Promise((resolve) => {
        const call = client.makeBidiStreamRequest(method.path, method.requestSerialize, method.responseDeserialize);
        opened++;
        let gotCds = false;
        const life = setTimeout(() => call.cancel(), 200 + Math.random() * 1800);
        call.on('data', (r) => {
          responses++;
          // ACK like Envoy
          call.write({ type_url: r.type_url, version_info: r.version_info, response_nonce: r.nonce, resource_names: r.type_url.endsWith('ClusterLoadAssignment') ? clusters : [] });
          if (!gotCds) {
            gotCds = true;
            call.write({ type_url: 'type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment', resource_names: clusters });
          }
        });
        call.on('error', (e) => {
          if (e.code !== grpc.status.CANCELLED) errors.set(e.details, (errors.get(e.details) ?? 0) + 1);
        });
        // 'status' comes once per call, however it ends ('close' waits for our side to end too)
        call.on('status', () => {
          clearTimeout(life);
          resolve();
        });
        call.write({
          node: { id: `sidecar~10.1.${(n >> 8) & 255}.${n & 255}~p-${n}-${gen}.shop~shop.svc.cluster.local`, user_agent_name: 'envoy', metadata: { fields: { NAMESPACE: { string_value: 'shop' } } } },
          type_url: 'type.googleapis.com/envoy.config.cluster.v3.Cluster',
        });
        if (stopping) call.cancel();
      });
    }
  };
  const changer = setInterval(() => writeFileSync(file, registry(SERVICES, 5, ++round)), 1000);
  console.log(`xds: ${STREAMS} ADS streams reconnecting every 0.2-2 s over ${channels.length} channels; registry endpoints change every second; warm-up ${WARMUP} s, then ${DURATION} s`);
  const loops = Array.from({ length: STREAMS }, (_, n) => loop(n));
  await sleep(WARMUP * 1000);
  const warm = await memory(pid, monitoring);
  const openedAtWarm = opened;
  await sleep(DURATION * 1000);
  const busy = await memory(pid, monitoring);
  const connectedBusy = series(await get(monitoring, '/metrics'), /^tandem_xds_connected_streams /);
  stopping = true;
  clearInterval(changer);
  await Promise.all(loops);
  for (const c of channels) c.close();
  // let the server notice the last cancellations
  let connected = NaN;
  for (let i = 0; i < 50; i++) {
    connected = series(await get(monitoring, '/metrics'), /^tandem_xds_connected_streams /);
    if (connected === 0) break;
    await sleep(100);
  }
  await sleep(2000);
  const end = await memory(pid, monitoring);
  const errorCount = [...errors.values()].reduce((a, b) => a + b, 0);
  console.log(`  streams opened ${opened} (${((opened - openedAtWarm) / DURATION).toFixed(0)}/s measured), responses read ${responses}, registry changes ${round}; errors ${errorCount}${errorCount ? ` ${JSON.stringify([...errors].slice(0, 5))}` : ''}`);
  console.log(`  connected streams (server's count): ${connectedBusy} under load, ${connected} once every client left (anything but 0 is a leak)`);
  console.log(`  ${show('start', start)}`);
  console.log(`  ${show('after warm-up', warm)}`);
  console.log(`  ${show('end of load', busy)}`);
  console.log(`  ${show('idle after', end)}`);
  console.log(`  RSS growth after warm-up: ${(((busy.rss - warm.rss) / warm.rss) * 100).toFixed(1)} % under load, ${(((end.rss - warm.rss) / warm.rss) * 100).toFixed(1)} % idle after`);
  console.log(`  ${show('after full GC', await afterFullGc(pid, monitoring, dir))}`);
  console.log(`  server warnings/errors logged: ${problems.count}${problems.first.length ? `\n    ${problems.first.join('\n    ')}` : ''}`);
  stoppingServer = true;
  child.kill('SIGTERM');
  await new Promise((r) => child.on('exit', r));
}

const dir = mkdtempSync(join(tmpdir(), 'tandem-soak-'));
try {
  if (args.part !== 'xds') await soakWebhook(dir);
  if (args.part !== 'webhook') await soakXds(dir);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
