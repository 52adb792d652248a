/** Shared by the AuthorizationPolicy tests: the testdata folder, its policy files (validated), the strict filter check. */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { isObject } from '../../../common/objects.js';
import type { ConfigObject } from '../../../config/model.js';
import { validateConfig } from '../../../config/validation/validate.js';
import { checkProtoJson } from '../../../control-plane/proto/json.js';

export const AUTHZ_TESTDATA = fileURLToPath(new URL('./authz-testdata/', import.meta.url));

const HTTP_FILTER = 'envoy.extensions.filters.network.http_connection_manager.v3.HttpFilter';
const NETWORK_FILTER = 'envoy.config.listener.v3.Filter';

export type Mode = 'http' | 'tcp' | 'proxyless';

/** The AuthorizationPolicies of `authz-testdata/<name>.yaml`, each valid Istio config (or the test fails, naming it). */
export function readPolicies(name: string): ConfigObject[] {
  const file = `${AUTHZ_TESTDATA}${name}.yaml`;
  const out: ConfigObject[] = [];
  parseAllDocuments(readFileSync(file, 'utf8')).forEach((doc, i) => {
    if (doc.errors.length > 0) throw new Error(`${file} document ${i}: ${doc.errors[0]!.message}`);
    const j: unknown = doc.toJSON();
    if (!isObject(j)) return;
    const v = validateConfig(j);
    if (v.problems.length > 0) throw new Error(`${file} document ${i} is not valid Istio config: ${JSON.stringify(v.problems)}`);
    out.push(j as unknown as ConfigObject);
  });
  return out;
}

/** The strict checker's issues for each filter: HCM HTTP filters, or listener (network) filters for `tcp`. */
export function filterIssues(mode: Mode, filters: readonly unknown[]): string[] {
  const type = mode === 'tcp' ? NETWORK_FILTER : HTTP_FILTER;
  return filters.flatMap((f, i) => checkProtoJson(type, f).map((x) => `filter ${i}: ${x.path}: ${x.message}`));
}
