import { readFileSync } from 'node:fs';
import { parseAllDocuments } from 'yaml';
import { compactCrdSchemas, renderCrdSchemas } from './crd-schemas.js';

/**
 * Regenerates config/validation/crd-schemas.json from Istio's CRDs:
 *   node dist/config/validation/generate-crd-schemas.js test/conformance/istio-config/crds.yaml > config/validation/crd-schemas.json
 */
export const CRD_SOURCE = "istio/api kubernetes/customresourcedefinitions.gen.yaml @ b8f8791d9653b2edc77a071d48887e582cfe84bf (vendored in test/conformance/istio-config/crds.yaml)";

export function generate(crdsYaml: string): string {
  const docs = parseAllDocuments(crdsYaml);
  const list = (Array.isArray(docs) ? docs : [docs]).map((d) => d.toJS() as unknown);
  return renderCrdSchemas(compactCrdSchemas(list, CRD_SOURCE));
}

const file = process.argv[2];
if (import.meta.url === `file://${process.argv[1] ?? ''}` && file !== undefined) {
  process.stdout.write(generate(readFileSync(file, 'utf8')));
}
