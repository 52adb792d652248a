import { spawnSync } from 'node:child_process';
import { createServer } from 'node:net';
import t from 'tap';
import { captureArgs } from '../../../init-cni/cni/capture.js';
import { podInfoFromAnnotations } from '../../../init-cni/cni/pod.js';
import { validateRedirect } from '../../../init-cni/cni/validate.js';
import { repo, tandemIptables } from '../run-cli.js';

/**
 * `tandem cni-validate`, the check the CNI-mode init container runs: in a real network namespace,
 * unprivileged (uid 1337, no capabilities), before and after the plugin's rules. Needs root and
 * iproute2 to set up; fails, never skips, without them.
 */

const NS = `tcni-val-${process.pid}`;

function validateIn(uid: number, timeoutMs: number): ReturnType<typeof spawnSync> {
  return spawnSync('ip', ['netns', 'exec', NS, 'setpriv', '--reuid', String(uid), '--regid', String(uid), '--clear-groups', '--inh-caps=-all', 'env', '-i', 'PATH=/usr/bin:/bin', process.execPath, 'bin/tandem', 'cni-validate', '--timeout', String(timeoutMs)], { cwd: repo, encoding: 'utf8' });
}

t.before(() => {
  spawnSync('ip', ['netns', 'add', NS], { stdio: 'inherit' });
  const up = spawnSync('ip', ['netns', 'exec', NS, 'ip', 'link', 'set', 'lo', 'up'], { encoding: 'utf8' });
  if (up.status !== 0) throw new Error(`cannot set up netns ${NS}: ${up.stderr}`);
});
t.teardown(() => void spawnSync('ip', ['netns', 'del', NS]));

t.test('without the capture rules: fails with a message saying what is wrong', async (t) => {
  const r = validateIn(1337, 1500);
  t.equal(r.status, 1, String(r.stdout));
  t.match(String(r.stderr), /^tandem: cni-validate: a connection to 127\.0\.0\.6:15002 was not redirected to port 15001 or 15006 within 1500 ms .*is the tandem-cni plugin installed and chained on this node/);
});

t.test("with the plugin's rules: the probe is redirected; not as another uid", async (t) => {
  const pod = podInfoFromAnnotations('web-0', 'shop', { 'sidecar.istio.io/status': '{}' });
  const applied = tandemIptables(captureArgs(pod, ['10.1.0.5']), {}, ['ip', 'netns', 'exec', NS]);
  t.equal(applied.status, 0, applied.stderr);
  const r = validateIn(1337, 5000);
  t.equal(r.status, 0, String(r.stderr));
  t.match(JSON.parse(String(r.stdout)), { redirected: true, port: 15006 });
  const other = validateIn(1000, 1000);
  t.equal(other.status, 1, 'the app uid is not redirected on loopback: the check must run as the proxy uid');
});

t.test('in-process: token check, and no port to listen on', async (t) => {
  const probe = createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
  const port = (probe.address() as { port: number }).port;
  await new Promise((r) => probe.close(r));
  // Dialling the listener itself stands in for the redirect: the token is what is checked here.
  t.match(await validateRedirect({ probePort: port, probeAddress: '127.0.0.1', listenPorts: [port], timeoutMs: 3000 }), { redirected: true, port });
  const busy = createServer();
  await new Promise<void>((r) => busy.listen(0, '127.0.0.1', r));
  const taken = (busy.address() as { port: number }).port;
  await t.rejects(validateRedirect({ probePort: 1, listenPorts: [taken], timeoutMs: 500 }), /cannot listen on 127\.0\.0\.1 port \d+ \(in use\?\)/);
  await new Promise((r) => busy.close(r));
});
