import type { Server as HttpsServer } from 'node:https';
import Fastify, { LogController, type FastifyError, type FastifyInstance, type RouteShorthandOptionsWithHandler } from 'fastify';
import { pino, type DestinationStream, type LoggerOptions, type Logger } from 'pino';
import { watchCertDir, type CertReloader } from '../certs/reloader.js';
import type { ServingCert } from '../certs/inspect.js';
import {
  admissionReviewSchema,
  admit,
  type AdmissionReviewRequest,
  type InjectFn,
} from './admission.js';
import { injectPod, type Injector } from './injector.js';

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
}

export interface WebhookServer {
  url: string;
  port: number;
  app: FastifyInstance<HttpsServer>;
  /** the certificate reloader (its current() is the pair served to new connections) */
  certs: CertReloader;
  close(): Promise<void>;
}

export const DEFAULT_WEBHOOK_PORT = 15017;
// An AdmissionReview carries the object (and for updates the old one); Kubernetes caps
// objects at about 1.5 MiB in etcd, so this leaves room without inviting abuse.
const BODY_LIMIT = 8 * 1024 * 1024;

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
  const logger: Logger | undefined = opts.logger === false
    ? undefined
    : pino({ level: 'info', ...(opts.logger ?? {}) }, opts.logDestination ?? pino.destination(2));
  const log = logger ?? pino({ level: 'silent' });
  const inject = opts.inject ?? injectPod;
  const injector = opts.injector;

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

  try {
    app = Fastify({
      https: { key: initial.keyPem, cert: initial.certPem, minVersion: 'TLSv1.2' },
      ...(logger ? { loggerInstance: logger } : { logger: false }),
      // one line per admission is written by the route itself; Fastify's request/response pair would triple it
      logController: new LogController({ disableRequestLogging: true }),
      bodyLimit: BODY_LIMIT,
      return503OnClosing: true,
      // coercion would turn a numeric uid into a string instead of rejecting the review
      ajv: { customOptions: { coerceTypes: false, removeAdditional: false } },
    }) as unknown as FastifyInstance<HttpsServer>;

    // Only JSON is an AdmissionReview; without this, text/plain bodies reach the schema as strings.
    app.removeContentTypeParser('text/plain');

    app.setErrorHandler((err: FastifyError, request, reply) => {
      const reason = badRequestReason(err);
      if (reason !== undefined) {
        const message = oneLine(reason);
        request.log.info({ decision: 'reject', reason: message, url: request.url }, 'admission');
        return reply.code(400).send({ statusCode: 400, error: 'Bad Request', message });
      }
      const code = err.statusCode && err.statusCode >= 400 ? err.statusCode : 500;
      if (code >= 500) request.log.error({ err }, 'request failed');
      return reply.code(code).send({ statusCode: code, error: code >= 500 ? 'Internal Server Error' : 'Request Error', message: oneLine(err.message) });
    });

    const route: RouteShorthandOptionsWithHandler<HttpsServer> = {
      // No response schema: the answer is mostly one long base64 string, which V8's native
      // JSON.stringify writes faster than a compiled serializer that scans it for escapes.
      schema: { body: admissionReviewSchema },
      handler: async (request, reply) => {
        const result = admit(request.body as AdmissionReviewRequest, injector, inject);
        const durationMs = Math.round(reply.elapsedTime * 1000) / 1000;
        if (result.error) request.log.error({ ...result.log, durationMs, err: result.error }, 'admission');
        else request.log.info({ ...result.log, durationMs }, 'admission');
        return result.review;
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
    close: async () => {
      certs.close();
      await server.close();
    },
  };
}
