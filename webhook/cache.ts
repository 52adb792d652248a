import { LRUCache } from 'lru-cache';

/**
 * A bounded LRU of admission answers. Every pod of a ReplicaSet, Job or DaemonSet reaches the
 * webhook with the same object (the apiserver names it after admission), so a rollout of N
 * replicas needs two injections and N-2 lookups (an answer is kept from its key's second
 * sighting: answer.ts says why).
 *
 * The key is the raw request body with the request's uid cut out (see `isRequestUid`): an exact
 * representation of everything the answer depends on, taken from text the server has anyway, and
 * found again without parsing the body. One cache belongs to one injector (admission-answer.ts),
 * which is the rest.
 */

export interface AdmissionCacheOptions {
  /** most answers kept (default 1024) */
  maxEntries?: number;
  /** most characters of keys plus answers kept (default 16 Mi); a larger single entry is not kept */
  maxBytes?: number;
}

export const DEFAULT_CACHE_ENTRIES = 1024;
export const DEFAULT_CACHE_BYTES = 16 * 1024 * 1024;

/**
 * V8 hashes a string only up to 16383 characters (String::kMaxHashCalcLength); a longer one gets
 * a hash made of its length alone. Keyed by whole bodies, every pod over 16 KB of one size landed
 * in one hash bucket of the LRU's Map, and each lookup compared against all of them: measured at
 * 1.3 ms per miss with 250 64 KB pods kept (bench/webhook.mjs --mode big). So the LRU is keyed by
 * a slot name short enough to be hashed — the key itself when short, else its first and last
 * SLOT_SAMPLE characters and its length — and the entry holds the whole key, which a lookup must
 * equal. Keys sharing a slot (the same head and tail, a different middle) only displace each other.
 */
const HASHED_LENGTH = 16383;
const SLOT_SAMPLE = 8000;

export function slotOf(key: string): string {
  if (key.length <= HASHED_LENGTH) return key;
  return `${key.length}\u0000${key.slice(0, SLOT_SAMPLE)}\u0000${key.slice(-SLOT_SAMPLE)}`;
}

/** A key with its slot name and hint (see hintOf), as locateUid computes them without reading the whole key. */
export interface CacheKey {
  key: string;
  slot: string;
  hint: string;
}

function cacheKey(k: string | CacheKey): CacheKey {
  return typeof k === 'string' ? { key: k, slot: slotOf(k), hint: hintOf(k) } : k;
}

interface Slot<V> {
  key: string;
  value: V;
}

/**
 * The name under which markSeen notes a key: the key when short, else its length and a sample of
 * its head and tail. A hint, never an answer: two keys sharing one only make the second's answer
 * kept a sighting early. Small, so that noting every miss keeps little alive: at most maxEntries
 * hints of at most ~4 KB each, outside maxBytes.
 */
const HINT_LENGTH = 4096;
const HINT_SAMPLE = 2000;

export function hintOf(key: string): string {
  if (key.length <= HINT_LENGTH) return key;
  return `${key.length}\u0000${key.slice(0, HINT_SAMPLE)}\u0000${key.slice(-HINT_SAMPLE)}`;
}

// V: lru-cache's own bound, any value but null and undefined.
export class AdmissionCache<V extends {}> {
  readonly maxEntries: number;
  readonly maxBytes: number;
  hits = 0;
  misses = 0;
  // Sized by characters of key (and slot name) plus answer; lru-cache refuses an entry above
  // maxEntrySize, so one huge pod cannot flush a whole rollout's worth of useful answers.
  // Undefined: caching is off.
  private readonly lru: LRUCache<string, Slot<V>> | undefined;
  // Keys answered once (markSeen), as many as answers may be kept.
  private readonly hints: LRUCache<string, true> | undefined;

  constructor(opts: AdmissionCacheOptions = {}) {
    this.maxEntries = opts.maxEntries ?? DEFAULT_CACHE_ENTRIES;
    this.maxBytes = opts.maxBytes ?? DEFAULT_CACHE_BYTES;
    this.lru = this.maxEntries > 0 && this.maxBytes > 0
      ? new LRUCache<string, Slot<V>>({ max: this.maxEntries, maxSize: this.maxBytes, maxEntrySize: Math.max(1, Math.floor(this.maxBytes / 8)) })
      : undefined;
    this.hints = this.lru === undefined ? undefined : new LRUCache<string, true>({ max: this.maxEntries });
  }

  get size(): number {
    return this.lru?.size ?? 0;
  }

  get bytes(): number {
    return this.lru?.calculatedSize ?? 0;
  }

  /** The value under `key`, counted as a hit; a miss when there is none or `usable` refuses it. */
  get(k: string | CacheKey, usable?: (value: V) => boolean): V | undefined {
    const { key, slot: name } = cacheKey(k);
    const slot = this.lru?.get(name);
    const value = slot !== undefined && slot.key === key ? slot.value : undefined;
    if (value === undefined || (usable !== undefined && !usable(value))) {
      this.misses++;
      return undefined;
    }
    this.hits++;
    return value;
  }

  /** Keeps `value` (whose size in characters is `size`, beyond the key's), evicting the least recently used. */
  set(k: string | CacheKey, value: V, size: number): void {
    if (this.lru === undefined) return;
    const { key, slot: name } = cacheKey(k);
    const bytes = key.length + (name === key ? 0 : name.length) + size;
    // A refused entry must not leave an older answer under the same key behind.
    if (bytes > this.lru.maxEntrySize) this.lru.delete(name);
    else this.lru.set(name, { key, value }, { size: bytes });
  }

  /** The value under `key` without counting a hit or a miss, or making it recently used. */
  peek(k: string | CacheKey): V | undefined {
    const { key, slot: name } = cacheKey(k);
    const slot = this.lru?.peek(name);
    return slot !== undefined && slot.key === key ? slot.value : undefined;
  }

  /**
   * Notes that `key` was answered, keeping neither the answer nor a long key (only its hintOf):
   * a hint for the next time, never an answer.
   */
  markSeen(k: string | CacheKey): void {
    this.hints?.set(cacheKey(k).hint, true);
  }

  /** Whether markSeen noted `key` (or a key with the same hint). */
  seen(k: string | CacheKey): boolean {
    return this.hints?.has(cacheKey(k).hint) ?? false;
  }

  clear(): void {
    this.lru?.clear();
    this.hints?.clear();
  }
}

const UID_MEMBER = '"uid":"';

export interface LocatedUid extends CacheKey {
  /** the uid as written (and, having no escapes, as parsed) */
  uid: string;
}

/**
 * `${length}\0${head}\0${tail}` of the key prefix+before+after, as slotOf and hintOf write it,
 * from its pieces: the key itself is a rope, and reading it copies it whole (for a 64 KB pod that
 * copy cost a quarter of the body's JSON.parse, on every miss).
 */
function sampleOf(prefix: string, before: string, after: string, length: number, n: number): string {
  const head = `${prefix}${before.slice(0, n)}${after.slice(0, n)}`.slice(0, n);
  const tail = `${before.slice(-n)}${after.slice(-n)}`.slice(-n);
  return `${length}\u0000${head}\u0000${tail}`;
}

/**
 * Finds the first `"uid":"…"` member of an AdmissionReview body without parsing it, and the cache
 * key: the body with that member cut out, prefixed by where it was. Undefined unless the value is
 * a plain string (non-empty, no escapes, no control characters), which is how the apiserver
 * writes uids. This is the lookup half; an answer is served only under a key checked by `isRequestUid`.
 */
export function locateUid(raw: string): LocatedUid | undefined {
  const at = raw.indexOf(UID_MEMBER);
  if (at < 0) return undefined;
  const from = at + UID_MEMBER.length;
  const end = raw.indexOf('"', from);
  if (end <= from) return undefined;
  for (let i = from; i < end; i++) {
    const c = raw.charCodeAt(i);
    if (c < 0x20 || c === 0x5c) return undefined;
  }
  const prefix = `${at}:`;
  const before = raw.slice(0, at);
  const after = raw.slice(end + 1);
  const key = `${prefix}${before}${after}`;
  const length = key.length;
  return {
    key,
    slot: length <= HASHED_LENGTH ? key : sampleOf(prefix, before, after, length, SLOT_SAMPLE),
    hint: length <= HINT_LENGTH ? key : sampleOf(prefix, before, after, length, HINT_SAMPLE),
    uid: raw.slice(from, end),
  };
}

/**
 * Whether the member `locateUid` found in `raw` is the one JSON.parse takes request.uid from (the
 * last `uid` inside `request`): the body is re-parsed with one character added to that value, and
 * request.uid must change with it. It costs a parse, so the answerer makes it on a key's first hit
 * rather than on every miss: every body with that key has the same answer to it.
 *
 * Why a hit is then exact. A later body with the same key is the checked one with another plain
 * string at that place: it parses to the same structure, so to the same value but for
 * request.uid, which the hit answer takes from it. The rest of the answer depends only on that
 * value and the injector, which owns the cache.
 */
export function isRequestUid(raw: string, found: LocatedUid): boolean {
  const end = raw.indexOf(UID_MEMBER) + UID_MEMBER.length + found.uid.length;
  try {
    const probe = JSON.parse(`${raw.slice(0, end)}~${raw.slice(end)}`) as { request?: { uid?: unknown } };
    return probe.request?.uid === `${found.uid}~`;
  } catch {
    return false;
  }
}
