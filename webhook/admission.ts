import { UserError } from '../common/errors.js';
import { diff } from './patch.js';
import { injectPod, type Injector } from '../inject/injector.js';
import type { AdmissionResult as AdmissionMetricResult } from '../common/metrics.js';
import type { InjectionContext, InjectionOutcome, Pod } from '../inject/types.js';

/**
 * The pure half of the admission webhook: an AdmissionReview (already shape-checked by the
 * server's JSON schema) in, the AdmissionReview answer and one log record out.
 */

export const ADMISSION_V1 = 'admission.k8s.io/v1';
export const ADMISSION_V1BETA1 = 'admission.k8s.io/v1beta1';
export type AdmissionApiVersion = typeof ADMISSION_V1 | typeof ADMISSION_V1BETA1;

export interface GroupVersionKind {
  group?: string;
  version?: string;
  kind?: string;
}

export interface AdmissionRequest {
  uid: string;
  kind?: GroupVersionKind;
  namespace?: string;
  name?: string;
  operation?: string;
  subResource?: string;
  /** the object being admitted; only its type is checked before admission */
  object: Record<string, unknown>;
}

export interface AdmissionReviewRequest {
  apiVersion: AdmissionApiVersion;
  kind: 'AdmissionReview';
  request: AdmissionRequest;
}

export interface AdmissionStatus {
  code: number;
  message: string;
  status: 'Failure';
  reason: string;
}

export interface AdmissionResponse {
  uid: string;
  allowed: boolean;
  patchType?: 'JSONPatch';
  /** base64 of the RFC 6902 array */
  patch?: string;
  warnings?: string[];
  status?: AdmissionStatus;
}

export interface AdmissionReviewResponse {
  apiVersion: AdmissionApiVersion;
  kind: 'AdmissionReview';
  response: AdmissionResponse;
}

/** inject: patched; skip: the policy said no; ignore: not a Pod; deny: invalid pod; error: injector failed, allowed as is */
export type AdmissionDecision = 'inject' | 'skip' | 'ignore' | 'deny' | 'error';

export interface AdmissionLog {
  namespace: string;
  pod: string;
  decision: AdmissionDecision;
  /** a short fixed name (the policy rule, or why no policy ran): metrics label it by this, never by `reason` */
  rule: string;
  reason: string;
}

/** The rule names of decisions the policy does not make. */
export const NOT_A_POD_RULE = 'not-a-pod';
export const NOT_CREATE_RULE = 'not-create';
export const INVALID_POD_RULE = 'invalid-pod';
export const INJECTOR_ERROR_RULE = 'injector-error';

const METRIC_RESULTS: Readonly<Record<AdmissionDecision, AdmissionMetricResult>> = {
  inject: 'injected',
  skip: 'skipped',
  ignore: 'skipped',
  deny: 'refused',
  error: 'error',
};

/** How an admission is counted in tandem_admissions_total (its reason label is `log.rule`). */
export function metricResult(decision: AdmissionDecision): AdmissionMetricResult {
  return METRIC_RESULTS[decision];
}

export interface AdmissionResult {
  review: AdmissionReviewResponse;
  log: AdmissionLog;
  /** set for decision 'error', so the server can log the stack */
  error?: Error;
}

export type InjectFn = (pod: Pod, ctx: InjectionContext, injector: Injector) => InjectionOutcome;

/** JSON schema of the request body: the envelope strictly, the object only as "an object". */
export const admissionReviewSchema = {
  type: 'object',
  required: ['apiVersion', 'kind', 'request'],
  properties: {
    apiVersion: { type: 'string', enum: [ADMISSION_V1, ADMISSION_V1BETA1] },
    kind: { type: 'string', const: 'AdmissionReview' },
    request: {
      type: 'object',
      required: ['uid', 'object'],
      properties: {
        uid: { type: 'string', minLength: 1 },
        kind: {
          type: 'object',
          properties: { group: { type: 'string' }, version: { type: 'string' }, kind: { type: 'string' } },
        },
        namespace: { type: 'string' },
        name: { type: 'string' },
        operation: { type: 'string' },
        subResource: { type: 'string' },
        object: { type: 'object' },
      },
    },
  },
} as const;

// Encoding into one reused buffer: Buffer.from() allocates a fresh backing store per patch (they
// are past the pool's size), which cost more than the encoding; a UTF-8 write needs no prior scan
// for non-ASCII. Admissions run one at a time on this thread, so sharing it is safe.
let scratch = Buffer.allocUnsafe(64 * 1024);

/** Base64 of the UTF-8 bytes of `text`. */
export function base64(text: string): string {
  // Three bytes per UTF-16 unit is the most UTF-8 can take; keep huge patches from pinning memory.
  const most = text.length * 3;
  if (most > scratch.length) {
    if (most > 1024 * 1024) return Buffer.from(text, 'utf8').toString('base64');
    scratch = Buffer.allocUnsafe(most);
  }
  const n = scratch.write(text, 0, 'utf8');
  return scratch.toString('base64', 0, n);
}

function podLabel(pod: Pod, request: AdmissionRequest): string {
  const meta = pod.metadata;
  return meta?.name || request.name || meta?.generateName || '';
}

function answer(review: AdmissionReviewRequest, response: AdmissionResponse): AdmissionReviewResponse {
  return { apiVersion: review.apiVersion, kind: 'AdmissionReview', response };
}

/** Answers one AdmissionReview. Never throws for anything the injector does. */
export function admit(review: AdmissionReviewRequest, injector: Injector, inject: InjectFn = injectPod): AdmissionResult {
  const req = review.request;
  const uid = req.uid;
  const kind = req.kind?.kind ?? (typeof req.object.kind === 'string' ? req.object.kind : '');
  const original = req.object as Pod;
  const namespace = req.namespace || original.metadata?.namespace || '';
  const pod = podLabel(original, req);
  if (kind !== 'Pod' || (req.kind?.group ?? '') !== '') {
    return {
      review: answer(review, { uid, allowed: true }),
      log: { namespace, pod, decision: 'ignore', rule: NOT_A_POD_RULE, reason: `kind ${req.kind?.group ? `${req.kind.group}/` : ''}${kind || '(none)'} is not a Pod` },
    };
  }

  // A pod's containers are immutable after creation: patching an UPDATE (or a subresource such as
  // ephemeralcontainers) with a sidecar would make the apiserver reject the user's request.
  if ((req.operation !== undefined && req.operation !== 'CREATE') || req.subResource) {
    return {
      review: answer(review, { uid, allowed: true }),
      log: { namespace, pod, decision: 'ignore', rule: NOT_CREATE_RULE, reason: `${req.operation ?? ''}${req.subResource ? ` of ${req.subResource}` : ''}: only pod CREATE is injected` },
    };
  }

  // Pods created through a controller carry no namespace yet; the injector needs it, and the
  // diff is taken from this copy so that the patch does not touch metadata.namespace.
  const subject: Pod = original.metadata?.namespace || !namespace
    ? original
    : { ...original, metadata: { ...original.metadata, namespace } };
  let outcome: InjectionOutcome;
  try {
    outcome = inject(subject, { namespace: { name: namespace }, mode: 'webhook' }, injector);
  } catch (err) {
    const e = err instanceof Error ? err : new Error(String(err));
    if (err instanceof UserError) {
      return {
        review: answer(review, { uid, allowed: false, status: { code: 400, message: e.message, status: 'Failure', reason: 'BadRequest' } }),
        log: { namespace, pod, decision: 'deny', rule: INVALID_POD_RULE, reason: e.message },
      };
    }
    return {
      review: answer(review, { uid, allowed: true, warnings: [`tandem: sidecar not injected: internal error: ${e.message}`] }),
      log: { namespace, pod, decision: 'error', rule: INJECTOR_ERROR_RULE, reason: e.message },
      error: e,
    };
  }

  const { decision, warnings } = outcome;
  const response: AdmissionResponse = { uid, allowed: true };
  if (warnings.length > 0) response.warnings = warnings;
  if (!decision.inject) {
    return { review: answer(review, response), log: { namespace, pod, decision: 'skip', rule: decision.rule, reason: decision.reason } };
  }
  const ops = diff(subject, outcome.pod);
  if (ops.length > 0) {
    response.patchType = 'JSONPatch';
    response.patch = base64(JSON.stringify(ops));
  }
  return { review: answer(review, response), log: { namespace, pod, decision: 'inject', rule: decision.rule, reason: decision.reason } };
}
