import { isDeepStrictEqual } from 'node:util';
import type { V1Container, V1LifecycleHandler, V1Probe } from '@kubernetes/client-node';
import type { Operation } from 'fast-json-patch';
import type { Injector } from '../../inject/injector.js';
import type { Pod } from '../../inject/types.js';
import type { AdmissionReviewRequest } from '../../webhook/admission.js';
import { createAdmitter, type Admitter } from '../../webhook/answer.js';
import { podProblems } from '../inject/helpers.js';
import { applyJsonPatch, review } from '../webhook/helpers.js';
import type { PodCase } from './pods.js';

/**
 * The admission properties, as one function from a case to its problems ([] when it holds), so
 * that the random run and the replay of recorded counter-examples check exactly the same thing:
 *
 * - the admitter never throws and never answers with an internal error;
 * - the answer is an AdmissionReview for the request's uid; a refusal carries a message;
 * - every patch operation applies with fast-json-patch (an RFC 6902 implementation independent
 *   of tandem's diff), and the patched pod passes the strict Kubernetes schema;
 * - the app's containers and init containers keep their order and every field, except probes and
 *   lifecycle hooks turned into Istio's rewrite (an HTTP GET on 15020 at /app-health or
 *   /app-lifecycle, same timings);
 * - admitting the patched pod again changes nothing;
 * - the same body with another uid is answered from the cache with the same answer but the uid.
 */

interface Answer {
  apiVersion: string;
  kind: string;
  response: { uid: string; allowed: boolean; patchType?: string; patch?: string; warnings?: unknown[]; status?: { code: number; message: string } };
}

export interface Checked {
  problems: string[];
  /** the admission's decision (inject, skip, deny, ignore), for the run's tally */
  decision: string;
}

const clone = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;

export function admitterFor(injector: Injector): Admitter {
  return createAdmitter({ injector });
}

function admitOnce(admitter: Admitter, pod: Pod, namespace: string, uid: string): { answer: Answer; decision: string; raw: string } {
  const body = review(clone(pod), { uid, namespace });
  const raw = JSON.stringify(body);
  // The server hands the admitter the body it parsed; parse it again so nothing is shared with `pod`.
  const a = admitter.answer(JSON.parse(raw) as AdmissionReviewRequest, raw);
  return { answer: JSON.parse(a.text) as Answer, decision: a.log.decision, raw };
}

function patchOps(a: Answer): Operation[] {
  return a.response.patch === undefined ? [] : (JSON.parse(Buffer.from(a.response.patch, 'base64').toString('utf8')) as Operation[]);
}

const PROBES = [
  ['livenessProbe', 'livez'],
  ['readinessProbe', 'readyz'],
  ['startupProbe', 'startupz'],
] as const;
const HOOKS = [
  ['postStart', 'poststartz'],
  ['preStop', 'prestopz'],
] as const;

/** The probe as Istio rewrites it: the same timings, the handler replaced by a GET on the status port. */
function isProbeRewrite(before: V1Probe, after: V1Probe, path: string): boolean {
  if (!before.httpGet && !before.tcpSocket && !before.grpc) return false;
  const g = after.httpGet;
  if (!g || g.path !== path || g.port !== 15020 || after.tcpSocket || after.grpc || after.exec) return false;
  for (const k of Object.keys(before)) {
    if (k === 'httpGet' || k === 'tcpSocket' || k === 'grpc') continue;
    if (!isDeepStrictEqual((before as Record<string, unknown>)[k], (after as Record<string, unknown>)[k])) return false;
  }
  return true;
}

function isHookRewrite(before: V1LifecycleHandler, after: V1LifecycleHandler, path: string): boolean {
  return (before.httpGet !== undefined || before.tcpSocket !== undefined) && isDeepStrictEqual(after, { httpGet: { path, port: 15020 } });
}

/** What differs in an app container beyond Istio's probe and hook rewrite. */
function containerChanges(before: V1Container, after: V1Container): string[] {
  const out: string[] = [];
  const { livenessProbe: _l, readinessProbe: _r, startupProbe: _s, lifecycle: lb, ...restBefore } = before;
  const { livenessProbe: _l2, readinessProbe: _r2, startupProbe: _s2, lifecycle: la, ...restAfter } = after;
  if (!isDeepStrictEqual(restBefore, restAfter)) out.push(`container ${before.name} changed beyond its probes: ${JSON.stringify(restBefore)} -> ${JSON.stringify(restAfter)}`);
  for (const [field, suffix] of PROBES) {
    const b = before[field];
    const a = after[field];
    if (isDeepStrictEqual(b, a)) continue;
    if (!b || !a || !isProbeRewrite(b, a, `/app-health/${before.name}/${suffix}`)) out.push(`container ${before.name}: ${field} ${JSON.stringify(b)} -> ${JSON.stringify(a)} is not Istio's rewrite`);
  }
  const { postStart: _ps, preStop: _pp, ...lifecycleRestB } = lb ?? {};
  const { postStart: _ps2, preStop: _pp2, ...lifecycleRestA } = la ?? {};
  if (!isDeepStrictEqual(lifecycleRestB, lifecycleRestA) || (lb === undefined) !== (la === undefined)) out.push(`container ${before.name}: lifecycle changed beyond its hooks`);
  for (const [field, suffix] of HOOKS) {
    const b = lb?.[field];
    const a = la?.[field];
    if (isDeepStrictEqual(b, a)) continue;
    if (!b || !a || !isHookRewrite(b, a, `/app-lifecycle/${before.name}/${suffix}`)) out.push(`container ${before.name}: lifecycle.${field} ${JSON.stringify(b)} -> ${JSON.stringify(a)} is not Istio's rewrite`);
  }
  return out;
}

/** What the apiserver's validation refuses beyond the schema: names that must be unique. */
function duplicates(pod: Pod): string[] {
  const out: string[] = [];
  const dup = (what: string, names: readonly (string | undefined)[]): void => {
    const seen = new Set<string>();
    for (const n of names) {
      if (n === undefined) continue;
      if (seen.has(n)) out.push(`duplicate ${what} ${JSON.stringify(n)}`);
      seen.add(n);
    }
  };
  const spec = pod.spec;
  const containers = [...(spec?.initContainers ?? []), ...(spec?.containers ?? [])];
  dup('container name', containers.map((c) => c.name));
  dup('volume name', (spec?.volumes ?? []).map((v) => v.name));
  const volumes = new Set((spec?.volumes ?? []).map((v) => v.name));
  for (const c of containers) {
    dup(`mountPath in ${c.name}`, (c.volumeMounts ?? []).map((m) => m.mountPath));
    dup(`port name in ${c.name}`, (c.ports ?? []).map((p) => p.name));
    for (const m of c.volumeMounts ?? []) if (!volumes.has(m.name)) out.push(`${c.name} mounts ${m.name}, which is no volume`);
  }
  return out;
}

/** The user's containers of one list, in order, each changed only by the rewrite. */
function listChanges(what: string, before: V1Container[] | undefined, after: V1Container[] | undefined): string[] {
  const out: string[] = [];
  const kept = (after ?? []).filter((c) => (before ?? []).some((b) => b.name === c.name));
  const names = (before ?? []).map((c) => c.name);
  if (!isDeepStrictEqual(kept.map((c) => c.name), names)) out.push(`${what}: the app's ${JSON.stringify(names)} became ${JSON.stringify(kept.map((c) => c.name))}`);
  for (const b of before ?? []) {
    const a = kept.find((c) => c.name === b.name);
    if (a) out.push(...containerChanges(b, a));
  }
  return out;
}

export function checkAdmission(admitter: Admitter, generated: PodCase): Checked {
  // As JSON, the way the apiserver sends it (fast-check's objects are not all plain objects).
  const c: PodCase = { pod: clone(generated.pod), namespace: generated.namespace };
  const problems: string[] = [];
  const input = [...podProblems(c.pod), ...duplicates(c.pod)];
  if (input.length > 0) return { problems: [`the generator made an invalid pod: ${input.join('; ')}`], decision: 'none' };

  let first: ReturnType<typeof admitOnce>;
  try {
    first = admitOnce(admitter, c.pod, c.namespace, 'uid-first');
  } catch (err) {
    return { problems: [`admission threw: ${(err as Error).stack ?? String(err)}`], decision: 'threw' };
  }
  const { answer, decision } = first;
  const r = answer.response;
  if (answer.kind !== 'AdmissionReview' || answer.apiVersion !== 'admission.k8s.io/v1' || r.uid !== 'uid-first') problems.push(`not an answer to the request: ${JSON.stringify(answer).slice(0, 200)}`);
  if (decision === 'error') problems.push(`internal error: ${JSON.stringify(r.warnings)}`);
  if (!r.allowed && !(r.status && r.status.message.length > 0)) problems.push(`a refusal without a message: ${JSON.stringify(r)}`);
  if (!r.allowed && decision !== 'deny') problems.push(`refused with decision ${decision}`);
  if (r.patch !== undefined && !r.allowed) problems.push('a refusal carries a patch');
  if (problems.length > 0 || !r.allowed) return { problems, decision };

  const ops = patchOps(answer);
  if (ops.length > 0 && decision !== 'inject') problems.push(`decision ${decision} but a patch of ${ops.length} operations`);
  const result = clone(c.pod) as Pod;
  const patchErrors = applyJsonPatch(result, ops);
  if (patchErrors.length > 0) return { problems: [...problems, `the patch does not apply: ${patchErrors.join('; ')}`], decision };
  if (decision !== 'inject') return { problems, decision };

  problems.push(...[...podProblems(result), ...duplicates(result)].map((p) => `injected pod: ${p}`));
  problems.push(...listChanges('containers', c.pod.spec?.containers, result.spec?.containers));
  problems.push(...listChanges('initContainers', c.pod.spec?.initContainers, result.spec?.initContainers));

  // Injecting again: the apiserver may call twice (reinvocationPolicy: IfNeeded).
  try {
    const again = admitOnce(admitter, result, c.namespace, 'uid-again');
    const twice = clone(result);
    const errs = applyJsonPatch(twice, patchOps(again.answer));
    if (again.decision !== 'inject' || !again.answer.response.allowed) problems.push(`re-injection decided ${again.decision}: ${JSON.stringify(again.answer.response.status ?? again.answer.response.warnings)}`);
    if (errs.length > 0) problems.push(`the re-injection patch does not apply: ${errs.join('; ')}`);
    else if (!isDeepStrictEqual(twice, result)) problems.push(`re-injection is not a no-op: ${JSON.stringify(patchOps(again.answer)).slice(0, 600)}`);
  } catch (err) {
    problems.push(`re-injection threw: ${(err as Error).stack ?? String(err)}`);
  }

  // The same body but its uid: answered from the cache, the same answer for the new uid.
  const raw2 = first.raw.replace('"uid":"uid-first"', '"uid":"uid-second"');
  const hit = admitter.cached(raw2);
  if (hit !== undefined && hit.text !== JSON.stringify({ ...answer, response: { ...r, uid: 'uid-second' } })) problems.push(`the cached answer differs: ${hit.text.slice(0, 200)}`);
  return { problems, decision };
}
