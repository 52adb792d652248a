import fc from 'fast-check';
import { crdSchemas, type SchemaNode } from '../../config/validation/crd-schemas.js';

/**
 * Random Istio objects drawn from the CRDs' structural schemas (the ones `tandem validate` checks
 * against): every kind and served version, a few fields per object at every depth, values of the
 * field's type picked from a pool that mixes what Istio's rules accept (hosts, CIDRs, durations,
 * ports, SPIFFE names) with what they refuse; now and then a value of the wrong type. Most objects
 * are refused by some rule, which is the point: every refusal must name its field.
 */

const STRINGS = [
  '*', 'reviews', 'reviews.default.svc.cluster.local', '*.example.com', 'example.com', '10.0.0.0/8', '1.2.3.4', '::1', '10.0.0.1/40',
  '1s', '100ms', '0s', '-1s', '1.5h', 'v1', 'GET', '/api', 'ISTIO_MUTUAL', 'STRICT', 'spiffe://cluster.local/ns/default/sa/x', '',
  'a(b', '^/v[0-9]+$', 'unix:///var/run/sock', 'default/*', './*', '~/*', 'istio-system/*', 'x-user', 'https://issuer.example', 'ns/default', 'UPPER',
];
const INTEGERS = [0, 1, 80, 443, 8080, 65535, 65536, -1, 4294967296];
const NUMBERS = [0, 0.5, 100, 101, -1];

const scalarOfType = (type: SchemaNode['type']): fc.Arbitrary<unknown> => {
  switch (type) {
    case 'string':
      return fc.oneof({ weight: 5, arbitrary: fc.constantFrom(...STRINGS) }, { weight: 1, arbitrary: fc.string({ maxLength: 8 }) });
    case 'integer':
      return fc.constantFrom(...INTEGERS);
    case 'number':
      return fc.constantFrom(...NUMBERS);
    case 'boolean':
      return fc.boolean();
    default:
      return fc.constant({});
  }
};

/** Any JSON value, for the rare wrong-typed field and the free-form ones. */
const stray = fc.oneof(fc.constantFrom<unknown>(null, 'text', 7, true, [], {}), fc.jsonValue({ maxDepth: 1 }));

const memo = new Map<SchemaNode, Map<number, fc.Arbitrary<unknown>>>();

/** A value for `node`, at most `depth` levels of objects and arrays deep. */
export function valueFor(node: SchemaNode, depth: number): fc.Arbitrary<unknown> {
  let byDepth = memo.get(node);
  if (!byDepth) memo.set(node, (byDepth = new Map()));
  const known = byDepth.get(depth);
  if (known) return known;
  const made = fc.oneof({ weight: 15, arbitrary: typed(node, depth) }, { weight: 1, arbitrary: stray });
  byDepth.set(depth, made);
  return made;
}

function typed(node: SchemaNode, depth: number): fc.Arbitrary<unknown> {
  if (node.enum && node.enum.length > 0) return fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...node.enum) }, { weight: 1, arbitrary: fc.constant('NOT_IN_ENUM') });
  if (node['x-kubernetes-int-or-string']) return fc.oneof(fc.constantFrom(...INTEGERS), fc.constantFrom('8080', 'http', '50%', ''));
  if (node.type === 'array') {
    if (depth <= 0 || !node.items) return fc.constant([]);
    return fc.array(valueFor(node.items, depth - 1), { maxLength: 2 });
  }
  if (node.type === 'object' || node.properties || node.additionalProperties) {
    if (depth <= 0) return fc.constant({});
    const props = node.properties ?? {};
    const keys = Object.keys(props);
    const fixed =
      keys.length === 0
        ? fc.constant<[string, unknown][]>([])
        : fc.subarray(keys, { maxLength: Math.min(3, keys.length) }).chain((ks) => (ks.length === 0 ? fc.constant<[string, unknown][]>([]) : fc.tuple(...ks.map((k) => valueFor(props[k]!, depth - 1).map((v): [string, unknown] => [k, v])))));
    const extra =
      typeof node.additionalProperties === 'object'
        ? fc.array(fc.tuple(fc.constantFrom('app', 'version', 'x-key', 'request.auth.claims[iss]', 'source.ip'), valueFor(node.additionalProperties, depth - 1)), { maxLength: 2 })
        : node['x-kubernetes-preserve-unknown-fields']
          ? fc.array(fc.tuple(fc.constantFrom('any', 'thing'), stray), { maxLength: 1 })
          : fc.constant<[string, unknown][]>([]);
    return fc.tuple(fixed, extra).map(([a, b]) => Object.fromEntries([...a, ...b]));
  }
  return scalarOfType(node.type);
}

export interface IstioKindSchema {
  kind: string;
  group: string;
  version: string;
  spec: SchemaNode;
}

/** Every kind and served version with its spec schema. */
export function kindSchemas(): IstioKindSchema[] {
  const set = crdSchemas();
  const out: IstioKindSchema[] = [];
  for (const [kind, k] of Object.entries(set.kinds)) {
    for (const [version, index] of Object.entries(k.versions)) {
      const spec = k.schemas[index]?.properties?.['spec'];
      if (spec) out.push({ kind, group: k.group, version, spec });
    }
  }
  return out;
}

const name = fc.oneof({ weight: 6, arbitrary: fc.stringMatching(/^[a-z]([a-z0-9-]{0,8}[a-z0-9])?$/) }, { weight: 1, arbitrary: fc.constantFrom('', 'Bad_Name', 'a.b') });

/** One Istio document of any kind and version (namespace sometimes absent, as in a file). */
export function istioObject(kinds: readonly IstioKindSchema[], depth = 5): fc.Arbitrary<Record<string, unknown>> {
  return fc.constantFrom(...kinds).chain((k) =>
    fc.record({ name, namespace: fc.option(fc.constantFrom('default', 'istio-system', 'shop'), { nil: undefined }), spec: valueFor(k.spec, depth) }).map((g) => ({
      apiVersion: `${k.group}/${k.version}`,
      kind: k.kind,
      metadata: g.namespace === undefined ? { name: g.name } : { name: g.name, namespace: g.namespace },
      spec: g.spec,
    })),
  );
}
