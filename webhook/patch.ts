/**
 * The RFC 6902 diff of fast-json-patch's `compare()`, operation for operation, minus its
 * deep copy of every added or replaced value. compare() clones so that its result never
 * aliases the input; the webhook serialises the patch at once, so the copy is pure cost (it
 * was the largest single item of an admission). test/webhook/server-diff.test.ts checks,
 * on generated documents, that this produces exactly what compare() produces.
 */

export type JsonPatchOp =
  | { op: 'add' | 'replace'; path: string; value: unknown }
  | { op: 'remove'; path: string };

type Json = Record<string, unknown> | unknown[];

function escape(key: string): string {
  return key.includes('/') || key.includes('~') ? key.replace(/~/g, '~0').replace(/\//g, '~1') : key;
}

function keysOf(v: Json): string[] {
  if (Array.isArray(v)) {
    const keys = new Array<string>(v.length);
    for (let i = 0; i < v.length; i++) keys[i] = String(i);
    return keys;
  }
  return Object.keys(v);
}

const hasOwn = (o: object, k: string): boolean => Object.prototype.hasOwnProperty.call(o, k);

// compare() turns an undefined value into null when it clones (as JSON.stringify does in arrays).
const plain = (v: unknown): unknown => (v === undefined ? null : v);

function walk(from: Json, to: Json, ops: JsonPatchOp[], path: string): void {
  if (from === to) return;
  const a = from as Record<string, unknown>;
  const b = to as Record<string, unknown>;
  const newKeys = keysOf(to);
  const oldKeys = keysOf(from);
  let deleted = false;
  // Backwards, so that removals from an array keep the remaining indices valid.
  for (let t = oldKeys.length - 1; t >= 0; t--) {
    const key = oldKeys[t]!;
    const oldVal = a[key];
    if (hasOwn(to, key) && !(b[key] === undefined && oldVal !== undefined && !Array.isArray(to))) {
      const newVal = b[key];
      if (typeof oldVal === 'object' && oldVal !== null && typeof newVal === 'object' && newVal !== null && Array.isArray(oldVal) === Array.isArray(newVal)) {
        walk(oldVal as Json, newVal as Json, ops, `${path}/${escape(key)}`);
      } else if (oldVal !== newVal) {
        ops.push({ op: 'replace', path: `${path}/${escape(key)}`, value: plain(newVal) });
      }
    } else if (Array.isArray(from) === Array.isArray(to)) {
      ops.push({ op: 'remove', path: `${path}/${escape(key)}` });
      deleted = true;
    } else {
      ops.push({ op: 'replace', path, value: to });
    }
  }
  if (!deleted && newKeys.length === oldKeys.length) return;
  for (const key of newKeys) {
    if (!hasOwn(from, key) && b[key] !== undefined) ops.push({ op: 'add', path: `${path}/${escape(key)}`, value: b[key] });
  }
}

/** The JSON Patch turning `from` into `to` (both JSON-shaped: plain objects, arrays, primitives). */
export function diff(from: object, to: object): JsonPatchOp[] {
  const ops: JsonPatchOp[] = [];
  walk(from as Json, to as Json, ops, '');
  return ops;
}
