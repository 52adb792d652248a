import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Test } from 'tap';

/**
 * The compiled `tandem` processes, started as an operator would (`node bin/tandem …`), on
 * ephemeral loopback ports. Black-box on purpose: these tests import nothing from webhook/,
 * control-plane/ or cli/, so they keep meaning the same while those folders are reorganised.
 */
export const repo = fileURLToPath(new URL('../../', import.meta.url));
const BIN = join(repo, 'bin', 'tandem');

export interface Running {
  child: ChildProcessWithoutNullStreams;
  pid: number;
  /** everything the process wrote to stderr so far (its pino log) */
  stderr(): string;
  exit: Promise<number | null>;
}

/** A clean environment: no kubeconfig is found (HOME is an empty directory), nothing inherited leaks in. */
export function cleanEnv(home: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: home, ...extra };
}

export function tempDir(t: Test, prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), `tandem-rel-${prefix}-`));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Starts `tandem ARGS`; the process is SIGKILLed at teardown if it is still running. */
export function start(t: Test, args: string[], env: NodeJS.ProcessEnv): Running {
  const child = spawn(process.execPath, [BIN, ...args], { cwd: repo, env });
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  child.stdout.on('data', (d: Buffer) => (err += d.toString()));
  const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  if (child.pid === undefined) throw new Error(`could not spawn tandem ${args.join(' ')}`);
  return { child, pid: child.pid, stderr: () => err, exit };
}

/** Waits until `pattern` appears in the process output; fails loudly with the output if it exits or times out. */
export async function waitForOutput(p: Running, pattern: RegExp, what: string, timeoutMs = 30_000): Promise<RegExpExecArray> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const m = pattern.exec(p.stderr());
    if (m) return m;
    if (p.child.exitCode !== null || Date.now() > deadline) throw new Error(`${what} did not appear (exit ${p.child.exitCode}):\n${p.stderr()}`);
    await sleep(25);
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export interface CertDir {
  dir: string;
  ca: Buffer;
}

/** `tandem certs init --local`: a CA and a serving certificate valid for localhost and 127.0.0.1. */
export function certsInit(dir: string, extra: string[] = []): CertDir {
  const r = spawnSync(process.execPath, [BIN, 'certs', 'init', '--dir', dir, '--local', '-o', 'json', ...extra], { cwd: repo, encoding: 'utf8', env: cleanEnv(dir) });
  if (r.status !== 0) throw new Error(`tandem certs init failed (${r.status}): ${r.stderr}`);
  return { dir, ca: readFileSync(join(dir, 'ca.crt')) };
}

export interface Webhook extends Running {
  port: number;
  monitoring: number;
  ca: Buffer;
  certDir: string;
}

/** `tandem webhook --cert-dir D` on loopback with fresh certificates. */
export async function startWebhook(t: Test, extra: string[] = []): Promise<Webhook> {
  const dir = tempDir(t, 'webhook');
  const certs = certsInit(dir);
  const p = start(t, ['webhook', '--cert-dir', dir, '--host', '127.0.0.1', '--port', '0', '--monitoring-port', '0', ...extra], cleanEnv(dir));
  const hook = await waitForOutput(p, /"url":"https:\/\/127\.0\.0\.1:(\d+)"/, 'the webhook listening line');
  const mon = await waitForOutput(p, /"url":"http:\/\/127\.0\.0\.1:(\d+)"/, 'the monitoring listening line');
  return { ...p, port: Number(hook[1]), monitoring: Number(mon[1]), ca: certs.ca, certDir: dir };
}

export interface Serve extends Running {
  webhook: number;
  xds: number;
  secure: number;
  monitoring: number;
  state: string;
}

/** `tandem serve --state-dir D` on embedded defaults (or what `extra` says), ephemeral ports. */
export async function startServe(t: Test, extra: string[] = [], env: Record<string, string> = {}, state = tempDir(t, 'serve')): Promise<Serve> {
  const p = start(t, ['serve', '--state-dir', state, '--webhook-port', '0', '--xds-port', '0', '--secure-port', '0', '--monitoring-port', '0', ...extra], cleanEnv(state, env));
  // It creates three key pairs (webhook CA and serving pair, mesh CA) before the banner: seconds of
  // CPU, which on a shared, loaded machine has taken more than 30 s of wall time.
  const m = await waitForOutput(p, /webhook https:\/\/127\.0\.0\.1:(\d+)\/inject, xDS 127\.0\.0\.1:(\d+) \(TLS 127\.0\.0\.1:(\d+)\), metrics http:\/\/127\.0\.0\.1:(\d+)\/metrics/, 'the serve banner', 90_000);
  return { ...p, webhook: Number(m[1]), xds: Number(m[2]), secure: Number(m[3]), monitoring: Number(m[4]), state };
}

/** VmRSS of a process in KiB, from /proc (Linux). */
export function rssKiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = /^VmRSS:\s+(\d+) kB/m.exec(status);
  if (!m) throw new Error(`no VmRSS in /proc/${pid}/status`);
  return Number(m[1]);
}

export interface HttpReply {
  status: number;
  body: string;
}

/** GET on a plain-HTTP port (monitoring). */
export function httpGet(port: number, path: string): Promise<HttpReply> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** The value of the first sample of a Prometheus text exposition matching `series`; NaN when absent. */
export function metric(text: string, series: RegExp): number {
  const line = text.split('\n').find((l) => series.test(l));
  return line === undefined ? NaN : Number(line.slice(line.lastIndexOf(' ') + 1));
}
