import type { Server as HttpsServer } from 'node:https';
import type { FastifyError, FastifyInstance, FastifyPluginAsync, RouteShorthandOptionsWithHandler } from 'fastify';
import type { Logger } from '../../common/logger.js';
import type { TandemMetrics } from '../../common/metrics.js';
import { admissionReviewSchema, metricResult, type AdmissionReviewRequest } from '../admission.js';
import type { AdmissionAnswer, Admitter } from '../answer.js';
import { errorStatus, sendError } from '../replies.js';

export interface InjectRouteOptions {
  admitter: Admitter;
  log: Logger;
  metrics?: TandemMetrics | undefined;
}

/** The reason label of requests that failed inside the server, outside the injector. */
export const INTERNAL_ERROR_RULE = 'server-error';
/** The reason label of requests answered 400 (or 413, 415) before any admission logic ran. */
export const BAD_REQUEST_RULE = 'bad-request';

const JSON_TYPE = 'application/json; charset=utf-8';

const STATE = Symbol('tandem.admission');
interface AdmissionState {
  /** performance.now() when the request was routed */
  start: number;
  /** the body text, when it was parsed (the answer cache keys on it) */
  raw?: string;
  /** the answer, when the cache had it */
  hit?: AdmissionAnswer;
}

/**
 * `POST /inject` (and Istio's `/inject/cluster/<c>/net/<n>` forms): the sidecar-injection
 * admission route, as a Fastify plugin. Registered without fastify-plugin, so its body parser
 * (which answers cache hits before parsing) and its error handler stay inside this route's context.
 */
export const injectRoutes: FastifyPluginAsync<InjectRouteOptions> = async (instance, opts) => {
  const app = instance as unknown as FastifyInstance<HttpsServer>;
  const { admitter, log, metrics } = opts;
  // Per-request state lives on the request itself: WeakMaps made every admission pay for
  // ephemeron processing in the garbage collector.
  const stateOf = (request: object): AdmissionState => {
    const r = request as { [STATE]?: AdmissionState | null };
    return (r[STATE] ??= { start: performance.now() });
  };
  const elapsedSince = (request: object): number => performance.now() - stateOf(request).start;

  // Only JSON is an AdmissionReview; without this, text/plain bodies reach the schema as strings.
  app.removeContentTypeParser('text/plain');
  app.decorateRequest(STATE, null);
  // Fastify's own JSON parsing (with its prototype-poisoning checks), keeping the text it parsed.
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, payload, done) => {
    const text = payload as string;
    // A body answered before but for its uid is not parsed again (cache.ts says why that is
    // exact); the schema still checks a stand-in carrying its apiVersion and uid.
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
    const code = errorStatus(err);
    metrics?.recordAdmission('error', code >= 500 ? INTERNAL_ERROR_RULE : BAD_REQUEST_RULE, elapsedSince(request) / 1000);
    return sendError(err, request.url, reply, log);
  });

  const route: RouteShorthandOptionsWithHandler<HttpsServer> = {
    // No response schema: the answer is text already (answer.ts writes it).
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
};
