/**
 * Hand-written goldens. `testdata/<case>.yaml` holds the Istio config of a case; `testdata/<case>.json`
 * the Envoy resources expected from it, written by hand from Envoy's and Istio's documentation and
 * keyed by type and resource name — only the resources the case is about, so each golden stays small
 * enough to check by eye. `UPDATE_GOLDENS=1` rewrites the named resources from the output (then
 * review the diff); `assertAllGoldensUsed` fails on a golden no test read.
 */
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { UPDATE_GOLDENS } from '../../golden.js';
import type { ConfigObject } from '../../../config/model.js';
import { isObject } from '../../../common/objects.js';
import type { Json } from '../../../control-plane/xds/translate/istio/envoy.js';
import type { ProxyResources } from '../../../control-plane/xds/translate/istio/translate.js';

export const TESTDATA = fileURLToPath(new URL('./testdata', import.meta.url));
const used = new Set<string>();

export function readConfigs(name: string): ConfigObject[] {
  const file = `${TESTDATA}/${name}.yaml`;
  used.add(`${name}.yaml`);
  const out: ConfigObject[] = [];
  parseAllDocuments(readFileSync(file, 'utf8')).forEach((doc, i) => {
    if (doc.errors.length > 0) throw new Error(`${file} document ${i}: ${doc.errors[0]!.message}`);
    const j: unknown = doc.toJSON();
    if (isObject(j)) out.push(j as unknown as ConfigObject);
  });
  return out;
}

type Kind = keyof ProxyResources;

function nameOf(r: Json): string {
  return String(r['name'] ?? r['cluster_name']);
}

/** The expected resources of a case and the same resources picked from the output, for t.same. */
export function golden(name: string, actual: ProxyResources): { expected: unknown; actual: unknown } {
  const file = `${TESTDATA}/${name}.json`;
  used.add(`${name}.json`);
  if (!existsSync(file)) throw new Error(`golden ${file} is missing (write it by hand)`);
  const expected = JSON.parse(readFileSync(file, 'utf8')) as Record<Kind, Record<string, unknown>>;
  const picked: Record<string, Record<string, unknown>> = {};
  for (const [kind, byName] of Object.entries(expected)) {
    picked[kind] = {};
    for (const n of Object.keys(byName)) {
      const found = actual[kind as Kind]?.find((r) => nameOf(r) === n);
      picked[kind]![n] = found ?? `<no ${kind} resource named ${n}>`;
    }
  }
  if (UPDATE_GOLDENS) writeFileSync(file, JSON.stringify(picked, null, 2) + '\n');
  return { expected, actual: picked };
}

export function unusedGoldens(): string[] {
  return readdirSync(TESTDATA).filter((f) => !used.has(f)).sort();
}
