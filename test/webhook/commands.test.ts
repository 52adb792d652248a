import t from 'tap';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureCerts } from '../../certs/ensure.js';
import { call, review } from './helpers.js';

/** The compiled CLI, as users run it (`npm test` compiles first; for one file run `npx tsc -p .`). */
const root = fileURLToPath(new URL('../../', import.meta.url));
const bin = join(root, 'bin/tandem');

function tandem(args: string[]): ChildProcess {
  // tap re-injects its loaders (NODE_OPTIONS) into child processes; `env -i` runs the CLI as users do.
  return spawn('env', ['-i', `PATH=${process.env.PATH ?? ''}`, process.execPath, bin, ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
}

function exited(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}

t.before(() => {
  if (!existsSync(join(root, 'dist/webhook/commands.js'))) throw new Error('dist/ is missing: run `npx tsc -p .` first');
});

t.test('tandem webhook serves admissions and stops cleanly on SIGTERM', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'tandem-webhook-cli-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const certs = await ensureCerts({ dir });
  const child = tandem(['webhook', '--host', '127.0.0.1', '--port', '0', '--monitoring-port', '0', '--cert-dir', dir]);
  const exit = exited(child);
  t.teardown(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  let stderr = '';
  const url = await new Promise<string>((resolve, reject) => {
    child.stderr!.on('data', (d: Buffer) => {
      stderr += d.toString();
      const m = /"url":"(https:\/\/127\.0\.0\.1:\d+)"[^\n]*"msg":"webhook listening"/.exec(stderr);
      if (m) resolve(m[1]!);
    });
    void exit.then((code) => reject(new Error(`exited ${code}: ${stderr}`)));
  });
  const res = await call(url, '/inject', JSON.stringify(review({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' }, spec: { containers: [{ name: 'app', image: 'nginx' }] } })), { ca: certs.caPem });
  t.equal(res.status, 200);
  t.equal((res.json as { response: { patchType?: string } }).response.patchType, 'JSONPatch');
  t.match(stderr, /"msg":"webhook listening"/);
  const announced = /"url":"(http:\/\/127\.0\.0\.1:\d+)","msg":"monitoring listening"/;
  for (let i = 0; i < 200 && !announced.test(stderr); i++) await new Promise((r) => setTimeout(r, 25));
  const monitoring = announced.exec(stderr)?.[1];
  t.ok(monitoring, 'the monitoring port is announced');
  const metrics = await (await fetch(`${monitoring}/metrics`)).text();
  t.match(metrics, /^tandem_admissions_total\{result="injected",reason="[^"]+"\} 1$/m, 'the admission is counted on /metrics');
  child.kill('SIGTERM');
  t.equal(await exit, 0, 'exit 0 after SIGTERM');
  t.match(stderr, /"decision":"inject"/, 'the admission was logged (JSON on stderr)');
});

t.test('tandem webhook: bad certificate directory or flag is a user error (exit 1)', async (t) => {
  const missing = tandem(['webhook', '--port', '0', '--cert-dir', '/nonexistent/certs']);
  let err = '';
  missing.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  t.equal(await exited(missing), 1);
  t.match(err, /^tandem: cannot read \/nonexistent\/certs\/tls\.crt \(ENOENT\)$/m);

  const badPort = tandem(['webhook', '--port', 'http', '--cert-dir', '/tmp']);
  let err2 = '';
  badPort.stderr!.on('data', (d: Buffer) => (err2 += d.toString()));
  t.equal(await exited(badPort), 1);
  t.match(err2, /expected a port number \(0-65535\), got "http"/);
});
