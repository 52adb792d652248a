import { createHash } from 'node:crypto';
import type { Service } from '../../registry/types.js';
import type { ProxyInfo } from '../proxy.js';
import type { XdsType } from '../translate/common.js';
import { PROXY_GENERATORS, type GeneratorMode, type ProxyGenerator, type ProxyInput } from '../translate/generators.js';

/**
 * Sharing keys, derived from the generators' declarations (translate/generators.ts),
 * never restated: two proxies get the same per-proxy resources of a type exactly
 * when every field the type's generators declare is equal, and a generation's part
 * is rebuilt exactly when a declared input (proxy field or registry view) changes.
 */

export type ProxyInputs = Partial<Pick<ProxyInfo, ProxyInput>>;

/** The proxy as a generator is allowed to see it: only the declared fields. */
export function projectProxy(proxy: Pick<ProxyInfo, ProxyInput>, reads: readonly ProxyInput[]): ProxyInputs {
  const out: Record<string, unknown> = {};
  for (const f of reads) out[f] = proxy[f];
  return out as ProxyInputs;
}

/** A canonical text of one declared field (label order does not matter). */
function fieldText(v: unknown): string {
  if (Array.isArray(v) || typeof v !== 'object' || v === null) return JSON.stringify(v);
  return JSON.stringify(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** The key of a generator's input: its declared fields of the proxy, in declaration order. */
export function inputKey(g: ProxyGenerator, proxy: ProxyInputs): string {
  return g.reads.map((f) => fieldText(proxy[f])).join('\u0000');
}

/** The content key of a registry view (a digest: views of large registries are megabytes of text). */
export function registryKey(view: readonly Service[]): string {
  return createHash('sha256').update(JSON.stringify(view)).digest('base64url');
}

const generatorsByType = new Map<string, ProxyGenerator[]>();
for (const g of PROXY_GENERATORS) for (const mode of g.modes) generatorsByType.set(`${mode}|${g.type}`, [...(generatorsByType.get(`${mode}|${g.type}`) ?? []), g]);

/** The generators of `type` that make a generation of `mode`. */
export function generatorsOf(type: XdsType, mode: GeneratorMode = 'plain'): readonly ProxyGenerator[] {
  return generatorsByType.get(`${mode}|${type}`) ?? [];
}

/** The generators of every type in `mode`. */
export function generatorsIn(mode: GeneratorMode): readonly ProxyGenerator[] {
  return PROXY_GENERATORS.filter((g) => g.modes.includes(mode));
}

/** The proxy fields the per-proxy resources of `type` depend on (the union of its generators' declarations). */
export function declaredInputs(type: XdsType, mode: GeneratorMode = 'plain'): ProxyInput[] {
  return [...new Set(generatorsOf(type, mode).flatMap((g) => g.reads))];
}

const scopes = new WeakMap<object, Map<string, string>>();

function generatorsKey(gens: readonly ProxyGenerator[], proxy: Pick<ProxyInfo, ProxyInput>): string {
  return gens.map((g) => `${g.name}=${inputKey(g, projectProxy(proxy, g.reads))}`).join(';');
}

/**
 * What a proxy's set of `type` depends on besides the generation: proxies with equal
 * keys get equal sets, and so share responses. Memoised per proxy object (a stream's
 * proxy never changes).
 */
export function scopeKey(type: XdsType, proxy: Pick<ProxyInfo, ProxyInput>, mode: GeneratorMode = 'plain'): string {
  let m = scopes.get(proxy);
  if (!m) {
    m = new Map();
    scopes.set(proxy, m);
  }
  const slot = `${mode}|${type}`;
  let k = m.get(slot);
  if (k === undefined) {
    k = generatorsKey(generatorsOf(type, mode), proxy);
    m.set(slot, k);
  }
  return k;
}

/** Proxies with the same view key receive identical per-proxy resources of every type. */
export function viewKey(proxy: Pick<ProxyInfo, ProxyInput>, mode: GeneratorMode = 'plain'): string {
  return `${mode}|${scopeKey('cluster', proxy, mode)}|${scopeKey('endpoint', proxy, mode)}|${scopeKey('listener', proxy, mode)}|${scopeKey('route', proxy, mode)}`;
}
