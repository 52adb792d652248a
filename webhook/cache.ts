/**
 * A bounded LRU of admission answers. Every pod of a ReplicaSet, Job or DaemonSet reaches the
 * webhook with the same object (the apiserver names it after admission), so a rollout of N
 * replicas needs one injection and N-1 lookups.
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

interface Slot<V> {
  value: V;
  bytes: number;
}

export class AdmissionCache<V> {
  readonly maxEntries: number;
  readonly maxBytes: number;
  hits = 0;
  misses = 0;
  private bytesUsed = 0;
  // A Map iterates in insertion order: re-inserting on a hit makes its first key the least recently used.
  private readonly slots = new Map<string, Slot<V>>();

  constructor(opts: AdmissionCacheOptions = {}) {
    this.maxEntries = opts.maxEntries ?? DEFAULT_CACHE_ENTRIES;
    this.maxBytes = opts.maxBytes ?? DEFAULT_CACHE_BYTES;
  }

  get size(): number {
    return this.slots.size;
  }

  get bytes(): number {
    return this.bytesUsed;
  }

  /** The value under `key`, counted as a hit; a miss when there is none or `usable` refuses it. */
  get(key: string, usable?: (value: V) => boolean): V | undefined {
    const slot = this.slots.get(key);
    if (slot === undefined || (usable !== undefined && !usable(slot.value))) {
      this.misses++;
      return undefined;
    }
    this.hits++;
    this.slots.delete(key);
    this.slots.set(key, slot);
    return slot.value;
  }

  /** Keeps `value` (whose size in characters is `size`, beyond the key's), evicting the least recently used. */
  set(key: string, value: V, size: number): void {
    const bytes = key.length + size;
    const old = this.slots.get(key);
    if (old !== undefined) {
      this.slots.delete(key);
      this.bytesUsed -= old.bytes;
    }
    // One huge pod must not flush a whole rollout's worth of useful answers.
    if (this.maxEntries <= 0 || bytes > this.maxBytes / 8) return;
    this.slots.set(key, { value, bytes });
    this.bytesUsed += bytes;
    while (this.slots.size > this.maxEntries || this.bytesUsed > this.maxBytes) {
      const [oldest, slot] = this.slots.entries().next().value as [string, Slot<V>];
      this.slots.delete(oldest);
      this.bytesUsed -= slot.bytes;
    }
  }

  /** The value under `key` without counting a hit or a miss, or making it recently used. */
  peek(key: string): V | undefined {
    return this.slots.get(key)?.value;
  }

  clear(): void {
    this.slots.clear();
    this.bytesUsed = 0;
  }
}

const UID_MEMBER = '"uid":"';

export interface LocatedUid {
  key: string;
  /** the uid as written (and, having no escapes, as parsed) */
  uid: string;
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
  return { key: `${at}:${raw.slice(0, at)}${raw.slice(end + 1)}`, uid: raw.slice(from, end) };
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
