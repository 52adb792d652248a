import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t, { type Test } from 'tap';
import { RawAds, URL as TYPE, sidecarNode, waitFor } from '../control-plane/ads-client.js';
import { applyJsonPatch } from '../webhook/helpers.js';
import { httpGet as get } from '../reliability/processes.js';

/**
 * `tandem serve` as `npm start` runs it: the compiled CLI in its own process, on embedded
 * defaults (no kubeconfig: HOME points at an empty directory), ephemeral ports. Checks the
 * parts together: an admission over HTTPS trusting only the generated CA, an xDS push,
 * the metrics of both on the monitoring port, and a SIGTERM under admission load.
 */
const repo = fileURLToPath(new URL('../../', import.meta.url));
const review = JSON.parse(readFileSync(join(repo, 'test/fixtures/admission-review.json'), 'utf8')) as {
  request: { uid: string };
};

interface Serve {
  child: ChildProcessWithoutNullStreams;
  stderr: () => string;
  webhook: number;
  xds: number;
  secure: number;
  monitoring: number;
  ca: Buffer;
  state: string;
  exit: Promise<number | null>;
}

async function startServe(t: Test, extra: string[] = []): Promise<Serve> {
  const state = mkdtempSync(join(tmpdir(), 'tandem-serve-'));
  t.teardown(() => rmSync(state, { recursive: true, force: true }));
  const child = spawn(
    process.execPath,
    ['bin/tandem', 'serve', '--state-dir', state, '--webhook-port', '0', '--xds-port', '0', '--secure-port', '0', '--monitoring-port', '0', ...extra],
    { cwd: repo, env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: state } },
  );
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  t.teardown(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  const banner = /webhook https:\/\/127\.0\.0\.1:(\d+)\/inject, xDS 127\.0\.0\.1:(\d+) \(TLS 127\.0\.0\.1:(\d+)\), metrics http:\/\/127\.0\.0\.1:(\d+)\/metrics/;
  const deadline = Date.now() + 30_000;
  let m: RegExpExecArray | null = null;
  while (!(m = banner.exec(err))) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`tandem serve did not start:\n${err}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    child,
    stderr: () => err,
    webhook: Number(m[1]),
    xds: Number(m[2]),
    secure: Number(m[3]),
    monitoring: Number(m[4]),
    ca: readFileSync(join(state, 'certs', 'ca.crt')),
    state,
    exit,
  };
}

interface Reply {
  status: number;
  body: string;
}

function admit(s: Serve, uid: string): Promise<Reply> {
  const body = JSON.stringify({ ...review, request: { ...review.request, uid } });
  return new Promise((resolve, reject) => {
    // A new connection per request (agent: false), as the apiserver may open them; the server
    // name is the one the local certificate is issued for.
    const req = httpsRequest(
      { host: '127.0.0.1', port: s.webhook, path: '/inject', method: 'POST', ca: s.ca, servername: 'localhost', agent: false, headers: { 'content-type': 'application/json' } },
      (res) => {
        let text = '';
        res.on('data', (d: Buffer) => (text += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

function sample(metrics: string, series: RegExp): number {
  const line = metrics.split('\n').find((l) => series.test(l));
  return line === undefined ? NaN : Number(line.slice(line.lastIndexOf(' ') + 1));
}

t.test('npm start: one process serves admissions, xDS and metrics', async (t) => {
  const s = await startServe(t);

  const ready = await get(s.monitoring, '/readyz');
  t.equal(ready.status, 200, 'ready once certificates and registry are up');

  const reply = await admit(s, 'uid-1');
  t.equal(reply.status, 200);
  const answer = JSON.parse(reply.body) as { apiVersion: string; response: { uid: string; allowed: boolean; patchType: string; patch: string } };
  t.equal(answer.apiVersion, 'admission.k8s.io/v1');
  t.equal(answer.response.uid, 'uid-1');
  t.equal(answer.response.allowed, true);
  t.equal(answer.response.patchType, 'JSONPatch');
  const pod = structuredClone((review.request as unknown as { object: Record<string, unknown> }).object) as {
    spec: { containers: Array<{ name: string }>; initContainers?: Array<{ name: string; restartPolicy?: string }> };
  };
  t.same(applyJsonPatch(pod, JSON.parse(Buffer.from(answer.response.patch, 'base64').toString('utf8'))), [], 'the patch applies cleanly');
  t.same(pod.spec.initContainers?.map((c) => c.name), ['istio-init', 'istio-proxy'], 'capture init container, then the native sidecar');
  t.equal(pod.spec.initContainers?.[1]?.restartPolicy, 'Always');
  t.same(pod.spec.containers.map((c) => c.name), ['hello'], 'the app container is untouched');

  // The local registry file is created on first start; a service added to it reaches a proxy.
  const ads = new RawAds(s.xds);
  t.teardown(() => ads.close());
  ads.send({ node: sidecarNode('default'), type_url: TYPE.cluster, resource_names: [] });
  const first = await ads.next(5000);
  t.equal(first['type_url'], TYPE.cluster);
  writeFileSync(
    join(s.state, 'registry.yaml'),
    'services:\n  - name: hello\n    namespace: default\n    ports: [{ name: http, port: 8080, protocol: HTTP }]\n    endpoints: [{ address: 127.0.0.1 }]\n',
  );
  ads.send({ node: sidecarNode('default'), type_url: TYPE.cluster, version_info: first['version_info'], response_nonce: first['nonce'] });
  let pushed: Record<string, unknown> | undefined;
  for (let i = 0; i < 5 && !pushed; i++) {
    const r = await ads.next(5000);
    const clusters = (r['resources'] as Array<{ name?: string }> | undefined) ?? [];
    if (r['type_url'] === TYPE.cluster && clusters.some((c) => c.name === 'outbound|8080||hello.default.svc.cluster.local')) pushed = r;
  }
  t.ok(pushed, 'the edited registry file is pushed as a new cluster');

  const metrics = (await get(s.monitoring, '/metrics')).body;
  t.equal(sample(metrics, /^tandem_admissions_total\{result="injected"/), 1, 'the admission is counted as injected');
  t.equal(sample(metrics, /^tandem_admission_duration_seconds_count /), 1, 'and timed');
  t.ok(sample(metrics, /^tandem_xds_pushes_total\{type="cds"\}/) >= 2, 'CDS pushes are counted');
  t.equal(sample(metrics, /^tandem_xds_connected_streams /), 1, 'one stream connected');
  t.ok(sample(metrics, /^tandem_cert_expiry_timestamp_seconds\{/) > Date.now() / 1000, 'the serving certificate expiry is exported');

  s.child.kill('SIGTERM');
  t.equal(await s.exit, 0, 'SIGTERM exits cleanly');
  t.ok(await waitFor(() => ads.ended || ads.error !== undefined, 5000), 'the xDS stream was closed by the server');
});

t.test('SIGTERM under admission load: no admission fails', async (t) => {
  // Kubernetes stops routing to a pod whose readiness fails; the load here does the same: each
  // worker keeps sending until it sees /readyz turn 503, as the endpoints controller would.
  const s = await startServe(t, ['--drain-delay', '1500']);
  let routable = true;
  const watcher = (async () => {
    while (routable) {
      const r = await get(s.monitoring, '/readyz').catch(() => ({ status: 0, body: '' }));
      if (r.status !== 200) {
        // Endpoints and load balancers notice a failed readiness with a lag; the drain delay
        // (1.5 s here) exists to cover it, so traffic keeps coming for a while, as in a cluster.
        await new Promise((res) => setTimeout(res, 300));
        routable = false;
      } else await new Promise((res) => setTimeout(res, 50));
    }
  })();
  let ok = 0;
  let sentAfterSignal = 0;
  let signalled = false;
  const failures: string[] = [];
  const worker = async (w: number): Promise<void> => {
    for (let i = 0; routable && i < 2000; i++) {
      if (signalled) sentAfterSignal++;
      try {
        const r = await admit(s, `w${w}-${i}`);
        const body = JSON.parse(r.body) as { response?: { uid?: string; allowed?: boolean } };
        if (r.status === 200 && body.response?.uid === `w${w}-${i}` && body.response.allowed === true) ok++;
        else failures.push(`${r.status} ${r.body.slice(0, 120)}`);
      } catch (err) {
        failures.push(String(err));
      }
    }
  };
  const workers = [0, 1, 2, 3].map(worker);
  while (ok < 40) await new Promise((r) => setTimeout(r, 10));
  signalled = true;
  s.child.kill('SIGTERM');
  await Promise.all(workers);
  await watcher;
  t.same(failures, [], 'every admission sent got its answer');
  t.ok(ok >= 40, `${ok} admissions answered`);
  t.ok(sentAfterSignal > 0, 'admissions kept arriving after the signal and were served');
  t.equal(await s.exit, 0, 'the process drained and exited 0');
  t.match(s.stderr(), /SIGTERM, draining/);
});

t.test('bad flags are user errors', async (t) => {
  const { spawnSync } = await import('node:child_process');
  for (const [args, message] of [
    [['--webhook-port', '70000'], /--webhook-port <port>' argument '70000' is invalid\. expected a port number \(0-65535\), got "70000"/],
    [['--cert-mode', 'magic'], /--cert-mode must be one of local, secret, files, got "magic"/],
    [['--cert-mode', 'files'], /--cert-mode files needs --cert-dir/],
    [['--grace', 'soon'], /--grace <ms>' argument 'soon' is invalid\. expected a number of milliseconds, got "soon"/],
  ] as const) {
    const r = spawnSync(process.execPath, ['bin/tandem', 'serve', '--state-dir', join(tmpdir(), 'tandem-unused'), ...args], {
      cwd: repo,
      env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: tmpdir() },
      encoding: 'utf8',
      timeout: 20_000,
    });
    t.equal(r.status, 1, `${args.join(' ')} exits 1`);
    t.match(r.stderr, message);
  }
});

t.test('every flag the shipped manifests pass to serve exists', async (t) => {
  const { spawnSync } = await import('node:child_process');
  const help = spawnSync(process.execPath, ['bin/tandem', 'serve', '--help'], { cwd: repo, encoding: 'utf8' });
  t.equal(help.status, 0);
  const files = ['manifests/base/deployment.yaml', 'manifests/overlays/cert-manager/deployment-files-mode.yaml'];
  let seen = 0;
  for (const file of files) {
    const flags = [...readFileSync(join(repo, file), 'utf8').matchAll(/^\s*- (--[a-z-]+)(=|$)/gm)].map((m) => m[1] as string);
    t.ok(flags.length > 0, `${file} passes flags`);
    for (const flag of flags) {
      seen++;
      t.match(help.stdout, new RegExp(`\\s${flag}[ ,=]`), `${file}: serve knows ${flag}`);
    }
  }
  t.ok(seen >= 3);
});
