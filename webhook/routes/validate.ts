import type { Server as HttpsServer } from 'node:https';
import type { FastifyError, FastifyInstance, FastifyPluginAsync } from 'fastify';
import type { Logger } from '../../common/logger.js';
import type { AdmissionDecision } from '../../config/validation/admission.js';
import { admissionReviewSchema, type AdmissionResponse, type AdmissionReviewRequest } from '../admission.js';
import { sendError } from '../replies.js';

export interface ValidateRouteOptions {
  log: Logger;
}

/**
 * `POST /validate`: the validating admission route for Istio config (the ValidatingWebhookConfiguration
 * `tandem-validator`), as a Fastify plugin beside `/inject`. The decision is config/validation's
 * `admitConfig`, the same code `tandem validate` and the config stores run; this plugin owns only the
 * AdmissionReview envelope: the request's apiVersion and uid echoed, a body it cannot take answered 400.
 */
// The validator (CRD schemas, the CEL and RE2 libraries) costs ~160 ms to load: loaded on the first
// /validate request, not at start-up, so `tandem webhook` and the injection path never pay for it.
let admitConfig: Promise<(request: unknown) => AdmissionDecision> | undefined;
const loadAdmitConfig = (): Promise<(request: unknown) => AdmissionDecision> =>
  (admitConfig ??= import('../../config/validation/admission.js').then((m) => m.admitConfig));

export const validateRoutes: FastifyPluginAsync<ValidateRouteOptions> = async (instance, opts) => {
  const app = instance as unknown as FastifyInstance<HttpsServer>;
  const { log } = opts;
  app.setErrorHandler((err: FastifyError, request, reply) => sendError(err, request.url, reply, log));
  const handler = async (request: { body: unknown }): Promise<object> => {
    const body = request.body as AdmissionReviewRequest;
    const start = performance.now();
    const decision = (await loadAdmitConfig())(body.request);
    const response: AdmissionResponse = { uid: body.request.uid, allowed: decision.allowed };
    // The apiserver shows status.message to the user who applied the object; 400 as Istio's webhook answers.
    if (!decision.allowed) response.status = { code: 400, message: decision.message ?? 'invalid', status: 'Failure', reason: 'BadRequest' };
    if (decision.warnings !== undefined) response.warnings = decision.warnings;
    const req = body.request as { kind?: { kind?: string }; namespace?: string; name?: string; operation?: string };
    log.info(
      {
        uid: body.request.uid,
        kind: req.kind?.kind,
        namespace: req.namespace,
        name: req.name,
        operation: req.operation,
        allowed: decision.allowed,
        ...(decision.allowed ? {} : { reason: decision.message }),
        durationMs: Math.round((performance.now() - start) * 1000) / 1000,
      },
      'validation',
    );
    return { apiVersion: body.apiVersion, kind: 'AdmissionReview', response };
  };
  const route = { schema: { body: admissionReviewSchema }, handler };
  app.post('/validate', route);
  app.post('/validate/', route);
};
