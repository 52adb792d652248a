import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { UserError } from './errors.js';
import { getMetrics, type TandemMetrics } from './metrics.js';

/**
 * The plain-HTTP monitoring port (Istio's 15014): Prometheus scrapes `/metrics`,
 * the kubelet probes `/healthz` (the process answers) and `/readyz` (it can do
 * its job: certificates loaded, registry synced). Kept on node:http, apart from
 * the webhook's server, so probes and scrapes never queue behind admissions and
 * keep answering while the webhook drains.
 */

export type Readiness = boolean | { ready: boolean; reason?: string };

export interface MonitoringOptions {
  /** Interface to bind; all interfaces when omitted (the kubelet probes the pod IP). */
  host?: string;
  /** 15014 by default; 0 picks a free port. */
  port?: number;
  /** Asked on every `/readyz`; a throw counts as not ready, with the error as reason. */
  ready: () => Readiness;
  /** The metrics to serve; the process-wide ones by default. */
  metrics?: TandemMetrics;
  /**
   * JSON debug endpoints by path (e.g. `/debug/syncz`), looked up per request so a part started
   * after the monitoring server can add its own; a handler returning undefined answers 404.
   */
  debug?: Readonly<Record<string, DebugHandler>>;
}

export type DebugHandler = (query: URLSearchParams) => unknown;

export interface MonitoringServer {
  /** The port actually bound (useful with port 0). */
  port: number;
  /** Stops listening and drops open connections (a scrape in flight is expendable). */
  close(): Promise<void>;
}

export const DEFAULT_MONITORING_PORT = 15014;

/**
 * Readiness as a set of named conditions (e.g. "certificates", "registry") that
 * all have to hold, plus draining: once shutdown starts, /readyz fails so the
 * endpoints controller takes the pod out of the Services while in-flight work
 * finishes. `check` is the `ready` callback for {@link startMonitoringServer}.
 */
export class ReadinessGate {
  /** unmet conditions, each with why it is unmet when known */
  private readonly pending: Map<string, string | undefined>;
  private draining = false;

  constructor(conditions: readonly string[]) {
    this.pending = new Map(conditions.map((c) => [c, undefined]));
  }

  /**
   * Marks a condition met (or no longer met, e.g. certificates that failed to reload); `why` says
   * what it is waiting for, and /readyz shows it, so that a probe event names the failing dependency.
   */
  set(condition: string, met: boolean, why?: string): void {
    if (met) this.pending.delete(condition);
    else this.pending.set(condition, why);
  }

  /** Not ready from now on, whatever the conditions say. */
  drain(): void {
    this.draining = true;
  }

  readonly check = (): { ready: boolean; reason?: string } => {
    if (this.draining) return { ready: false, reason: 'shutting down' };
    if (this.pending.size > 0) return { ready: false, reason: `waiting for ${[...this.pending].map(([c, why]) => (why ? `${c} (${why})` : c)).join(', ')}` };
    return { ready: true };
  };
}

export async function startMonitoringServer(options: MonitoringOptions): Promise<MonitoringServer> {
  const port = options.port ?? DEFAULT_MONITORING_PORT;
  const metrics = options.metrics ?? getMetrics();
  const server = createServer((req, res) => {
    void handle(req, res, options.ready, metrics, options.debug ?? {});
  });
  // Probes and scrapes are tiny; a slow or stuck client must not hold a socket for long.
  server.requestTimeout = 10_000;
  server.headersTimeout = 5_000;
  server.keepAliveTimeout = 5_000;
  // A connection that sends nothing at all is no request, so the two above never fire for it:
  // without an inactivity timeout (0 by default) it would stay open for good.
  server.timeout = 10_000;

  await new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      const where = `${options.host ?? '*'}:${port}`;
      if (err.code === 'EADDRINUSE') reject(new UserError(`monitoring port ${where} is already in use (choose another port)`, { cause: err }));
      else if (err.code === 'EACCES') reject(new UserError(`monitoring port ${where}: permission denied`, { cause: err }));
      else reject(err);
    };
    server.once('error', onError);
    server.listen({ host: options.host, port }, () => {
      server.off('error', onError);
      resolve();
    });
  });

  let closing: Promise<void> | undefined;
  return {
    port: (server.address() as AddressInfo).port,
    close() {
      closing ??= new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      });
      return closing;
    },
  };
}

async function handle(
  req: IncomingMessage,
  res: ServerResponse,
  ready: () => Readiness,
  metrics: TandemMetrics,
  debug: Readonly<Record<string, DebugHandler>>,
): Promise<void> {
  const [path = '/', query = ''] = (req.url ?? '/').split('?', 2);
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.setHeader('allow', 'GET, HEAD');
    return reply(res, 405, 'method not allowed\n');
  }
  switch (path) {
    case '/metrics':
      try {
        const body = await metrics.render();
        return reply(res, 200, body, metrics.contentType);
      } catch (err) {
        return reply(res, 500, `metrics collection failed: ${errorText(err)}\n`);
      }
    case '/healthz':
      return reply(res, 200, 'ok\n');
    case '/readyz': {
      const { ok, reason } = readiness(ready);
      return ok ? reply(res, 200, 'ok\n') : reply(res, 503, `not ready: ${reason}\n`);
    }
    default: {
      const h = Object.hasOwn(debug, path) ? debug[path] : undefined;
      if (!h) return reply(res, 404, 'not found\n');
      try {
        const body = h(new URLSearchParams(query));
        return body === undefined ? reply(res, 404, 'not found\n') : reply(res, 200, JSON.stringify(body, null, 2) + '\n', 'application/json');
      } catch (err) {
        return reply(res, 500, `${path} failed: ${errorText(err)}\n`);
      }
    }
  }
}

function readiness(ready: () => Readiness): { ok: boolean; reason: string } {
  try {
    const r = ready();
    if (typeof r === 'boolean') return { ok: r, reason: 'starting' };
    return { ok: r.ready, reason: r.reason ?? 'starting' };
  } catch (err) {
    return { ok: false, reason: errorText(err) };
  }
}

function reply(res: ServerResponse, status: number, body: string, contentType = 'text/plain; charset=utf-8'): void {
  res.writeHead(status, {
    'content-type': contentType,
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
  });
  res.end(res.req.method === 'HEAD' ? undefined : body);
}

function errorText(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  // One line: the reason goes into probe events and logs.
  return text.replace(/\s+/g, ' ').trim();
}
