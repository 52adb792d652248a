import type { FastifyError, FastifyReply } from 'fastify';
import type { Logger } from '../common/logger.js';

/** Turns Fastify's body errors into the one-line 400 reasons the apiserver will log. */
export function badRequestReason(err: FastifyError): string | undefined {
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

export function oneLine(s: string): string {
  return s.replace(/\s*\n\s*/g, ' ');
}

/** HTTP status of a failed request: 400 for a body the server cannot take, the error's own 4xx, else 500. */
export function errorStatus(err: FastifyError): number {
  if (badRequestReason(err) !== undefined) return 400;
  return err.statusCode && err.statusCode >= 400 ? err.statusCode : 500;
}

/**
 * The one error answer of every route: a one-line 400 for a body the server cannot take (logged as a
 * rejected admission), the error's own 4xx, or a 500 logged with its stack.
 */
export function sendError(err: FastifyError, url: string, reply: FastifyReply, log: Logger): FastifyReply {
  const reason = badRequestReason(err);
  if (reason !== undefined) {
    const message = oneLine(reason);
    log.info({ decision: 'reject', reason: message, url }, 'admission');
    return reply.code(400).send({ statusCode: 400, error: 'Bad Request', message });
  }
  const code = errorStatus(err);
  if (code >= 500) log.error({ err, url }, 'request failed');
  return reply.code(code).send({ statusCode: code, error: code >= 500 ? 'Internal Server Error' : 'Request Error', message: oneLine(err.message) });
}
