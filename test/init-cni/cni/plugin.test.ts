import { createServer } from 'node:http';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { pluginKubeconfig } from '../../../init-cni/agent/kubeconfig.js';
import { getPod, parseKubeconfig } from '../../../init-cni/cni/kube.js';
import { type ChildResult, type NetnsVerb, type PluginIo, runPlugin } from '../../../init-cni/cni/plugin.js';
import { type Emulator, startTlsEmulator } from '../../certs/apiserver-emulator.js';

/**
 * The plugin's logic in-process (runPlugin), with the real apiserver client against the EMULATED
 * apiserver (test/certs/apiserver-emulator.ts: HTTPS, bearer token; no kube-apiserver can run here).
 * The one stand-in: the child the plugin starts inside the pod's namespace is recorded instead of run
 * (`inNetns`); plugin-netns.test.ts runs it for real through bin/tandem-cni.
 */

const STATUS = JSON.stringify({ initContainers: ['istio-proxy'], containers: [] });
const work = mkdtempSync(join(tmpdir(), 'tandem-plugin-'));
let emu: Emulator;
let kubeconfig: string;
let caPem: string;

t.before(async () => {
  ({ emu, caPem } = await startTlsEmulator());
  kubeconfig = join(work, 'kc');
  writeFileSync(kubeconfig, pluginKubeconfig({ server: emu.url, token: emu.token, caPem }));
  emu.seed('pods', {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'web-0', namespace: 'shop', annotations: { 'sidecar.istio.io/status': STATUS } },
    spec: { initContainers: [{ name: 'istio-proxy', image: 'envoy', env: [{ name: 'ISTIO_META_DNS_CAPTURE', value: 'true' }], securityContext: { runAsUser: 1500 } }], containers: [{ name: 'app', image: 'app' }] },
  });
});
t.teardown(async () => {
  await emu.close();
  rmSync(work, { recursive: true, force: true });
});

interface Recorder extends PluginIo {
  calls: { netns: string; verb: NetnsVerb; flags: readonly string[] }[];
  logs: string[];
}

function io(answer: (verb: NetnsVerb) => ChildResult = () => ({ code: 0, stdout: '{"missing":[]}', stderr: '' })): Recorder {
  const calls: Recorder['calls'] = [];
  const logs: string[] = [];
  return {
    calls,
    logs,
    readFile: (p) => readFileSync(p, 'utf8'),
    exists: (p) => p.startsWith('/var/run/netns/'),
    getPod,
    inNetns: async (netns, verb, flags) => {
      calls.push({ netns, verb, flags });
      return answer(verb);
    },
    log: (level, msg) => void logs.push(`${level} ${msg}`),
  };
}

const ENV = { CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'c', CNI_NETNS: '/var/run/netns/p', CNI_IFNAME: 'eth0', CNI_ARGS: 'K8S_POD_NAMESPACE=shop;K8S_POD_NAME=web-0' };
const conf = (extra: Record<string, unknown> = {}): string => JSON.stringify({ cniVersion: '1.0.0', name: 'n', type: 'tandem-cni', prevResult: { ips: [{ address: '10.1.0.5/24' }] }, ...extra });
const annotations = (a: Record<string, string>): Record<string, unknown> => ({ runtimeConfig: { 'io.kubernetes.cri.pod-annotations': a } });

t.test('injected by the runtime annotations, facts from the apiserver', async (t) => {
  const rec = io();
  const out = await runPlugin(ENV, () => conf({ kubeconfig, ...annotations({ 'sidecar.istio.io/status': STATUS }) }), rec);
  t.equal(out.code, 0, out.stdout);
  t.same(JSON.parse(out.stdout), { ips: [{ address: '10.1.0.5/24' }], cniVersion: '1.0.0' });
  t.equal(rec.calls.length, 1);
  const flags = rec.calls[0]?.flags ?? [];
  t.equal(rec.calls[0]?.verb, 'apply');
  t.equal(flags[flags.indexOf('-u') + 1], '1500', 'uid from the pod spec read from the apiserver');
  t.ok(flags.includes('--redirect-dns') && flags.includes('--ipv6=false'));
  t.ok(emu.log.some((l) => l.path === '/api/v1/namespaces/shop/pods/web-0' && l.status === 200));
});

t.test('not injected per the runtime: no apiserver call, no child', async (t) => {
  const before = emu.log.length;
  const rec = io();
  const out = await runPlugin(ENV, () => conf({ kubeconfig, ...annotations({}) }), rec);
  t.equal(out.code, 0);
  t.same(rec.calls, []);
  t.equal(emu.log.length, before, 'the apiserver is not asked');
  t.match(rec.logs.join('\n'), /pass through: no sidecar\.istio\.io\/status/);
  const excluded = await runPlugin({ ...ENV, CNI_ARGS: 'K8S_POD_NAMESPACE=kube-system;K8S_POD_NAME=x' }, () => conf({ exclude_namespaces: ['kube-system'] }), rec);
  t.equal(excluded.code, 0);
  t.same(rec.calls, [], 'an excluded namespace needs no pod facts at all');
});

t.test('failures become CNI errors', async (t) => {
  const failing = io(() => ({ code: 1, stdout: '', stderr: 'iptables-restore: line 3 failed' }));
  const out = await runPlugin(ENV, () => conf(annotations({ 'sidecar.istio.io/status': STATUS })), failing);
  t.equal(out.code, 1);
  t.match(JSON.parse(out.stdout), { code: 100, msg: /capture rules for pod shop\/web-0 failed/, details: 'iptables-restore: line 3 failed' });
  const noKc = await runPlugin(ENV, () => conf({ kubeconfig: join(work, 'missing') }), io());
  t.match(JSON.parse(noKc.stdout), { code: 5, msg: /cannot read kubeconfig/ });
  writeFileSync(join(work, 'bad'), 'clusters: []');
  t.match(JSON.parse((await runPlugin(ENV, () => conf({ kubeconfig: join(work, 'bad') }), io())).stdout), { code: 7, msg: /kubeconfig .*bad: not JSON/ });
  const notPod = io();
  const weird = await runPlugin(ENV, () => conf({ kubeconfig }), { ...notPod, getPod: async () => 'not a pod' });
  t.match(JSON.parse(weird.stdout), { code: 102, msg: /not a Pod/ });
  const boom = await runPlugin(ENV, () => conf({ kubeconfig }), { ...notPod, getPod: async () => { throw new TypeError('boom'); } });
  t.match(JSON.parse(boom.stdout), { code: 5, msg: 'internal error: boom' }, 'an unexpected error is still a CNI error');
  const blind = await runPlugin(ENV, () => conf(), io());
  t.match(JSON.parse(blind.stdout), { code: 102, details: /io\.kubernetes\.cri\.pod-annotations/ });
  const badAnnotation = await runPlugin(ENV, () => conf(annotations({ 'sidecar.istio.io/status': STATUS, 'sidecar.istio.io/interceptionMode': 'BOGUS' })), io());
  t.match(JSON.parse(badAnnotation.stdout), { code: 103, msg: /annotation sidecar\.istio\.io\/interceptionMode "BOGUS"/ });
  const stdinGone = await runPlugin(ENV, () => { throw new Error('EPIPE'); }, io());
  t.equal(JSON.parse(stdinGone.stdout).code, 5);
});

t.test('CHECK, DEL, GC, STATUS', async (t) => {
  const a = annotations({ 'sidecar.istio.io/status': STATUS });
  const missing = io(() => ({ code: 0, stdout: JSON.stringify({ missing: ['chain ISTIO_OUTPUT in table nat'] }), stderr: '' }));
  const check = await runPlugin({ ...ENV, CNI_COMMAND: 'CHECK' }, () => conf(a), missing);
  t.match(JSON.parse(check.stdout), { code: 101, msg: /chain ISTIO_OUTPUT in table nat/ });
  const unreadable = await runPlugin({ ...ENV, CNI_COMMAND: 'CHECK' }, () => conf(a), io(() => ({ code: 2, stdout: '', stderr: 'no iptables' })));
  t.match(JSON.parse(unreadable.stdout), { code: 101, details: 'no iptables' });
  const noPrev = await runPlugin({ ...ENV, CNI_COMMAND: 'CHECK' }, () => JSON.stringify({ cniVersion: '1.0.0', name: 'n', type: 'tandem-cni' }), io());
  t.match(JSON.parse(noPrev.stdout), { code: 7, msg: /CHECK needs prevResult/ });
  const gone = await runPlugin({ ...ENV, CNI_COMMAND: 'CHECK', CNI_NETNS: '/proc/none' }, () => conf(a), io());
  t.equal(JSON.parse(gone.stdout).code, 3);

  const del = io();
  t.same(await runPlugin({ ...ENV, CNI_COMMAND: 'DEL' }, () => conf(a), del), { stdout: '', code: 0 });
  t.equal(del.calls[0]?.verb, 'cleanup', 'an injected pod: its rules are removed');
  const delFail = io(() => ({ code: 1, stdout: '', stderr: 'gone' }));
  t.same(await runPlugin({ ...ENV, CNI_COMMAND: 'DEL' }, () => conf(a), delFail), { stdout: '', code: 0 }, 'a failed cleanup does not fail DEL');
  t.match(delFail.logs.join('\n'), /ignored on DEL/);
  const delPlain = io();
  await runPlugin({ ...ENV, CNI_COMMAND: 'DEL' }, () => conf(annotations({})), delPlain);
  t.same(delPlain.calls, [], 'nothing of a pod tandem did not capture');
  await runPlugin({ ...ENV, CNI_COMMAND: 'DEL' }, () => conf(), delPlain);
  t.same(delPlain.calls, [], 'without the annotations nothing is removed (the namespace takes the rules with it)');

  const v11 = JSON.stringify({ cniVersion: '1.1.0', name: 'n', type: 'tandem-cni' });
  t.same(await runPlugin({ CNI_COMMAND: 'GC' }, () => v11, io()), { stdout: '', code: 0 });
  t.same(await runPlugin({ CNI_COMMAND: 'STATUS' }, () => v11, io()), { stdout: '', code: 0 });
  t.match(JSON.parse((await runPlugin({ CNI_COMMAND: 'VERSION' }, () => '', io())).stdout), { cniVersion: '1.1.0' });
});

t.test('the apiserver client: errors and time limit', async (t) => {
  const kc = parseKubeconfig(readFileSync(kubeconfig, 'utf8'), kubeconfig);
  t.match(await getPod(kc, 'shop', 'web-0', 5000), { metadata: { name: 'web-0' } });
  await t.rejects(getPod({ ...kc, token: 'nope' }, 'shop', 'web-0', 5000), { code: 102, message: /apiserver answered 401: Unauthorized/ });
  await t.rejects(getPod({ ...kc, ca: undefined }, 'shop', 'web-0', 5000), { code: 11 }, 'an unverifiable certificate is refused');
  // A plain-HTTP stand-in for misbehaving servers: a hang, a 500 with text, a body that is not JSON.
  const server = createServer((req, res) => {
    if (req.url?.includes('/hang')) return;
    if (req.url?.includes('/boom')) {
      res.writeHead(500).end('upstream exploded');
      return;
    }
    res.writeHead(200).end('<html>');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => {
    server.closeAllConnections();
    server.close();
  });
  const http = { server: `http://127.0.0.1:${(server.address() as { port: number }).port}`, token: 't', insecure: false };
  const started = Date.now();
  await t.rejects(getPod(http, 'ns', 'hang', 300), { code: 11 });
  t.ok(Date.now() - started < 3000, 'bounded by the timeout');
  await t.rejects(getPod(http, 'ns', 'boom', 2000), { code: 11, message: /answered 500: upstream exploded/ });
  await t.rejects(getPod(http, 'ns', 'html', 2000), { code: 102, message: /not JSON/ });
});

t.test('the kubeconfig the agent writes, as the plugin reads it', async (t) => {
  const ok = parseKubeconfig(pluginKubeconfig({ server: 'https://10.0.0.1:443/', token: 'tok' }), 'f');
  t.same(ok, { server: 'https://10.0.0.1:443', insecure: true, token: 'tok' }, 'no CA: insecure, as written');
  const err = (text: string): string => {
    try {
      parseKubeconfig(text, '/etc/cni/net.d/x');
      return 'accepted';
    } catch (e) {
      return (e as Error).message;
    }
  };
  t.match(err('[]'), /kubeconfig \/etc\/cni\/net\.d\/x: not an object/);
  t.match(err('{"clusters":[{"name":"a","cluster":{"server":"ftp://x"}}]}'), /no cluster server URL/);
  t.match(err('{"clusters":[{"name":"a","cluster":{"server":"https://x"}}],"users":[]}'), /no user token/);
});
