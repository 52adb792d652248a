import type { V1Lifecycle } from '@kubernetes/client-node';
import { LRUCache } from 'lru-cache';

/**
 * The proxy's lifecycle hooks, for a stock Envoy image (no pilot-agent, no
 * curl or wget): bash's /dev/tcp does the HTTP/1.1 (Envoy refuses HTTP/1.0 by
 * default). The official envoyproxy/envoy
 * images are Ubuntu-based and ship bash; the distroless variant has no shell
 * and cannot run these hooks.
 */
export const READY_PORT = 15021;
export const READY_PATH = '/healthz/ready';
export const ADMIN_PORT = 15000;
/** How long postStart waits for readiness before failing (the kubelet then restarts the proxy); pilot-agent wait's default. */
export const HOLD_TIMEOUT_SECONDS = 60;

/**
 * A bash script that returns once `GET http://127.0.0.1:<port><path>` answers
 * 200, polling every second, and fails after `timeoutSeconds`. The request runs
 * in a subshell so that a refused connection is a failed attempt, not the end
 * of the script.
 */
export function waitReadyScript(port = READY_PORT, path = READY_PATH, timeoutSeconds = HOLD_TIMEOUT_SECONDS): string {
  return [
    `for _ in {1..${timeoutSeconds}}; do`,
    `  if (exec 3<>/dev/tcp/127.0.0.1/${port} && printf 'GET ${path} HTTP/1.1\\r\\nHost: 127.0.0.1\\r\\nConnection: close\\r\\n\\r\\n' >&3 && read -r status <&3 && [[ $status == *' 200 '* ]]) 2>/dev/null; then exit 0; fi`,
    '  sleep 1',
    'done',
    `echo "proxy not ready on :${port}${path} after ${timeoutSeconds}s" >&2`,
    'exit 1',
  ].join('\n');
}

/**
 * A bash script for preStop: ask Envoy to drain its inbound listeners
 * gracefully (connections get Connection: close / GOAWAY, as pilot-agent does
 * on SIGTERM), then keep the container alive for the drain duration, since a
 * bare Envoy exits at once on SIGTERM.
 */
export function drainScript(seconds: number, adminPort = ADMIN_PORT): string {
  return [
    `(exec 3<>/dev/tcp/127.0.0.1/${adminPort} && printf 'POST /drain_listeners?inboundonly&graceful HTTP/1.1\\r\\nHost: 127.0.0.1\\r\\nContent-Length: 0\\r\\nConnection: close\\r\\n\\r\\n' >&3 && read -r _ <&3) 2>/dev/null`,
    `sleep ${seconds}`,
  ].join('\n');
}

// Boxed: lru-cache keeps no undefined values, and "no lifecycle" is an answer worth keeping.
const memo = new LRUCache<string, { lifecycle: V1Lifecycle | undefined }>({ max: 64 });

/**
 * The proxy's lifecycle: always a draining preStop; a readiness-waiting
 * postStart when it must hold the app (classic sidecar). Shared per settings:
 * the template engine copies values into each pod.
 */
export function proxyLifecycle(opts: { hold: boolean; drainSeconds: number }): V1Lifecycle | undefined {
  const key = `${opts.hold}/${opts.drainSeconds}`;
  let hit = memo.get(key);
  if (hit === undefined) memo.set(key, (hit = { lifecycle: buildLifecycle(opts) }));
  return hit.lifecycle;
}

function buildLifecycle(opts: { hold: boolean; drainSeconds: number }): V1Lifecycle | undefined {
  const lc: V1Lifecycle = {};
  if (opts.hold) lc.postStart = { exec: { command: ['bash', '-c', waitReadyScript()] } };
  if (opts.drainSeconds > 0) lc.preStop = { exec: { command: ['bash', '-c', drainScript(opts.drainSeconds)] } };
  return lc.postStart || lc.preStop ? lc : undefined;
}
