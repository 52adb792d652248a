import { RE2JS } from '@bufbuild/re2';
import { LRUCache } from 'lru-cache';

/**
 * Regexes are checked with RE2's grammar (what Envoy and the apiserver compile), never JavaScript's:
 * `(?=…)`, backreferences and possessive quantifiers are valid JS but refused by RE2. @bufbuild/re2 is
 * the RE2 port @bufbuild/cel itself uses for `matches`, pure JS, so it runs on Node 20 without a build step.
 */
const compiled = new LRUCache<string, RE2JS | string>({ max: 1000 });

function compile(pattern: string): RE2JS | string {
  const hit = compiled.get(pattern);
  if (hit !== undefined) return hit;
  let out: RE2JS | string;
  try {
    out = RE2JS.compile(pattern);
  } catch (err) {
    out = err instanceof Error ? err.message : String(err);
  }
  compiled.set(pattern, out);
  return out;
}

/** undefined when `pattern` is a valid RE2 regex, else why not. */
export function re2Problem(pattern: string): string | undefined {
  const c = compile(pattern);
  return typeof c === 'string' ? `invalid RE2 regex "${pattern}": ${c}` : undefined;
}

/** Unanchored search, as Go's regexp.MatchString (the apiserver's `pattern` check). */
export function re2Test(pattern: string, input: string): boolean {
  const c = compile(pattern);
  return typeof c !== 'string' && c.test(input);
}
