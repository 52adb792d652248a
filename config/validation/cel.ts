import { CelScalar, celEnv, celFunc, celMethod, isCelError, isCelMap, mapType, parse, plan, type CelInput, type CelMap, type CelResult } from '@bufbuild/cel';
import { strings } from '@bufbuild/cel/ext';
import { LRUCache } from 'lru-cache';
import { RE2JS } from '@bufbuild/re2';
import type { CelRule, SchemaNode } from './crd-schemas.js';
import { isObject } from '../../common/objects.js';

/**
 * `x-kubernetes-validations` evaluated with @bufbuild/cel, with the Kubernetes CEL library functions the
 * Istio rules call that standard CEL lacks. The rules of the kinds tandem stores call: has, all, exists,
 * exists_one, size, contains, startsWith, endsWith, substring, matches, int, duration (standard CEL or
 * its strings extension, built into @bufbuild/cel) and url(...).getScheme() (Kubernetes' URL library,
 * added here with isURL and the other URL getters). `matches` runs on @bufbuild/re2 (RE2 semantics).
 */

/** A Kubernetes URL value: a CEL map tagged with a key no JSON field can produce. */
const URL_TAG = '\u0000url';
const DYN_MAP = mapType(CelScalar.STRING, CelScalar.DYN);

/** Go's url.ParseRequestURI as Kubernetes' url() uses it: an absolute URI or an absolute path. */
function parseUrl(s: string): URL | undefined {
  if (s.startsWith('/')) {
    try {
      return new URL(s, 'relative:///');
    } catch {
      return undefined;
    }
  }
  if (!/^[a-zA-Z][a-zA-Z0-9+.-]*:/.test(s)) return undefined;
  try {
    return new URL(s);
  } catch {
    return undefined;
  }
}

function urlValue(s: string): CelInput {
  const u = parseUrl(s);
  if (u === undefined) throw new Error(`URL parse error during conversion from string: ${s}`);
  const relative = u.protocol === 'relative:';
  return new Map<string, CelInput>([
    [URL_TAG, true],
    ['scheme', relative ? '' : u.protocol.slice(0, -1)],
    ['host', relative ? '' : u.host],
    ['hostname', relative ? '' : u.hostname.replace(/^\[|\]$/g, '')],
    ['port', relative ? '' : u.port],
    ['path', u.pathname],
    ['query', u.search.replace(/^\?/, '')],
  ]);
}

function urlPart(m: CelMap, key: string): string {
  if (m.get(URL_TAG) !== true) throw new Error('not a URL value');
  const v = m.get(key);
  return typeof v === 'string' ? v : '';
}

const URL_GETTERS: Record<string, string> = {
  getScheme: 'scheme',
  getHost: 'host',
  getHostname: 'hostname',
  getPort: 'port',
  getEscapedPath: 'path',
  getQuery: 'query',
};

const kubernetesFuncs = [
  celFunc('url', [CelScalar.STRING], DYN_MAP, (s) => urlValue(s)),
  celFunc('isURL', [CelScalar.STRING], CelScalar.BOOL, (s) => parseUrl(s) !== undefined),
  ...Object.entries(URL_GETTERS).map(([name, key]) => celMethod(name, DYN_MAP, [], CelScalar.STRING, function (this: CelMap) {
    if (!isCelMap(this)) throw new Error(`${name}: not a URL value`);
    return urlPart(this, key);
  })),
];

/**
 * `matches` with compiled patterns kept: @bufbuild/cel's built-in one compiles the RE2 program on every
 * call, which was the largest single cost in bench/validate.mjs (the ServiceEntry port-name rule).
 */
const patterns = new LRUCache<string, RE2JS>({ max: 500 });
const re2 = {
  compile(pattern: string): { test(text: string): boolean } {
    let p = patterns.get(pattern);
    if (p === undefined) {
      p = RE2JS.compile(pattern);
      patterns.set(pattern, p);
    }
    return p;
  },
};

const env = celEnv({ variables: { self: CelScalar.DYN, oldSelf: CelScalar.DYN }, funcs: [...strings, ...kubernetesFuncs], re2 });

type Program = (ctx: { self: CelInput; oldSelf: CelInput }) => CelResult;
const programs = new Map<string, Program | Error>();

/** Compiled once per rule text: the CRDs repeat the same few rules under many fields. */
function program(expr: string): Program | Error {
  let p = programs.get(expr);
  if (p === undefined) {
    try {
      p = plan(env, parse(expr)) as Program;
    } catch (err) {
      p = err instanceof Error ? err : new Error(String(err));
    }
    programs.set(expr, p);
  }
  return p;
}

/** A JSON value as CEL sees it under its schema: integers are int (bigint), objects are maps. */
export function toCel(value: unknown, schema: SchemaNode | undefined): CelInput {
  if (value === null || value === undefined) return null;
  if (typeof value === 'number') {
    const integral = schema?.type === 'integer' || schema?.['x-kubernetes-int-or-string'] === true || (schema?.type === undefined && Number.isInteger(value));
    return integral && Number.isInteger(value) ? BigInt(value) : value;
  }
  if (typeof value === 'string' || typeof value === 'boolean') return value;
  if (Array.isArray(value)) return value.map((v) => toCel(v, schema?.items));
  if (isObject(value)) {
    const m = new Map<string, CelInput>();
    for (const [k, v] of Object.entries(value)) {
      const child = schema?.properties?.[k] ?? (typeof schema?.additionalProperties === 'object' ? schema.additionalProperties : undefined);
      m.set(k, toCel(v, child));
    }
    return m;
  }
  return null;
}

export interface RuleOutcome {
  /** undefined when the rule holds (or was skipped); else the message to report. */
  message?: string;
  /** set for transition rules, which are skipped when there is no old object. */
  skipped?: boolean;
}

/** Does `self` hold `rule`? `self` is the value at the rule's schema node, already converted by toCel. */
export function evaluateRule(rule: CelRule, self: CelInput, oldSelf?: CelInput): RuleOutcome {
  const usesOld = /\boldSelf\b/.test(rule.rule);
  // Transition rules only run on UPDATE with an old value (create-time validation skips them).
  if (usesOld && oldSelf === undefined) return { skipped: true };
  const p = program(rule.rule);
  if (p instanceof Error) return { message: `invalid CEL rule ${JSON.stringify(rule.rule)}: ${p.message}` };
  const ctx = { self, oldSelf: oldSelf ?? null };
  const result = p(ctx);
  if (result === true) return {};
  if (isCelError(result)) return { message: `${ruleMessage(rule, ctx)} (rule evaluation error: ${result.message})` };
  return { message: ruleMessage(rule, ctx) };
}

/**
 * Rule outcomes memoised by (rule, schema type, value) for small values: the same few rules (durations,
 * label wildcards) see the same values again and again across objects, and one @bufbuild/cel evaluation
 * costs 10-65 µs (measured in bench/validate.mjs). Evaluation is pure, so a hit is exact. Values whose JSON
 * is longer than 256 characters are evaluated every time (keys would cost more than they save).
 */
const outcomes = new LRUCache<string, RuleOutcome>({ max: 5000 });

/** The outcome of each of `rules` on the JSON value `value` (already pruned) at a node of schema `schema`. */
export function checkRules(rules: readonly CelRule[], value: unknown, schema: SchemaNode): RuleOutcome[] {
  const json = JSON.stringify(value);
  const small = json.length <= 256;
  const type = `${schema.type ?? ''}${schema['x-kubernetes-int-or-string'] ? '|int-or-string' : ''}`;
  let self: CelInput | undefined;
  return rules.map((rule) => {
    const key = small ? `${rule.rule}\u0000${rule.message ?? ''}\u0000${rule.messageExpression ?? ''}\u0000${type}\u0000${json}` : undefined;
    const hit = key === undefined ? undefined : outcomes.get(key);
    if (hit !== undefined) return hit;
    self ??= toCel(value, schema);
    const outcome = evaluateRule(rule, self);
    if (key !== undefined) outcomes.set(key, outcome);
    return outcome;
  });
}

function ruleMessage(rule: CelRule, ctx: { self: CelInput; oldSelf: CelInput }): string {
  if (rule.messageExpression !== undefined) {
    const p = program(rule.messageExpression);
    if (!(p instanceof Error)) {
      const m = p(ctx);
      if (typeof m === 'string' && m.trim() !== '') return m;
    }
  }
  return rule.message ?? `failed rule: ${rule.rule}`;
}
