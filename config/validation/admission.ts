import { isObject } from '../../common/objects.js';
import { validateConfig } from './validate.js';

/**
 * The validating webhook's decision, pure: an AdmissionRequest (the `request` of an admission.k8s.io
 * v1 or v1beta1 AdmissionReview; both have the same fields here) in, `{allowed, message}` out. The
 * lead hosts it as the `/validate` Fastify plugin, which owns the envelope (uid, apiVersion echo, 400s).
 *
 * CREATE and UPDATE are validated (UPDATE validates the new object; none of the CRD rules of these kinds
 * is a transition rule on `oldSelf`, so the old object is not needed); DELETE and CONNECT are allowed.
 * Kinds of the Istio groups that tandem does not validate (e.g. EnvoyFilter) are allowed unchanged.
 */
export interface AdmissionDecision {
  allowed: boolean;
  /** why not, one line per problem joined with "; " (the apiserver shows it to the user) */
  message?: string;
  /** fields ignored with a warning (AdmissionResponse.warnings) */
  warnings?: string[];
}

export function admitConfig(request: unknown): AdmissionDecision {
  if (!isObject(request)) return { allowed: false, message: 'admission request is not an object' };
  const operation = request.operation;
  if (operation === 'DELETE' || operation === 'CONNECT') return { allowed: true };
  if (operation !== 'CREATE' && operation !== 'UPDATE') return { allowed: false, message: `unsupported admission operation ${JSON.stringify(operation)}` };
  if (!isObject(request.object)) return { allowed: false, message: `${operation} request has no object to validate` };
  const namespace = typeof request.namespace === 'string' && request.namespace !== '' ? request.namespace : 'default';
  const r = validateConfig(request.object, { defaultNamespace: namespace });
  const warnings = r.warnings.map((w) => `${w.path}: ${w.message}`);
  const extra = warnings.length > 0 ? { warnings } : {};
  if (r.problems.length === 0) return { allowed: true, ...extra };
  const what = `${r.kind} ${r.namespace}/${r.name}`;
  const message = `${what} is invalid: ${r.problems.map((p) => (p.path === '' ? p.message : `${p.path}: ${p.message}`)).join('; ')}`;
  return { allowed: false, message, ...extra };
}
