import { AdmissionCache, isRequestUid, locateUid, type AdmissionCacheOptions, type LocatedUid } from './cache.js';
import {
  admit,
  type AdmissionApiVersion,
  type AdmissionLog,
  type AdmissionResponse,
  type AdmissionReviewRequest,
  type AdmissionReviewResponse,
  type InjectFn,
} from './admission.js';
import { injectPod, type Injector } from '../inject/injector.js';

/**
 * Admission answers as the bytes the server sends, with a cache in front of the injector.
 * The answer text is split around the uid: everything after it is what gets cached, and the
 * miss path builds its text the same way, so a hit is byte for byte what a miss would send.
 */

export interface AdmissionAnswer {
  /** the serialised AdmissionReview response */
  text: string;
  log: AdmissionLog;
  /** set for decision 'error' (never cached), so the server can log the stack */
  error?: Error;
  /** the answer came from the cache */
  cached: boolean;
}

export interface AdmitterOptions {
  injector: Injector;
  /** replaces injectPod (tests) */
  inject?: InjectFn;
  /** answer cache bounds, or false for none */
  cache?: AdmissionCacheOptions | false;
}

export interface Admitter {
  /**
   * The answer to this exact body text from the cache, found without parsing it (a hit is a
   * body the injector already answered but for the uid), or undefined.
   */
  cached(raw: string): CachedHit | undefined;
  /**
   * Answers a review that passed the request schema, and keeps the answer when `raw`, the exact
   * body text it was parsed from, is given and can be found again by `cached`.
   */
  answer(review: AdmissionReviewRequest, raw?: string): AdmissionAnswer;
  /** undefined when caching is off */
  readonly cache: AdmissionCache<CachedAnswer> | undefined;
}

export interface CachedHit extends AdmissionAnswer {
  /** the request's apiVersion, which the key covers */
  apiVersion: AdmissionApiVersion;
  uid: string;
}

/** What a cache hit needs beyond the request's own uid. */
export interface CachedAnswer {
  apiVersion: AdmissionApiVersion;
  head: string;
  tail: string;
  log: AdmissionLog;
  /**
   * Whether the key's uid member is request.uid (isRequestUid): undefined until the first hit
   * checks it, false for an answer that is kept (so that it is not computed and stored again) but
   * never served.
   */
  verified?: boolean;
}

/** The envelopes before request's first member, as Kubernetes and JSON.stringify write them. */
const PLAIN_PREFIXES = ['admission.k8s.io/v1', 'admission.k8s.io/v1beta1'].flatMap((v) => [
  `{"kind":"AdmissionReview","apiVersion":"${v}","request":{`,
  `{"apiVersion":"${v}","kind":"AdmissionReview","request":{`,
]);

/**
 * Whether the uid member `locateUid` found is request's first member. Then it is request.uid
 * unless a later duplicate wins, which only the parse in isRequestUid can tell; that parse is
 * left to the first hit, as most answers are never hit. Anything else is checked at once.
 */
function opensRequest(raw: string): boolean {
  const at = raw.indexOf('"uid":"');
  for (const p of PLAIN_PREFIXES) if (at === p.length && raw.startsWith(p)) return true;
  return false;
}

const HEADS: Readonly<Record<AdmissionApiVersion, string>> = {
  'admission.k8s.io/v1': head('admission.k8s.io/v1'),
  'admission.k8s.io/v1beta1': head('admission.k8s.io/v1beta1'),
};

function head(apiVersion: string): string {
  return `{"apiVersion":${JSON.stringify(apiVersion)},"kind":"AdmissionReview","response":{"uid":`;
}

/**
 * The response's members after the uid, and the closing braces. Written by hand because the
 * patch is a long string that JSON.stringify (or any check) would scan for characters to escape,
 * and base64, which `patch` is by contract (admit() makes it with Buffer), has none.
 */
export function responseTail(r: AdmissionResponse): string {
  let s = `,"allowed":${r.allowed ? 'true' : 'false'}`;
  if (r.warnings !== undefined) s += `,"warnings":${JSON.stringify(r.warnings)}`;
  if (r.patchType !== undefined) s += `,"patchType":${JSON.stringify(r.patchType)}`;
  if (r.patch !== undefined) s += `,"patch":"${r.patch}"`;
  if (r.status !== undefined) s += `,"status":${JSON.stringify(r.status)}`;
  return `${s}}}`;
}

/** The JSON text of an AdmissionReview answer; parses to the same value as JSON.stringify(review). */
export function reviewText(review: AdmissionReviewResponse): string {
  return `${HEADS[review.apiVersion] ?? head(review.apiVersion)}${JSON.stringify(review.response.uid)}${responseTail(review.response)}`;
}

export function createAdmitter(opts: AdmitterOptions): Admitter {
  const { injector } = opts;
  const inject = opts.inject ?? injectPod;
  const cache = opts.cache === false ? undefined : new AdmissionCache<CachedAnswer>(opts.cache ?? {});
  // A miss locates the uid twice, in cached() and again in answer(), each time building a key as
  // long as the body (64 KB for a large pod); the last body's result is kept for the second call.
  // Requests interleave between the two calls, in which case it is recomputed.
  let lastRaw: string | undefined;
  let lastFound: LocatedUid | undefined;
  const locate = (raw: string): LocatedUid | undefined => {
    if (raw !== lastRaw) {
      lastRaw = raw;
      lastFound = locateUid(raw);
    }
    return lastFound;
  };
  return {
    cache,
    cached(raw) {
      if (cache === undefined) return undefined;
      const found = locate(raw);
      if (found === undefined) return undefined;
      // Bodies with one key differ only in that uid's text, so this body answers for all of them.
      const hit = cache.get(found, (entry) => (entry.verified ??= isRequestUid(raw, found)));
      if (hit === undefined) return undefined;
      return { text: `${hit.head}${JSON.stringify(found.uid)}${hit.tail}`, log: hit.log, cached: true, apiVersion: hit.apiVersion, uid: found.uid };
    },
    answer(review, raw) {
      const uid = review.request.uid;
      const result = admit(review, injector, inject);
      const h = HEADS[review.apiVersion] ?? head(review.apiVersion);
      const tail = responseTail(result.review.response);
      const text = `${h}${JSON.stringify(uid)}${tail}`;
      // Internal errors are not kept: each one deserves its stack in the log.
      if (result.error) return { text, log: result.log, error: result.error, cached: false };
      const found = cache !== undefined && raw !== undefined ? locate(raw) : undefined;
      if (found === undefined || found.uid !== uid || cache!.peek(found)?.verified === false) return { text, log: result.log, cached: false };
      // A key's first answer is not kept, only noted; its second is. Most admissions are of pods
      // never seen before (names, template hashes, timestamps differ): keeping every answer (13 KB
      // for a small pod, plus the key) filled the cache with entries never read that lived just
      // long enough to reach the old generation, and the garbage collection cost every miss more
      // (measured: +68 us of CPU per miss with the cache on, none with it off, parse+answer of the
      // benchmark pod; +450 us for a 64 KB pod) than a rollout's second injection costs once.
      // A rollout of N replicas takes two injections and N-2 lookups.
      if (!cache!.seen(found)) cache!.markSeen(found);
      else {
        const entry: CachedAnswer = { apiVersion: review.apiVersion, head: h, tail, log: result.log };
        if (!opensRequest(raw!)) {
          if (!isRequestUid(raw!, found)) return { text, log: result.log, cached: false };
          entry.verified = true;
        }
        cache!.set(found, entry, tail.length + result.log.reason.length);
      }
      return { text, log: result.log, cached: false };
    },
  };
}
