import type { Server as HttpsServer } from 'node:https';
import Fastify, { type FastifyError, type FastifyInstance } from 'fastify';
import { watchCertDir, type CertReloader } from '../certs/reloader.js';
import type { ServingCert } from '../certs/inspect.js';
import { silentLogger, type Logger } from '../common/logger.js';
import type { TandemMetrics } from '../common/metrics.js';
import type { Injector } from '../inject/injector.js';
import type { InjectFn } from './admission.js';
import { createAdmitter, type Admitter } from './answer.js';
import type { AdmissionCacheOptions } from './cache.js';
import { oneLine, sendError } from './replies.js';
import { validateRoutes } from './routes/validate.js';
import { injectRoutes } from './routes/inject.js';

export interface WebhookServerOptions {
  /** default 0.0.0.0 */
  host?: string;
  /** default 15017; 0 picks a free port */
  port?: number;
  /** directory with tls.crt and tls.key (and optionally ca.crt); watched for rotation */
  certDir: string;
  injector: Injector;
  /** one line per admission and the certificate's life; silent when not given (commands pass createLogger's) */
  log?: Logger;
  /** Service the certificate should name (`<service>.<namespace>.svc`); only a warning otherwise */
  service?: string;
  namespace?: string;
  /** watcher debounce and poll period, see watchCertDir */
  reloadDebounceMs?: number;
  reloadPollMs?: number;
  /** replaces injectPod (tests) */
  inject?: InjectFn;
  /** bounds of the admission answer cache (default 1024 answers, 16 Mi characters), or false for none */
  cache?: AdmissionCacheOptions | false;
  /** where admissions and the serving certificate's expiry are recorded; none by default */
  metrics?: TandemMetrics;
}

export interface WebhookServer {
  url: string;
  port: number;
  app: FastifyInstance<HttpsServer>;
  /** the certificate reloader (its current() is the pair served to new connections) */
  certs: CertReloader;
  /** answers admissions; its cache (when on) shows hits and misses */
  admitter: Admitter;
  /**
   * Starts draining: every answer from now on carries `Connection: close`, so that a client holding
   * a kept-alive connection (the apiserver) opens its next one through the Service, to a ready
   * replica, instead of sending it here until the listener closes. Still serving meanwhile.
   */
  drain(): void;
  close(): Promise<void>;
}

export const DEFAULT_WEBHOOK_PORT = 15017;
// An AdmissionReview carries the object (and for updates the old one); Kubernetes caps
// objects at about 1.5 MiB in etcd, so this leaves room without inviting abuse.
const BODY_LIMIT = 8 * 1024 * 1024;
const REQUEST_TIMEOUT_MS = 10_000;

/** The label of the serving certificate in tandem_cert_expiry_timestamp_seconds. */
export const SERVING_CERT_METRIC_FILE = 'tls.crt';

function certLog(cert: ServingCert): Record<string, unknown> {
  return { serial: cert.info.serialNumber, notAfter: cert.info.notAfter.toISOString(), dnsNames: cert.info.dnsNames };
}

/**
 * Starts the admission webhook over HTTPS. The serving pair is read (and validated, UserError
 * on failure) from `certDir` and hot-swapped into the TLS server when the files change, so new
 * connections get the new certificate while established ones finish undisturbed.
 *
 * Each admission route is one Fastify plugin in webhook/routes/, with its own body parser and
 * error handler. Adding one (the validating webhook's `/validate`) is a file beside
 * routes/inject.ts and one `app.register(...)` line below; the host does not change otherwise.
 */
export async function startWebhookServer(opts: WebhookServerOptions): Promise<WebhookServer> {
  const log = opts.log ?? silentLogger;
  const metrics = opts.metrics;
  const admitter = createAdmitter({
    injector: opts.injector,
    ...(opts.inject ? { inject: opts.inject } : {}),
    ...(opts.cache !== undefined ? { cache: opts.cache } : {}),
  });

  let app: FastifyInstance<HttpsServer> | undefined;
  const certs = await watchCertDir({
    dir: opts.certDir,
    ...(opts.service !== undefined ? { service: opts.service } : {}),
    ...(opts.namespace !== undefined ? { namespace: opts.namespace } : {}),
    ...(opts.reloadDebounceMs !== undefined ? { debounceMs: opts.reloadDebounceMs } : {}),
    ...(opts.reloadPollMs !== undefined ? { pollMs: opts.reloadPollMs } : {}),
    onReload: (cert) => {
      try {
        app?.server.setSecureContext({ key: cert.keyPem, cert: cert.certPem });
        metrics?.setCertExpiry(SERVING_CERT_METRIC_FILE, cert.info.notAfter);
        log.info({ certDir: opts.certDir, ...certLog(cert) }, 'serving certificate reloaded');
        for (const w of cert.warnings) log.warn({}, w);
      } catch (err) {
        log.error({ err }, 'cannot install the reloaded certificate; keeping the previous one');
      }
    },
    onError: (err) => log.warn({ certDir: opts.certDir, reason: oneLine(err.message) }, 'certificate change ignored: new files are invalid; still serving the previous certificate'),
  });
  const initial = certs.current();
  for (const w of initial.warnings) log.warn({}, w);
  metrics?.setCertExpiry(SERVING_CERT_METRIC_FILE, initial.info.notAfter);

  try {
    app = Fastify({
      // Slow senders: the apiserver sends a whole AdmissionReview at once and gives up after the
      // webhook's timeoutSeconds (10 s in our manifests, 30 s at most), so a request not received
      // within REQUEST_TIMEOUT_MS is an attack or a dead peer. Node checks the timeouts only every
      // connectionsCheckingInterval (30 s by default), hence 1 s: a dribbling client is cut off
      // within 11 s (408) instead of 60-90 s for headers and never for a body.
      https: {
        key: initial.keyPem,
        cert: initial.certPem,
        minVersion: 'TLSv1.2',
        handshakeTimeout: REQUEST_TIMEOUT_MS,
        headersTimeout: REQUEST_TIMEOUT_MS,
        connectionsCheckingInterval: 1000,
      },
      requestTimeout: REQUEST_TIMEOUT_MS,
      // A client that completes the TLS handshake and then sends nothing is no request yet, so
      // neither timeout above applies, and Node closes such a socket never (server.timeout is 0
      // by default): it would hold a file descriptor and a TLS session for good. Inactivity on a
      // socket for this long closes it (kept-alive idle connections keep their own timeout).
      connectionTimeout: REQUEST_TIMEOUT_MS,
      // The routes log through `log` themselves, one line per admission. Fastify's own request
      // logging would add a child logger and response listeners to every request for lines that
      // are switched off anyway.
      logger: false,
      bodyLimit: BODY_LIMIT,
      return503OnClosing: true,
      // coercion would turn a numeric uid into a string instead of rejecting the review
      ajv: { customOptions: { coerceTypes: false, removeAdditional: false } },
    }) as unknown as FastifyInstance<HttpsServer>;

    // Errors outside an admission route (each route plugin sets its own handler).
    app.setErrorHandler((err: FastifyError, request, reply) => sendError(err, request.url, reply, log));

    // The admission routes, one plugin each.
    await app.register(injectRoutes, { admitter, log, metrics });
    await app.register(validateRoutes, { log });

    app.get('/healthz', async () => 'ok');
    app.get('/readyz', async () => 'ok');

    await app.listen({ host: opts.host ?? '0.0.0.0', port: opts.port ?? DEFAULT_WEBHOOK_PORT });
  } catch (err) {
    certs.close();
    await app?.close();
    throw err;
  }
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : (opts.port ?? DEFAULT_WEBHOOK_PORT);
  const host = opts.host ?? '0.0.0.0';
  const urlHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
  const url = `https://${urlHost}:${port}`;
  log.info({ url, certDir: opts.certDir, ...certLog(initial) }, 'webhook listening');
  const server = app;
  let draining = false;
  return {
    url,
    port,
    app: server,
    certs,
    admitter,
    drain: () => {
      if (draining) return;
      draining = true;
      // Ahead of Fastify's own listener, and only once draining: admissions before pay nothing for it.
      server.server.prependListener('request', (_req, res) => res.setHeader('connection', 'close'));
    },
    close: async () => {
      certs.close();
      await server.close();
    },
  };
}
