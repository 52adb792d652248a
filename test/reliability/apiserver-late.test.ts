import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import t from 'tap';
import { EmulatedApiServer, SERVICES } from '../control-plane/k8s-emulator.js';
import { distinctReview, post } from './clients.js';
import { httpGet, sleep, startServe, tempDir, waitForOutput } from './processes.js';

/**
 * `tandem serve --registry kubernetes` started while the Kubernetes API is unreachable: it keeps
 * serving (the webhook injects; xDS listens with the file config), /readyz says which dependency
 * is missing and why, and once the API answers — here the EMULATED apiserver of
 * test/control-plane/k8s-emulator.ts (list and watch of Services and EndpointSlices; no real
 * kube-apiserver runs here), reached through a TCP forwarder on the kubeconfig's address that
 * starts later — the background retry connects and readiness turns true without a restart.
 * (The CA here is a directory and the Istio config a file: those parts do not need the API.)
 */

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
}

t.test('the apiserver unreachable at start: serve keeps serving, readiness names the registry, then flips to ready', async (t) => {
  const dir = tempDir(t, 'late-apiserver');
  const port = await freePort();
  const kubeconfig = join(dir, 'kubeconfig');
  writeFileSync(
    kubeconfig,
    `apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: "http://127.0.0.1:${port}", insecure-skip-tls-verify: true}}]\nusers: [{name: u, user: {token: t}}]\ncontexts: [{name: x, context: {cluster: c, user: u}}]\ncurrent-context: x\n`,
  );
  mkdirSync(join(dir, 'config'));
  writeFileSync(join(dir, 'mesh.yaml'), 'trustDomain: cluster.local\n');
  const state = join(dir, 'state');
  const s = await startServe(
    t,
    ['--cert-mode', 'local', '--ca-dir', join(dir, 'ca'), '--registry', 'kubernetes', '--config', `file:${join(dir, 'config')}`, '--mesh-config', join(dir, 'mesh.yaml')],
    { KUBECONFIG: kubeconfig },
    state,
  );

  const before = await httpGet(s.monitoring, '/readyz');
  t.equal(before.status, 503, 'not ready while the API is unreachable');
  t.match(before.body, new RegExp(`registry \\(.*127\\.0\\.0\\.1:${port}.*\\)`), `readiness names the registry and why: ${before.body.trim()}`);
  const ca = readFileSync(join(state, 'certs', 'ca.crt'));
  const r = await post(s.webhook, ca, distinctReview('while-api-down'));
  const answer = JSON.parse(r.body) as { response?: { allowed?: boolean; patch?: string } };
  t.equal(r.status, 200, 'the webhook answers');
  t.ok(answer.response?.allowed === true && typeof answer.response.patch === 'string', 'and injects');
  t.match(s.stderr(), /Kubernetes API unreachable: serving without its services, retrying/);
  t.match(s.stderr(), /workload certificates off \(workloadCertificates: none\) until a restart can ask the cluster/, 'certificate discovery could not ask the cluster: said, not fatal');

  // The API comes up (at the kubeconfig's address) with one Service.
  const emu = new EmulatedApiServer();
  const emuPort = await emu.start();
  t.teardown(() => emu.close());
  emu.apply(SERVICES, 'ADDED', { metadata: { name: 'echo', namespace: 'demo', uid: 'u1' }, spec: { clusterIP: '10.0.0.9', ports: [{ name: 'http', port: 80, protocol: 'TCP' }] } });
  const piped = new Set<net.Socket>();
  const forwarder = net.createServer((c) => {
    const up = net.connect(emuPort, '127.0.0.1');
    piped.add(c).add(up);
    c.on('error', () => up.destroy());
    up.on('error', () => c.destroy());
    c.pipe(up).pipe(c);
  });
  await new Promise<void>((resolve) => forwarder.listen(port, '127.0.0.1', resolve));
  t.teardown(() => {
    // The registry's watches are long-lived: cut them, or close() waits for them.
    for (const sock of piped) sock.destroy();
    return new Promise<void>((resolve) => forwarder.close(() => resolve()));
  });

  let after = before;
  for (const until = Date.now() + 45_000; Date.now() < until && after.status !== 200; await sleep(200)) after = await httpGet(s.monitoring, '/readyz');
  t.equal(after.status, 200, `readiness turned true once the API answered (${after.body.trim()})`);
  // (the log is batched: up to a second behind)
  t.ok(await waitForOutput(s, /Kubernetes registry connected/, 'the connected log line', 10_000), 'the connection is logged');
  const again = await post(s.webhook, ca, distinctReview('after-api-up'));
  t.equal(again.status, 200, 'the webhook still answers');
  s.child.kill('SIGTERM');
  t.equal(await s.exit, 0, 'and it still drains and exits 0');
});
