import type { Server as HttpsServer } from 'node:https';
import Fastify, { type FastifyError, type FastifyInstance, type RouteShorthandOptionsWithHandler } from 'fastify';
import { pino, type DestinationStream, type LoggerOptions, type Logger } from 'pino';
import { watchCertDir, type CertReloader } from '../certs/reloader.js';
import type { ServingCert } from '../certs/inspect.js';
import type { TandemMetrics } from '../common/metrics.js';
import { createAdmitter, type AdmissionAnswer, type Admitter } from './admission-answer.js';
import type { AdmissionCacheOptions } from './admission-cache.js';
import { admissionReviewSchema, metricResult, type AdmissionReviewRequest, type InjectFn } from './admission.js';
import type { Injector } from './injector.js';

export interface WebhookServerOptions {
  /** default 0.0.0.0 */
  host?: string;
  /** default 15017; 0 picks a free port */
  port?: number;
  /** directory with tls.crt and tls.key (and optionally ca.crt); watched for rotation */
  certDir: string;
  injector: Injector;
  /** pino options, or false for no logs; logs go to stderr unless `logDestination` is given */
  logger?: LoggerOptions | false;
  logDestination?: DestinationStream;
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
  close(): Promise<void>;
}

export const DEFAULT_WEBHOOK_PORT = 15017;
// An AdmissionReview carries the object (and for updates the old one); Kubernetes caps
// objects at about 1.5 MiB in etcd, so this leaves room without inviting abuse.
const BODY_LIMIT = 8 * 1024 * 1024;
const REQUEST_TIMEOUT_MS = 10_000;
const JSON_TYPE = 'application/json; charset=utf-8';
const LOG_BATCH_BYTES = 4096;
const LOG_FLUSH_MS = 1000;

function flushQuietly(dest: ReturnType<typeof pino.destination>): void {
  try {
    dest.flush();
  } catch {
    // not ready or already writing: the next tick of the timer will do
  }
}

const STATE = Symbol('tandem.admission');
interface AdmissionState {
  /** performance.now() when the request was routed */
  start: number;
  /** the body text, when it was parsed (the answer cache keys on it) */
  raw?: string;
  /** the answer, when the cache had it */
  hit?: AdmissionAnswer;
}

/** The label of the serving certificate in tandem_cert_expiry_timestamp_seconds. */
export const SERVING_CERT_METRIC_FILE = 'tls.crt';
/** The reason label of requests that failed inside the server, outside the injector. */
export const INTERNAL_ERROR_RULE = 'server-error';
/** The reason label of requests answered 400 (or 413, 415) before any admission logic ran. */
export const BAD_REQUEST_RULE = 'bad-request';

/** Turns Fastify's body errors into the one-line 400 reasons the apiserver will log. */
function badRequestReason(err: FastifyError): string | undefined {
  if (err.validation) return `invalid AdmissionReview: ${err.message}`;
  switch (err.code) {
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return 'unsupported content-type: expected application/json';
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return 'empty body: expected an AdmissionReview';
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return `body is not valid JSON: ${err.message}`;
    default:
      if (err instanceof SyntaxError) return `body is not valid JSON: ${err.message}`;
      return undefined;
  }
}

function oneLine(s: string): string {
  return s.replace(/\s*\n\s*/g, ' ');
}

function certLog(cert: ServingCert): Record<string, unknown> {
  return { serial: cert.info.serialNumber, notAfter: cert.info.notAfter.toISOString(), dnsNames: cert.info.dnsNames };
}

/**
 * Starts the admission webhook over HTTPS. The serving pair is read (and validated, UserError
 * on failure) from `certDir` and hot-swapped into the TLS server when the files change, so new
 * connections get the new certificate while established ones finish undisturbed.
 */
export async function startWebhookServer(opts: WebhookServerOptions): Promise<WebhookServer> {
  // stderr is written in batches: a write(2) per admission line cost more than the rest of a cached
  // admission. A timer bounds how long a line waits; pino flushes the rest at exit.
  const stderr = opts.logger === false || opts.logDestination ? undefined : pino.destination({ dest: 2, sync: false, minLength: LOG_BATCH_BYTES });
  const flushTimer = stderr ? setInterval(() => flushQuietly(stderr), LOG_FLUSH_MS).unref() : undefined;
  const log: Logger = opts.logger === false
    ? pino({ level: 'silent' })
    : pino({ level: 'info', ...(opts.logger ?? {}) }, opts.logDestination ?? stderr);
  const metrics = opts.metrics;
  const admitter = createAdmitter({
    injector: opts.injector,
    ...(opts.inject ? { inject: opts.inject } : {}),
    ...(opts.cache !== undefined ? { cache: opts.cache } : {}),
  });
  // Per-request state lives on the request itself: WeakMaps made every admission pay for
  // ephemeron processing in the garbage collector.
  const stateOf = (request: object): AdmissionState => {
    const r = request as { [STATE]?: AdmissionState | null };
    return (r[STATE] ??= { start: performance.now() });
  };
  const elapsedSince = (request: object): number => performance.now() - stateOf(request).start;

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
        for (const w of cert.warnings) log.warn(w);
      } catch (err) {
        log.error({ err }, 'cannot install the reloaded certificate; keeping the previous one');
      }
    },
    onError: (err) => log.warn({ certDir: opts.certDir, reason: oneLine(err.message) }, 'certificate change ignored: new files are invalid; still serving the previous certificate'),
  });
  const initial = certs.current();
  for (const w of initial.warnings) log.warn(w);
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
      // The routes log through `log` themselves, one line per admission. Fastify's own request
      // logging would add a child logger and response listeners to every request for lines that
      // are switched off anyway.
      logger: false,
      bodyLimit: BODY_LIMIT,
      return503OnClosing: true,
      // coercion would turn a numeric uid into a string instead of rejecting the review
      ajv: { customOptions: { coerceTypes: false, removeAdditional: false } },
    }) as unknown as FastifyInstance<HttpsServer>;

    // Only JSON is an AdmissionReview; without this, text/plain bodies reach the schema as strings.
    app.removeContentTypeParser('text/plain');
    app.decorateRequest(STATE, null);
    // Fastify's own JSON parsing (with its prototype-poisoning checks), keeping the text it parsed.
    const parseJson = app.getDefaultJsonParser('error', 'error');
    app.removeContentTypeParser('application/json');
    app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, payload, done) => {
      const text = payload as string;
      // A body answered before but for its uid is not parsed again (admission-cache.ts says why
      // that is exact); the schema still checks a stand-in carrying its apiVersion and uid.
      const hit = admitter.cached(text);
      if (hit !== undefined) {
        const stub = { apiVersion: hit.apiVersion, kind: 'AdmissionReview', request: { uid: hit.uid, object: {} } };
        stateOf(request).hit = hit;
        done(null, stub);
        return;
      }
      parseJson(request, text, (err, body) => {
        if (!err) stateOf(request).raw = text;
        done(err, body);
      });
    });

    app.setErrorHandler((err: FastifyError, request, reply) => {
      const reason = badRequestReason(err);
      const admission = request.routeOptions.url?.startsWith('/inject') === true;
      if (reason !== undefined) {
        const message = oneLine(reason);
        log.info({ decision: 'reject', reason: message, url: request.url }, 'admission');
        if (admission) metrics?.recordAdmission('error', BAD_REQUEST_RULE, elapsedSince(request) / 1000);
        return reply.code(400).send({ statusCode: 400, error: 'Bad Request', message });
      }
      const code = err.statusCode && err.statusCode >= 400 ? err.statusCode : 500;
      if (admission) metrics?.recordAdmission('error', code >= 500 ? INTERNAL_ERROR_RULE : BAD_REQUEST_RULE, elapsedSince(request) / 1000);
      if (code >= 500) log.error({ err, url: request.url }, 'request failed');
      return reply.code(code).send({ statusCode: code, error: code >= 500 ? 'Internal Server Error' : 'Request Error', message: oneLine(err.message) });
    });

    const route: RouteShorthandOptionsWithHandler<HttpsServer> = {
      // No response schema: the answer is text already (admission-answer.ts writes it).
      schema: { body: admissionReviewSchema },
      // Fastify without a logger does not time requests (reply.elapsedTime stays 0).
      onRequest: (request, _reply, done) => {
        (request as { [STATE]?: AdmissionState | null })[STATE] = { start: performance.now() };
        done();
      },
      handler: async (request, reply) => {
        const body = request.body as AdmissionReviewRequest;
        const state = stateOf(request);
        const result = state.hit ?? admitter.answer(body, state.raw);
        const elapsedMs = elapsedSince(request);
        const durationMs = Math.round(elapsedMs * 1000) / 1000;
        const l = result.log;
        if (result.error) log.error({ uid: body.request.uid, ...l, durationMs, err: result.error }, 'admission');
        else if (result.cached) log.info({ uid: body.request.uid, ...l, durationMs, cached: true }, 'admission');
        else log.info({ uid: body.request.uid, ...l, durationMs }, 'admission');
        metrics?.recordAdmission(metricResult(l.decision), l.rule, elapsedMs / 1000);
        // Templates are validated at load, so a throw from the injector at admission time is a
        // rendering failure (the pod is let through unchanged with a warning).
        if (result.error) metrics?.recordTemplateRenderError();
        reply.header('content-type', JSON_TYPE);
        return result.text;
      },
    };
    // Istio's injector also serves /inject/cluster/<c>/net/<n>; the parameters are not needed here.
    app.post('/inject', route);
    app.post('/inject/', route);
    app.post('/inject/*', route);
    app.get('/healthz', async () => 'ok');
    app.get('/readyz', async () => 'ok');

    await app.listen({ host: opts.host ?? '0.0.0.0', port: opts.port ?? DEFAULT_WEBHOOK_PORT });
  } catch (err) {
    certs.close();
    if (flushTimer) clearInterval(flushTimer);
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
  return {
    url,
    port,
    app: server,
    certs,
    admitter,
    close: async () => {
      certs.close();
      await server.close();
      if (flushTimer) clearInterval(flushTimer);
      if (stderr) flushQuietly(stderr);
    },
  };
}
