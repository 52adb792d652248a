import { CONFIG_KINDS, type ConfigKind } from '../model.js';
import { isObject } from '../../common/objects.js';
import committed from './crd-schemas.json' with { type: 'json' };

/**
 * The structural schemas of the Istio CRDs, reduced to what validation reads. The runtime cannot read
 * test/conformance/, so `crd-schemas.json` (next to this module) is generated from the vendored CRDs by
 * `compactCrdSchemas` (run `node dist/config/validation/generate-crd-schemas.js CRDS.yaml`); a test
 * regenerates it and fails on any difference.
 */

/** One `x-kubernetes-validations` entry. */
export interface CelRule {
  rule: string;
  message?: string;
  messageExpression?: string;
  reason?: string;
  fieldPath?: string;
  optionalOldSelf?: boolean;
}

/** A node of a Kubernetes structural schema (OpenAPI v3 subset), with only the keys that validate. */
export interface SchemaNode {
  type?: 'object' | 'array' | 'string' | 'integer' | 'number' | 'boolean';
  format?: string;
  properties?: Record<string, SchemaNode>;
  additionalProperties?: SchemaNode | boolean;
  items?: SchemaNode;
  required?: string[];
  enum?: unknown[];
  pattern?: string;
  nullable?: boolean;
  maxLength?: number;
  minLength?: number;
  maximum?: number;
  minimum?: number;
  exclusiveMaximum?: boolean;
  exclusiveMinimum?: boolean;
  maxItems?: number;
  minItems?: number;
  maxProperties?: number;
  minProperties?: number;
  oneOf?: SchemaNode[];
  anyOf?: SchemaNode[];
  allOf?: SchemaNode[];
  not?: SchemaNode;
  'x-kubernetes-preserve-unknown-fields'?: boolean;
  'x-kubernetes-int-or-string'?: boolean;
  'x-kubernetes-validations'?: CelRule[];
  'x-kubernetes-list-type'?: 'atomic' | 'set' | 'map';
  'x-kubernetes-list-map-keys'?: string[];
}

export interface KindSchemas {
  group: string;
  /** served version -> index into `schemas` (versions with identical schemas share one entry). */
  versions: Record<string, number>;
  schemas: SchemaNode[];
}

export interface CrdSchemaSet {
  source: string;
  license: string;
  kinds: Partial<Record<ConfigKind, KindSchemas>>;
}

const KEPT = new Set([
  'type', 'format', 'required', 'enum', 'pattern', 'nullable', 'maxLength', 'minLength', 'maximum', 'minimum',
  'exclusiveMaximum', 'exclusiveMinimum', 'maxItems', 'minItems', 'maxProperties', 'minProperties',
  'x-kubernetes-preserve-unknown-fields', 'x-kubernetes-int-or-string', 'x-kubernetes-validations',
  'x-kubernetes-list-type', 'x-kubernetes-list-map-keys',
]);

/** Drops descriptions and every key validation does not read; keys sorted so the output is stable. */
function compactNode(node: unknown): SchemaNode {
  if (!isObject(node)) return {};
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(node).sort()) {
    const v = node[key];
    if (key === 'properties' && isObject(v)) {
      const props: Record<string, SchemaNode> = {};
      for (const p of Object.keys(v).sort()) props[p] = compactNode(v[p]);
      out.properties = props;
    } else if (key === 'additionalProperties') {
      out.additionalProperties = typeof v === 'boolean' ? v : compactNode(v);
    } else if (key === 'items' || key === 'not') {
      out[key] = compactNode(v);
    } else if ((key === 'oneOf' || key === 'anyOf' || key === 'allOf') && Array.isArray(v)) {
      out[key] = v.map(compactNode);
    } else if (KEPT.has(key)) {
      out[key] = v;
    }
  }
  return out as SchemaNode;
}

/** Pure: the CRD documents (parsed YAML) -> the schemas of the kinds tandem stores, served versions only. */
export function compactCrdSchemas(crds: unknown[], source: string): CrdSchemaSet {
  const wanted = new Map<string, ConfigKind>(CONFIG_KINDS.map((k) => [`${k.group}/${k.kind}`, k.kind]));
  const kinds: Partial<Record<ConfigKind, KindSchemas>> = {};
  for (const crd of crds) {
    if (!isObject(crd) || crd.kind !== 'CustomResourceDefinition' || !isObject(crd.spec)) continue;
    const spec = crd.spec;
    const names = isObject(spec.names) ? spec.names : {};
    const kind = wanted.get(`${String(spec.group)}/${String(names.kind)}`);
    if (kind === undefined || !Array.isArray(spec.versions)) continue;
    const entry: KindSchemas = { group: String(spec.group), versions: {}, schemas: [] };
    const seen = new Map<string, number>();
    for (const v of spec.versions) {
      if (!isObject(v) || v.served !== true || !isObject(v.schema)) continue;
      const schema = compactNode(v.schema.openAPIV3Schema);
      const text = JSON.stringify(schema);
      let index = seen.get(text);
      if (index === undefined) {
        index = entry.schemas.push(schema) - 1;
        seen.set(text, index);
      }
      entry.versions[String(v.name)] = index;
    }
    kinds[kind] = entry;
  }
  return { source, license: 'Apache-2.0 (Istio authors); descriptions removed, validation keys kept unchanged', kinds };
}

/** The JSON text committed as crd-schemas.json: one stable rendering, so regeneration diffs are real. */
export function renderCrdSchemas(set: CrdSchemaSet): string {
  return JSON.stringify(set, null, 1) + '\n';
}

/** The committed schemas (imported as JSON, so tsc copies them into dist/ beside this module). */
export function crdSchemas(): CrdSchemaSet {
  return committed as unknown as CrdSchemaSet;
}
