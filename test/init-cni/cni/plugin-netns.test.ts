import { type ChildProcess, execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { pluginKubeconfig } from '../../../init-cni/agent/kubeconfig.js';
import { type Emulator, startTlsEmulator } from '../../certs/apiserver-emulator.js';
import { type Json, type Pod, execPlugin, runList } from './runtime.js';
import { dial, startOrigDstServer } from '../traffic.js';

/**
 * The plugin for real: network namespaces for a "node" and its pods; Debian's reference `bridge`
 * plugin with `host-local` IPAM wires each pod exactly as a runtime would (runtime.ts), then
 * bin/tandem-cni runs with the bridge's result as prevResult. The bridge runs inside the node
 * namespace so that nothing touches the host's own network; tandem-cni runs in the test's namespace
 * (where the emulated apiserver listens) and only enters the pod's. Checked: the rules in each pod
 * namespace (iptables-save), where real TCP connections land (test/init-cni/origdst.py, as the
 * capture test), CHECK, DEL, VERSION, and CNI error JSON for bad input. The kube-apiserver is
 * EMULATED (test/certs/apiserver-emulator.ts: real HTTPS, bearer token, Pod schema), since none can
 * run here. Needs root, iproute2, iptables, python3 and /usr/lib/cni; without them it fails.
 */

const id = process.pid;
const NODE = `tcni-node-${id}`;
const A = `tcni-a-${id}`;
const B = `tcni-b-${id}`;
const C = `tcni-c-${id}`;
const nsPath = (n: string): string => `/var/run/netns/${n}`;
const work = mkdtempSync(join(tmpdir(), 'tandem-cni-'));
const servers: ChildProcess[] = [];

const STATUS = JSON.stringify({ initContainers: ['istio-proxy'], containers: [], volumes: ['istio-envoy'], revision: 'default' });

function list(cniVersion: string, extra: Json = {}): Json {
  return {
    cniVersion,
    name: `tcni-${id}`,
    plugins: [
      { type: 'bridge', bridge: `tcbr${id}`.slice(0, 15), isGateway: true, ipMasq: false, ipam: { type: 'host-local', subnet: '10.252.0.0/24', dataDir: join(work, 'ipam') } },
      { type: 'tandem-cni', name: 'tandem-cni', capabilities: { 'io.kubernetes.cri.pod-annotations': true }, exclude_namespaces: ['kube-system'], log_file: join(work, 'plugin.log'), ...extra },
    ],
  };
}

// The bridge (and host-local) run in the node namespace; tandem-cni in ours.
const place = (type: string): string[] => (type === 'tandem-cni' ? [] : ['ip', 'netns', 'exec', NODE]);

const podA: Pod = { containerId: `a${id}`, netns: nsPath(A), ifname: 'eth0', name: 'web-0', namespace: 'shop', annotations: { 'sidecar.istio.io/status': STATUS, 'traffic.sidecar.istio.io/excludeOutboundPorts': '9090' } };
const podB: Pod = { containerId: `b${id}`, netns: nsPath(B), ifname: 'eth0', name: 'db-0', namespace: 'shop', annotations: { 'kubernetes.io/config.source': 'api' } };
/** No annotations from the runtime: the plugin reads this pod from the apiserver. */
const podC: Pod = { containerId: `c${id}`, netns: nsPath(C), ifname: 'eth0', name: 'api-0', namespace: 'shop' };

function sh(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function save(ns: string, table = 'nat'): string {
  return sh('ip', ['netns', 'exec', ns, 'iptables-save', '-t', table]);
}

function addrOf(result: Json | undefined): string {
  const ips = (result?.ips ?? []) as { address: string }[];
  return (ips[0]?.address ?? '').split('/')[0] ?? '';
}

function startServer(ns: string, name: string, ports: number[]): Promise<void> {
  const server = startOrigDstServer(ns, name, ports);
  servers.push(server.child);
  return server.ready;
}

let emu: Emulator;
let kubeconfig: string;
let caPem: string;
const cached: Record<string, Json> = {};

t.before(async () => {
  for (const ns of [NODE, A, B, C]) sh('ip', ['netns', 'add', ns]);
  for (const ns of [NODE, A, B, C]) sh('ip', ['netns', 'exec', ns, 'ip', 'link', 'set', 'lo', 'up']);
  ({ emu, caPem } = await startTlsEmulator());
  kubeconfig = join(work, 'tandem-cni.kubeconfig');
  writeFileSync(kubeconfig, pluginKubeconfig({ server: emu.url, token: emu.token, caPem }));
});

t.teardown(async () => {
  for (const s of servers) s.kill('SIGKILL');
  for (const ns of [A, B, C, NODE]) spawnSync('ip', ['netns', 'del', ns]);
  await emu?.close();
  rmSync(work, { recursive: true, force: true });
});

t.test('VERSION', async (t) => {
  const r = await execPlugin('tandem-cni', 'VERSION', undefined, JSON.stringify({ cniVersion: '1.0.0' }));
  t.equal(r.status, 0, r.stderr);
  const v = JSON.parse(r.stdout) as { cniVersion: string; supportedVersions: string[] };
  for (const want of ['0.4.0', '1.0.0']) t.ok(v.supportedVersions.includes(want), `supports ${want}`);
  // The reference plugins agree on the shape (libcni reads both the same way).
  const ref = JSON.parse((await execPlugin('bridge', 'VERSION', undefined, '{"cniVersion":"1.0.0"}')).stdout) as Json;
  t.same(Object.keys(v).sort(), Object.keys(ref).sort());
});

t.test('ADD, 0.4.0, a pod that is not injected: result passed through, no rules', async (t) => {
  const r = await runList('ADD', list('0.4.0'), podB, place);
  t.ok(r.ok, JSON.stringify(r.steps));
  const [bridge, tandem] = r.steps;
  t.same(JSON.parse(tandem?.stdout ?? '{}'), JSON.parse(bridge?.stdout ?? ''), "tandem's result is the bridge's, unchanged");
  t.equal((r.result?.ips as { version?: string }[])[0]?.version, '4', 'a 0.4.0 result (ips carry "version")');
  t.notMatch(save(B), /ISTIO_/);
  cached.B = r.result as Json;
});

t.test('ADD, 1.0.0, an injected pod (annotations from the runtime): the capture rules', async (t) => {
  const r = await runList('ADD', list('1.0.0'), podA, place);
  t.ok(r.ok, JSON.stringify(r.steps));
  t.same(JSON.parse(r.steps[1]?.stdout ?? '{}'), JSON.parse(r.steps[0]?.stdout ?? ''));
  t.equal(r.result?.cniVersion, '1.0.0');
  cached.A = r.result as Json;
  const nat = save(A);
  // What Istio's plugin writes for these annotations (its basic golden, with 9090 excluded outbound).
  for (const line of [
    '-A PREROUTING -p tcp -j ISTIO_INBOUND',
    '-A OUTPUT -j ISTIO_OUTPUT',
    '-A ISTIO_INBOUND -p tcp -m tcp --dport 15008 -j RETURN',
    '-A ISTIO_INBOUND -p tcp -m multiport --dports 15020,15021,15090 -j RETURN',
    '-A ISTIO_INBOUND -p tcp -j ISTIO_IN_REDIRECT',
    '-A ISTIO_IN_REDIRECT -p tcp -j REDIRECT --to-ports 15006',
    '-A ISTIO_OUTPUT -p tcp -m tcp --dport 9090 -j RETURN',
    '-A ISTIO_OUTPUT -m owner --uid-owner 1337 -j RETURN',
    '-A ISTIO_OUTPUT -j ISTIO_REDIRECT',
    '-A ISTIO_REDIRECT -p tcp -j REDIRECT --to-ports 15001',
  ]) t.ok(nat.split('\n').includes(line), line);
  t.notMatch(save(NODE), /ISTIO_/, "the node's tables are untouched");
});

t.test('real traffic between the two pods on the bridge', async (t) => {
  const ipA = addrOf(cached.A);
  const ipB = addrOf(cached.B);
  t.match(ipA, /^10\.252\.0\./);
  await Promise.all([startServer(A, 'a', [15001, 15006, 8080]), startServer(B, 'b', [8080, 9090])]);
  t.same(dial(B, ipA, 8080), { ns: 'a', port: 15006, orig: `${ipA}:8080` }, 'inbound to A lands on 15006');
  t.same(dial(A, ipB, 8080), { ns: 'a', port: 15001, orig: `${ipB}:8080` }, "A's outbound lands on 15001");
  t.same(dial(A, ipB, 8080, true), { ns: 'b', port: 8080, orig: `${ipB}:8080` }, 'the proxy uid goes direct');
  t.same(dial(A, ipB, 9090), { ns: 'b', port: 9090, orig: `${ipB}:9090` }, 'the excluded outbound port goes direct');
  t.same(dial(B, ipB, 8080), { ns: 'b', port: 8080, orig: `${ipB}:8080` }, 'B (not injected) is not captured');
});

t.test('CHECK: passes with the rules, fails with a CNI error when they are gone', async (t) => {
  const ok = await runList('CHECK', list('1.0.0'), podA, place, cached.A);
  t.ok(ok.ok, JSON.stringify(ok.steps));
  t.equal(ok.steps[1]?.stdout, '', 'CHECK prints nothing on success');
  t.ok((await runList('CHECK', list('0.4.0'), podB, place, cached.B)).ok, 'a pass-through pod checks fine');
  sh('ip', ['netns', 'exec', A, 'iptables', '-t', 'nat', '-D', 'OUTPUT', '-j', 'ISTIO_OUTPUT']);
  const bad = await runList('CHECK', list('1.0.0'), podA, place, cached.A);
  t.notOk(bad.ok);
  const err = JSON.parse(bad.steps[1]?.stdout ?? '{}') as Json;
  t.equal(err.code, 101);
  t.equal(err.cniVersion, '1.0.0');
  t.match(err.msg, /jump OUTPUT -> ISTIO_OUTPUT in table nat/);
  // ADD again repairs (re-applying converges, as `tandem iptables` does).
  const re = await execPlugin('tandem-cni', 'ADD', podA, JSON.stringify({ ...(list('1.0.0').plugins as Json[])[1], cniVersion: '1.0.0', name: 'n', prevResult: cached.A, runtimeConfig: { 'io.kubernetes.cri.pod-annotations': podA.annotations } }));
  t.equal(re.status, 0, re.stdout);
  t.ok((await runList('CHECK', list('1.0.0'), podA, place, cached.A)).ok, 'repaired');
});

t.test('the pod read from the (emulated) apiserver when the runtime passes no annotations', async (t) => {
  emu.seed('pods', {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'api-0', namespace: 'shop', annotations: { 'sidecar.istio.io/status': STATUS, 'sidecar.istio.io/interceptionMode': 'REDIRECT' } },
    spec: { initContainers: [{ name: 'istio-proxy', image: 'envoy', restartPolicy: 'Always', securityContext: { runAsUser: 1400, runAsGroup: 1400 } }], containers: [{ name: 'app', image: 'app' }] },
  });
  const cfg = list('1.0.0', { kubeconfig });
  const r = await runList('ADD', cfg, podC, place);
  t.ok(r.ok, JSON.stringify(r.steps));
  t.ok(emu.log.some((l) => l.method === 'GET' && l.path === '/api/v1/namespaces/shop/pods/api-0' && l.status === 200), 'one GET of the pod');
  const nat = save(C);
  t.match(nat, /-A ISTIO_OUTPUT -m owner --uid-owner 1400 -j RETURN/, "the proxy's runAsUser from the pod spec");
  // The plugin alone, as the runtime calls it after the bridge, for the failure cases.
  const tandemConf = (extra: Json): string => JSON.stringify({ ...(list('1.0.0').plugins as Json[])[1], cniVersion: '1.0.0', name: 'n', prevResult: r.result, ...extra });
  // An unknown pod: "try again later" (the runtime retries), as a CNI error.
  const missing = await execPlugin('tandem-cni', 'ADD', { ...podC, name: 'ghost' }, tandemConf({ kubeconfig }));
  t.equal(missing.status, 1);
  const err = JSON.parse(missing.stdout) as Json;
  t.equal(err.code, 11);
  t.match(err.msg, /pod shop\/ghost: apiserver answered 404/);
  // No annotations and no kubeconfig: the plugin cannot decide and says so.
  const blind = await execPlugin('tandem-cni', 'ADD', podC, tandemConf({}));
  t.equal((JSON.parse(blind.stdout) as Json).code, 102);
  // A wrong token: the apiserver's 401 becomes a CNI error naming the pod.
  const badKc = join(work, 'bad.kubeconfig');
  writeFileSync(badKc, pluginKubeconfig({ server: emu.url, token: 'wrong', caPem: caPem }));
  const denied = JSON.parse((await execPlugin('tandem-cni', 'ADD', podC, tandemConf({ kubeconfig: badKc }))).stdout) as Json;
  t.equal(denied.code, 102);
  t.match(denied.msg, /pod shop\/api-0: apiserver answered 401/);
  // An unreachable apiserver: bounded by the configured timeout.
  const started = Date.now();
  const slowKc = join(work, 'slow.kubeconfig');
  writeFileSync(slowKc, pluginKubeconfig({ server: 'https://127.0.0.1:1', token: 't' }));
  const down = JSON.parse((await execPlugin('tandem-cni', 'ADD', podC, tandemConf({ kubeconfig: slowKc, apiserver_timeout_ms: 500 }))).stdout) as Json;
  t.equal(down.code, 11);
  t.ok(Date.now() - started < 5000, 'the plugin gives up quickly');
  t.ok((await runList('DEL', cfg, podC, place, r.result)).ok);
});

t.test('errors are CNI error JSON on stdout, never crashes', async (t) => {
  const cases: [string, string, Pod | undefined, number, RegExp][] = [
    ['malformed config', '{"cniVersion": "1.0.0", "name": ', podA, 6, /not JSON/],
    ['config without type', '{"cniVersion":"1.0.0","name":"x"}', podA, 7, /type is required/],
    ['unsupported version', '{"cniVersion":"0.1.0","name":"x","type":"tandem-cni"}', podA, 1, /0\.1\.0/],
    ['missing netns', JSON.stringify({ cniVersion: '1.0.0', name: 'x', type: 'tandem-cni' }), { ...podA, netns: '/var/run/netns/does-not-exist' }, 3, /does-not-exist/],
    ['no CNI_CONTAINERID', JSON.stringify({ cniVersion: '1.0.0', name: 'x', type: 'tandem-cni' }), undefined, 4, /CNI_CONTAINERID/],
    ['bad annotation', JSON.stringify({ cniVersion: '1.0.0', name: 'x', type: 'tandem-cni', runtimeConfig: { 'io.kubernetes.cri.pod-annotations': { 'sidecar.istio.io/status': STATUS, 'traffic.sidecar.istio.io/includeInboundPorts': 'http' } } }), podA, 103, /annotation traffic\.sidecar\.istio\.io\/includeInboundPorts/],
  ];
  for (const [what, stdin, pod, code, msg] of cases) {
    const r = await execPlugin('tandem-cni', 'ADD', pod, stdin);
    t.equal(r.status, 1, `${what}: exit 1`);
    let err: Json = {};
    try {
      err = JSON.parse(r.stdout) as Json;
    } catch {
      t.fail(`${what}: stdout is not JSON: ${r.stdout} ${r.stderr}`);
    }
    t.equal(err.code, code, `${what}: code ${code}`);
    t.match(err.msg, msg, `${what}: message`);
    t.type(err.cniVersion, 'string', `${what}: cniVersion`);
    t.notMatch(r.stderr, /TypeError|ReferenceError|at .*\.js:\d+/, `${what}: no stack trace`);
  }
  const noCommand = await execPlugin('tandem-cni', '', podA, '{}');
  t.equal((JSON.parse(noCommand.stdout) as Json).code, 4, 'CNI_COMMAND unset');
});

t.test('DEL: removes what ADD wrote, never fails', async (t) => {
  const r = await runList('DEL', list('1.0.0'), podA, place, cached.A);
  t.ok(r.ok, JSON.stringify(r.steps));
  t.equal(r.steps[0]?.type, 'tandem-cni', 'DEL runs the list in reverse');
  t.equal(r.steps[0]?.stdout, '');
  t.notMatch(save(A), /ISTIO_/, 'the capture rules are gone');
  t.ok((await runList('DEL', list('0.4.0'), podB, place, cached.B)).ok);
  const conf = JSON.stringify({ ...(list('1.0.0').plugins as Json[])[1], cniVersion: '1.0.0', name: 'n', runtimeConfig: { 'io.kubernetes.cri.pod-annotations': podA.annotations } });
  for (const [what, pod, stdin] of [
    ['a namespace already gone', { ...podA, netns: '/var/run/netns/gone' }, conf],
    ['no namespace at all', { ...podA, netns: '' }, conf],
    ['a second DEL', podA, conf],
    ['a malformed config', podA, '{nope'],
  ] as const) {
    const d = await execPlugin('tandem-cni', 'DEL', pod, stdin);
    t.equal(d.status, 0, `${what}: exit 0`);
    t.equal(d.stdout, '', `${what}: no output`);
  }
});

t.test('the plugin logs to its log file, one JSON line per event, and never to stdout', async (t) => {
  const lines = readFileSync(join(work, 'plugin.log'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Json);
  t.ok(lines.some((l) => l.msg === 'capture rules written' && l.pod === 'shop/web-0'));
  t.ok(lines.some((l) => /^pass through: no sidecar\.istio\.io\/status/.test(String(l.msg)) && l.pod === 'shop/db-0'));
});
