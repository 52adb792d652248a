import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/**
 * Real TCP across network namespaces, for the capture tests (`tandem iptables` and the CNI plugin):
 * origdst.py listeners that answer with where a connection landed and its SO_ORIGINAL_DST, and a
 * dialer that reads that answer from inside a namespace, optionally as the proxy's uid/gid 1337.
 */
const ORIGDST = fileURLToPath(new URL('./origdst.py', import.meta.url));
const python = ['/usr/bin/python3', '/usr/local/bin/python3'].find((p) => existsSync(p)) ?? 'python3';

/** What origdst.py answers: which listener took the connection, on which port, and the original destination. */
export interface Landing {
  ns: string;
  port: number;
  orig: string;
}

/** Connects from `ns` to host:port and returns where it landed, or a one-line reason it did not. */
export function dial(ns: string, host: string, port: number, asProxy = false): Landing | string {
  const who = asProxy ? ['setpriv', '--reuid', '1337', '--regid', '1337', '--clear-groups'] : [];
  const r = spawnSync('ip', ['netns', 'exec', ns, ...who, 'timeout', '5', 'bash', '-c', `exec 3<>/dev/tcp/${host}/${port} && cat <&3`], { encoding: 'utf8' });
  const out = r.stdout.trim();
  try {
    return JSON.parse(out) as Landing;
  } catch {
    return `exit ${r.status}: ${out} ${r.stderr.trim()}`;
  }
}

/** Starts an origdst.py listener named `name` in `ns` on `ports`; `ready` resolves once it listens. */
export function startOrigDstServer(ns: string, name: string, ports: number[]): { child: ChildProcess; ready: Promise<void> } {
  const child = spawn('ip', ['netns', 'exec', ns, python, ORIGDST, name, ...ports.map(String)], { stdio: ['pipe', 'pipe', 'pipe'] });
  const ready = new Promise<void>((resolve, reject) => {
    let out = '';
    let err = '';
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('READY')) resolve();
    });
    child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
    child.on('exit', (code) => reject(new Error(`listener ${name} exited ${code}: ${err}`)));
  });
  return { child, ready };
}
