import { isObject } from '../../common/objects.js';
import { isDns1123Label, isDns1123Subdomain } from '../../common/names.js';
import { CONFIG_KINDS, type ConfigKind, type ConfigProblem } from '../model.js';
import { crdSchemas, type CrdSchemaSet } from './crd-schemas.js';
import type { Json, Problems } from './semantic/common.js';
import { validateDestinationRule } from './semantic/destination-rule.js';
import { validateGateway } from './semantic/gateway.js';
import { validateAuthorizationPolicy, validatePeerAuthentication, validateRequestAuthentication } from './semantic/security.js';
import { validateServiceEntry } from './semantic/service-entry.js';
import { validateSidecar } from './semantic/sidecar.js';
import { validateTelemetry } from './semantic/telemetry.js';
import { validateVirtualService } from './semantic/virtual-service.js';
import { validateStructure } from './structural.js';

/**
 * One Istio object, validated the way a cluster would: the apiserver's checks against the CRD (structural
 * schema with strict fields, then its CEL rules), then Istio's own semantic rules (what istiod's
 * validating webhook adds). The same function serves `tandem validate`, the admission webhook and the stores.
 */

const SEMANTIC: Record<ConfigKind, (spec: Json) => Problems> = {
  VirtualService: validateVirtualService,
  DestinationRule: validateDestinationRule,
  ServiceEntry: validateServiceEntry,
  Sidecar: validateSidecar,
  Gateway: validateGateway,
  PeerAuthentication: validatePeerAuthentication,
  AuthorizationPolicy: validateAuthorizationPolicy,
  RequestAuthentication: validateRequestAuthentication,
  Telemetry: validateTelemetry,
};

const KIND_BY_GROUP = new Map<string, ConfigKind>(CONFIG_KINDS.map((k) => [`${k.group}/${k.kind}`, k.kind]));

export interface ValidationResult {
  /** false for objects that are not one of the Istio kinds tandem validates (they are passed over). */
  validated: boolean;
  kind: string;
  apiVersion: string;
  name: string;
  namespace: string;
  problems: ConfigProblem[];
  /** not refusals: fields Istio ignores (removed from its API), reported so the user can drop them */
  warnings: ConfigProblem[];
  /** CEL rules evaluated on this object (transition rules are skipped on create). */
  celRules: number;
}

export interface ValidateOptions {
  /** namespace assumed when metadata.namespace is absent (kubectl's default namespace). */
  defaultNamespace?: string;
  schemas?: CrdSchemaSet;
}

/** Pure (given the committed schemas): the problems of one parsed document. */
export function validateConfig(doc: unknown, opts: ValidateOptions = {}): ValidationResult {
  const meta = isObject(doc) && isObject(doc.metadata) ? doc.metadata : {};
  const result: ValidationResult = {
    validated: false,
    kind: isObject(doc) && typeof doc.kind === 'string' ? doc.kind : '',
    apiVersion: isObject(doc) && typeof doc.apiVersion === 'string' ? doc.apiVersion : '',
    name: typeof meta.name === 'string' ? meta.name : '',
    namespace: typeof meta.namespace === 'string' && meta.namespace !== '' ? meta.namespace : (opts.defaultNamespace ?? 'default'),
    problems: [],
    warnings: [],
    celRules: 0,
  };
  if (!isObject(doc)) {
    result.validated = true;
    result.problems.push({ path: '', message: 'document is not an object' });
    return result;
  }
  const slash = result.apiVersion.indexOf('/');
  const group = slash < 0 ? '' : result.apiVersion.slice(0, slash);
  const version = result.apiVersion.slice(slash + 1);
  const kind = KIND_BY_GROUP.get(`${group}/${result.kind}`);
  if (kind === undefined) return result;
  result.validated = true;

  const schemas = (opts.schemas ?? crdSchemas()).kinds[kind];
  const index = schemas?.versions[version];
  const schema = index === undefined ? undefined : schemas?.schemas[index];
  if (schema === undefined) {
    const served = Object.keys(schemas?.versions ?? {}).join(', ');
    result.problems.push({ path: 'apiVersion', message: `${result.apiVersion} does not serve ${kind} (served versions: ${served})` });
    return result;
  }
  checkMetadata(result.problems, doc.metadata);
  const structural = validateStructure(withoutRemovedFields(kind, doc, result.warnings), schema);
  result.celRules = structural.rulesEvaluated;
  result.problems.push(...structural.problems);
  // The apiserver checks the schema before any validating webhook runs: Istio's rules only see
  // objects that passed it, and their messages would only repeat a type error.
  if (structural.problems.length === 0) {
    const spec = isObject(doc.spec) ? doc.spec : {};
    // (the removed fields are not in the schema, so no semantic rule reads them)
    result.problems.push(...SEMANTIC[kind](spec).list);
  }
  return result;
}

function checkMetadata(problems: ConfigProblem[], v: unknown): void {
  if (!isObject(v)) {
    problems.push({ path: 'metadata', message: 'Required value' });
    return;
  }
  const name = v.name;
  if (typeof name !== 'string' || name === '') problems.push({ path: 'metadata.name', message: 'Required value: name is required' });
  else if (!isDns1123Subdomain(name)) problems.push({ path: 'metadata.name', message: `Invalid value: "${name}": must be a DNS-1123 subdomain (lower case letters, digits, '-' and '.')` });
  const ns = v.namespace;
  if (ns !== undefined && ns !== null && (typeof ns !== 'string' || (ns !== '' && !isDns1123Label(ns)))) {
    problems.push({ path: 'metadata.namespace', message: `Invalid value: ${JSON.stringify(ns)}: must be a DNS-1123 label` });
  }
}

/**
 * Fields Istio removed from its API but still tolerates in old config (its loader drops unknown fields):
 * `HTTPRoute.websocketUpgrade` (WebSocket upgrades are always allowed since Istio 1.0). Istio's own test
 * mesh (test/conformance/istio-config/samples/rule-websocket-route.yaml) still carries it. They are dropped
 * with a warning instead of being refused as unknown; every other unknown field is refused.
 */
function withoutRemovedFields(kind: ConfigKind, doc: Record<string, unknown>, warnings: ConfigProblem[]): Record<string, unknown> {
  if (kind !== 'VirtualService' || !isObject(doc.spec) || !Array.isArray(doc.spec.http)) return doc;
  const http = doc.spec.http;
  if (!http.some((r) => isObject(r) && 'websocketUpgrade' in r)) return doc;
  const cleaned = http.map((r, i) => {
    if (!isObject(r) || !('websocketUpgrade' in r)) return r;
    warnings.push({ path: `spec.http[${i}].websocketUpgrade`, message: 'field removed from Istio\'s API (WebSocket upgrades are always allowed); ignored' });
    const { websocketUpgrade: _removed, ...rest } = r;
    return rest;
  });
  return { ...doc, spec: { ...doc.spec, http: cleaned } };
}
