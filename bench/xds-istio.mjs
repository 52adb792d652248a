#!/usr/bin/env node
// Benchmark: tandem's ADS server with Istio config. 1,000 HTTP services in 10 namespaces (laid out as in
// bench/xds.mjs: service i in namespace ns-(i % 10) on port 8000 + (i % 10), so a namespace shares one port; 3 endpoints:
// two v1, one v2), and in the Istio variants 1,000 VirtualServices (a header route to v2 and an 80/20
// split) and 1,000 DestinationRules (subsets v1 and v2); 100 state-of-the-world streams, each on its own
// HTTP/2 connection, 10 per namespace. Three variants of the same registry, each in its own server process:
//   plain   no Istio config (the baseline: today's registry-only resources; EDS and RDS subscribed by
//           name as in bench/xds.mjs, since their wildcards would add the proxyless API resources)
//   istio   the VirtualServices and DestinationRules (all four types subscribed as wildcards, which in
//           Istio mode are exactly the proxy's own resources)
//   scoped  the same plus a Sidecar in every namespace importing only that namespace (`./*`)
// Reports, as ratios against the plain baseline of the same run: the full push to all streams (wall and
// server CPU); per proxy the bytes received with and without the namespace-scoped Sidecar (issue 11's
// goal: <= 10 % when a proxy imports 1 of 10 namespaces), by type; and one VirtualService edit (ns-0's
// svc-0, 80/20 -> 70/30): which streams receive a push (expected: the importers of its host — all 100
// unscoped, ns-0's 10 scoped), which types, how fast after the debounce (ratio vs the full push), and how
// many per-proxy parts the server re-translated or carried over. Run after `npx tsc -p .` (it loads dist/).
//
//   node bench/xds-istio.mjs [--services 1000] [--streams 100] [--quiet 100] [--reps 3]
import { fork } from 'node:child_process';
import { parseArgs } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { median } from './stats.mjs';

const dist = new URL('../dist/', import.meta.url);
const { values: args } = parseArgs({
  options: {
    child: { type: 'string' },
    services: { type: 'string', default: '1000' },
    streams: { type: 'string', default: '100' },
    quiet: { type: 'string', default: '100' },
    reps: { type: 'string', default: '3' },
  },
});
const N = Number(args.services);
const S = Number(args.streams);
const QUIET = Number(args.quiet);
const REPS = Number(args.reps);
const NAMESPACES = 10;

const T = 'type.googleapis.com/envoy.config.';
const URLS = {
  cluster: `${T}cluster.v3.Cluster`,
  endpoint: `${T}endpoint.v3.ClusterLoadAssignment`,
  listener: `${T}listener.v3.Listener`,
  route: `${T}route.v3.RouteConfiguration`,
};
const TYPE_OF = Object.fromEntries(Object.entries(URLS).map(([k, v]) => [v, k]));
const PATH = '/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources';

const port = (i) => 8000 + (i % 10);
const ns = (i) => `ns-${i % NAMESPACES}`;

function services() {
  const out = [];
  for (let i = 0; i < N; i++) {
    const endpoints = [0, 1, 2].map((e) => {
      const n = i * 3 + e;
      return { address: `10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`, port: port(i), labels: { version: e === 2 ? 'v2' : 'v1' } };
    });
    out.push({ name: `svc-${i}`, namespace: ns(i), addresses: [], ports: [{ name: 'http', port: port(i), protocol: 'HTTP', endpoints }] });
  }
  return out;
}

const meta = (name, namespace, i) => ({ name, namespace, creationTimestamp: new Date(Date.UTC(2026, 0, 1) + i * 1000).toISOString() });
function virtualService(i, v1 = 80) {
  const host = `svc-${i}`;
  return {
    apiVersion: 'networking.istio.io/v1',
    kind: 'VirtualService',
    metadata: meta(host, ns(i), i),
    spec: {
      hosts: [host],
      http: [
        { match: [{ headers: { 'end-user': { exact: 'tester' } } }], route: [{ destination: { host, subset: 'v2' } }] },
        { route: [{ destination: { host, subset: 'v1' }, weight: v1 }, { destination: { host, subset: 'v2' }, weight: 100 - v1 }] },
      ],
    },
  };
}

function configs(variant) {
  if (variant === 'plain') return [];
  const out = [];
  for (let i = 0; i < N; i++) {
    out.push(virtualService(i));
    out.push({
      apiVersion: 'networking.istio.io/v1',
      kind: 'DestinationRule',
      metadata: meta(`svc-${i}`, ns(i), N + i),
      spec: { host: `svc-${i}`, subsets: [{ name: 'v1', labels: { version: 'v1' } }, { name: 'v2', labels: { version: 'v2' } }] },
    });
  }
  if (variant === 'scoped') for (let n = 0; n < NAMESPACES; n++) out.push({ apiVersion: 'networking.istio.io/v1', kind: 'Sidecar', metadata: meta('default', `ns-${n}`, 2 * N + n), spec: { egress: [{ hosts: ['./*'] }] } });
  return out;
}

// ------------------------------------------------------------------ child: the server

async function child(variant) {
  const { startControlPlane } = await import(new URL('control-plane/server.js', dist).href);
  const { StaticRegistry } = await import(new URL('control-plane/registry/types.js', dist).href);
  const { ConfigSnapshot } = await import(new URL('config/store/snapshot.js', dist).href);
  // the part of a config store the server reads, over the stores' own immutable snapshot
  let current = new ConfigSnapshot().apply(configs(variant), []).snapshot;
  const listeners = new Set();
  const store = { snapshot: () => current, onChange: (l) => (listeners.add(l), () => listeners.delete(l)), synced: Promise.resolve() };
  const registry = new StaticRegistry({ services: services() });
  const cp = await startControlPlane({ host: '127.0.0.1', port: 0, registry, ...(variant === 'plain' ? {} : { config: store }), debounce: { quietMs: QUIET, maxDelayMs: 10_000 } });
  await cp.ready;
  const edited = virtualService(0, 70); // made before the clock starts
  process.on('message', (m) => {
    if (m.cmd === 'edit') {
      const { snapshot, kinds } = current.apply([edited], []);
      current = snapshot;
      for (const l of listeners) l({ snapshot, kinds });
    }
    if (m.cmd === 'stats') process.send({ stats: cp.stats() });
    if (m.cmd === 'cpu') {
      const u = process.cpuUsage();
      process.send({ cpu: (u.user + u.system) / 1000 });
    }
    if (m.cmd === 'exit') cp.close().then(() => process.exit(0));
  });
  process.send({ port: cp.port });
}

// ------------------------------------------------------------------ parent: clients

function ask(proc, cmd, key) {
  return new Promise((resolve) => {
    const on = (m) => {
      if (key in m) {
        proc.off('message', on);
        resolve(m[key]);
      }
    };
    proc.on('message', on);
    proc.send({ cmd });
  });
}

async function run(variant) {
  const proc = fork(new URL(import.meta.url), ['--child', variant, '--services', String(N), '--quiet', String(QUIET)], { execArgv: [] });
  const serverPort = await ask(proc, 'none', 'port');
  const { messageType } = await import(new URL('control-plane/proto/root.js', dist).href);
  const { encodeProtoJson } = await import(new URL('control-plane/proto/json.js', dist).href);
  const { default: protobuf } = await import('protobufjs');
  // clients read only version, type and nonce (what an ACK needs) and count the bytes
  const decodeHead = (buf) => {
    const r = protobuf.Reader.create(buf);
    const out = { version_info: '', type_url: '', nonce: '', bytes: buf.length };
    while (r.pos < r.len) {
      const tag = r.uint32();
      const field = tag >>> 3;
      if (field === 1) out.version_info = r.string();
      else if (field === 4) out.type_url = r.string();
      else if (field === 5) out.nonce = r.string();
      else r.skipType(tag & 7);
    }
    return out;
  };
  const Req = messageType('envoy.service.discovery.v3.DiscoveryRequest');
  const byName = variant === 'plain';
  const all = services();
  const namesFor = {
    [URLS.cluster]: [],
    [URLS.listener]: [],
    [URLS.endpoint]: byName ? all.map((s) => `outbound|${s.ports[0].port}||${s.name}.${s.namespace}.svc.cluster.local`) : [],
    [URLS.route]: byName ? [...new Set(all.map((s) => String(s.ports[0].port)))] : [],
  };
  const fixed = Object.fromEntries(Object.entries(namesFor).map(([url, names]) => [url, Req.encode(Req.fromObject({ type_url: url, resource_names: names })).finish()]));
  const ackBytes = (resp) => Buffer.concat([fixed[resp.type_url], Req.encode(Req.fromObject({ version_info: resp.version_info, response_nonce: resp.nonce })).finish()]);
  const streams = [];
  let onResponse = () => {};
  const cpu0 = await ask(proc, 'cpu', 'cpu');
  const t0 = performance.now();
  for (let i = 0; i < S; i++) {
    const client = new grpc.Client(`127.0.0.1:${serverPort}`, grpc.credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1, 'grpc.max_receive_message_length': -1, 'grpc-node.flow_control_window': 16 * 1024 * 1024 });
    const call = client.makeBidiStreamRequest(PATH, (r) => (Buffer.isBuffer(r) ? r : Buffer.from(encodeProtoJson('envoy.service.discovery.v3.DiscoveryRequest', r))), decodeHead);
    const st = { i, namespace: ns(i), client, call, got: new Set(), bytes: { cluster: 0, endpoint: 0, listener: 0, route: 0 }, edit: [] };
    call.on('data', (resp) => {
      st.got.add(resp.type_url);
      onResponse(st, resp);
      call.write(ackBytes(resp));
    });
    call.on('error', () => {});
    // two workloads per namespace (app-0, app-1), five replicas each
    const node = { id: `sidecar~10.9.${i >> 8}.${i & 255}~pod-${i}.${st.namespace}~${st.namespace}.svc.cluster.local`, metadata: { NAMESPACE: st.namespace, APP_PORTS: [8080], LABELS: { app: `app-${Math.floor(i / NAMESPACES) % 2}` } } };
    call.write({ node, type_url: URLS.cluster, resource_names: [] });
    call.write(fixed[URLS.endpoint]);
    call.write(fixed[URLS.listener]);
    call.write(fixed[URLS.route]);
    streams.push(st);
  }
  const full = await new Promise((resolve) => {
    let done = 0;
    onResponse = (st, resp) => {
      st.bytes[TYPE_OF[resp.type_url]] += resp.bytes;
      if (st.got.size === 4 && !st.full) {
        st.full = true;
        if (++done === S) resolve(performance.now() - t0);
      }
    };
  });
  await new Promise((r) => setTimeout(r, 500)); // let the ACKs settle
  const fullCpu = (await ask(proc, 'cpu', 'cpu')) - cpu0;
  const bytes = {};
  for (const type of Object.keys(URLS)) bytes[type] = streams.reduce((a, st) => a + st.bytes[type], 0) / S;
  bytes.total = Object.values(bytes).reduce((a, b) => a + b, 0);

  let edit;
  if (variant !== 'plain') {
    // the importers of ns-0/svc-0: every stream unscoped, ns-0's with a namespace-scoped Sidecar
    const expected = streams.filter((st) => variant === 'istio' || st.namespace === 'ns-0');
    await new Promise((r) => setTimeout(r, QUIET + 300));
    const c1 = await ask(proc, 'cpu', 'cpu');
    const t1 = performance.now();
    const ms = await new Promise((resolve) => {
      let done = 0;
      onResponse = (st, resp) => {
        st.edit.push(TYPE_OF[resp.type_url]);
        if (expected.includes(st) && st.edit.length === 1 && ++done === expected.length) resolve(performance.now() - t1 - QUIET);
      };
      proc.send({ cmd: 'edit' });
    });
    await new Promise((r) => setTimeout(r, 500)); // any push to a stream that should not get one arrives by now
    const cpu = (await ask(proc, 'cpu', 'cpu')) - c1;
    const receivers = streams.filter((st) => st.edit.length > 0);
    const stats = await ask(proc, 'stats', 'stats');
    edit = {
      ms,
      cpu,
      expected: expected.length,
      receivers: receivers.length,
      unexpected: receivers.filter((st) => !expected.includes(st)).length,
      types: [...new Set(receivers.flatMap((st) => st.edit))].sort().join(','),
      parts: stats.parts,
    };
  }
  for (const st of streams) {
    st.call.cancel();
    st.client.close();
  }
  proc.send({ cmd: 'exit' });
  await new Promise((r) => proc.on('exit', r));
  return { full, fullCpu, bytes, edit };
}

if (args.child) await child(args.child);
else {
  console.log(`xDS with Istio config: ${N} services, ${N} VirtualServices, ${N} DestinationRules (2 subsets), ${S} ADS streams in ${NAMESPACES} namespaces, debounce quiet ${QUIET} ms, ${REPS} repetitions; node ${process.version}`);
  const variants = ['plain', 'istio', 'scoped'];
  const res = Object.fromEntries(variants.map((v) => [v, []]));
  for (let rep = 0; rep < REPS; rep++) {
    // rotate the order so that load drift hits every variant alike
    for (let k = 0; k < variants.length; k++) {
      const v = variants[(k + rep) % variants.length];
      const r = await run(v);
      res[v].push(r);
      const e = r.edit ? ` | VS edit: ${r.edit.receivers}/${S} streams pushed (expected ${r.edit.expected}, unexpected ${r.edit.unexpected}), types ${r.edit.types}, ${r.edit.ms.toFixed(1)} ms after debounce (server CPU ${r.edit.cpu.toFixed(0)} ms), parts translated ${r.edit.parts.translated} carried ${r.edit.parts.carried}` : '';
      console.log(`  rep ${rep + 1} ${v.padEnd(6)} full push ${r.full.toFixed(0).padStart(5)} ms (server CPU ${r.fullCpu.toFixed(0)} ms), ${(r.bytes.total / 1024).toFixed(1)} KiB per proxy${e}`);
    }
  }
  const med = (v, f) => median(res[v].map(f));
  const kib = (n) => `${(n / 1024).toFixed(1)} KiB`;
  console.log('medians:');
  for (const v of variants) {
    console.log(`  ${v.padEnd(6)} full push ${med(v, (r) => r.full).toFixed(0).padStart(5)} ms, server CPU ${med(v, (r) => r.fullCpu).toFixed(0).padStart(5)} ms, bytes per proxy ${kib(med(v, (r) => r.bytes.total))}`);
  }
  const p = (v, f) => med(v, f) / med('plain', f);
  console.log(`full push, ratio to plain (no Istio config): istio x${p('istio', (r) => r.full).toFixed(2)} wall, x${p('istio', (r) => r.fullCpu).toFixed(2)} server CPU; scoped x${p('scoped', (r) => r.full).toFixed(2)} wall, x${p('scoped', (r) => r.fullCpu).toFixed(2)} server CPU`);
  console.log('bytes per proxy, scoped (Sidecar ./*, 1 of 10 namespaces) / unscoped istio:');
  for (const type of ['listener', 'route', 'cluster', 'endpoint', 'total']) {
    const u = med('istio', (r) => r.bytes[type]);
    const s = med('scoped', (r) => r.bytes[type]);
    console.log(`  ${type.padEnd(9)} unscoped ${kib(u).padStart(11)}  scoped ${kib(s).padStart(10)}  ratio ${((s / u) * 100).toFixed(1)} %`);
  }
  const ratio = med('scoped', (r) => r.bytes.total) / med('istio', (r) => r.bytes.total);
  console.log(`ratio scoped/unscoped bytes: ${(ratio * 100).toFixed(1)} % (goal <= 10 %: ${ratio <= 0.1 ? 'met' : 'missed'})`);
  for (const v of ['istio', 'scoped']) {
    const e = (f) => med(v, (r) => f(r.edit));
    console.log(
      `VS edit (${v}): ${e((x) => x.receivers)} of ${S} streams pushed (importers of the host: ${e((x) => x.expected)}; others pushed: ${e((x) => x.unexpected)}), types ${res[v][0].edit.types}; ` +
        `${e((x) => x.ms).toFixed(1)} ms after the debounce = x${(e((x) => x.ms) / med(v, (r) => r.full)).toFixed(3)} of the full push, server CPU x${(e((x) => x.cpu) / med(v, (r) => r.fullCpu)).toFixed(3)} of the full push's; ` +
        `per-proxy parts re-translated ${e((x) => x.parts.translated)}, carried over ${e((x) => x.parts.carried)}`,
    );
  }
}
