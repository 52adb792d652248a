import { sampleReview } from './clients.js';

/**
 * The hostile-input tables for /inject, generated (not hand-picked) so that every field of the
 * AdmissionReview envelope and of the pod gets every JSON type it must not have.
 */

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type Path = Array<string | number>;

/** One representative of each JSON type; a field is replaced by every one whose type differs from its own. */
export const WRONG_VALUES: ReadonlyArray<{ type: string; value: Json }> = [
  { type: 'null', value: null },
  { type: 'boolean', value: true },
  { type: 'number', value: 42 },
  { type: 'string', value: 'surprise' },
  { type: 'array', value: [1, 'two'] },
  { type: 'object', value: { unexpected: 1 } },
];

function typeOf(v: Json): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  return typeof v;
}

/**
 * The sample review made richer so that the pod exercises most of what the injector reads:
 * Istio annotations, init containers, volumes, env, probes of each kind, security contexts.
 */
export function richReview(): { [k: string]: Json } {
  const r = sampleReview() as unknown as { [k: string]: Json };
  const req = r['request'] as { [k: string]: Json };
  req['name'] = 'hello-rich';
  req['userInfo'] = { username: 'system:serviceaccount:kube-system:replicaset-controller', groups: ['system:serviceaccounts'] };
  req['options'] = { kind: 'CreateOptions', apiVersion: 'meta.k8s.io/v1' };
  req['oldObject'] = null;
  const pod = req['object'] as { [k: string]: { [k: string]: Json } };
  pod['metadata']!['annotations'] = {
    'sidecar.istio.io/inject': 'true',
    'traffic.sidecar.istio.io/includeInboundPorts': '80',
    'sidecar.istio.io/proxyCPU': '50m',
    'proxy.istio.io/config': '{"holdApplicationUntilProxyStarts": true}',
    'sidecar.istio.io/rewriteAppHTTPProbers': 'true',
  };
  pod['metadata']!['ownerReferences'] = [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'hello-7d9c8b6f4', uid: 'u-1', controller: true }];
  const spec = pod['spec']!;
  spec['securityContext'] = { runAsNonRoot: true, fsGroup: 2000 };
  spec['initContainers'] = [{ name: 'setup', image: 'busybox', command: ['sh', '-c', 'true'] }];
  spec['volumes'] = [{ name: 'data', emptyDir: {} }];
  spec['hostNetwork'] = false;
  const containers = spec['containers'] as Array<{ [k: string]: Json }>;
  const app = containers[0]!;
  app['env'] = [{ name: 'MODE', value: 'demo' }];
  app['volumeMounts'] = [{ name: 'data', mountPath: '/data' }];
  app['securityContext'] = { allowPrivilegeEscalation: false, runAsUser: 1000 };
  app['livenessProbe'] = { tcpSocket: { port: 80 }, periodSeconds: 10 };
  app['startupProbe'] = { exec: { command: ['true'] } };
  app['resources'] = { requests: { cpu: '10m', memory: '16Mi' } };
  return r;
}

/** Every path in `v` (objects and arrays, depth first), the root excluded. */
function paths(v: Json, at: Path = []): Path[] {
  const out: Path[] = [];
  if (Array.isArray(v)) v.forEach((c, i) => out.push([...at, i], ...paths(c, [...at, i])));
  else if (v !== null && typeof v === 'object') for (const [k, c] of Object.entries(v)) out.push([...at, k], ...paths(c, [...at, k]));
  return out;
}

function getAt(v: Json, path: Path): Json {
  let cur: Json = v;
  for (const p of path) cur = (cur as Record<string | number, Json>)[p] as Json;
  return cur;
}

function setAt(v: Json, path: Path, value: Json): void {
  let cur: Json = v;
  for (const p of path.slice(0, -1)) cur = (cur as Record<string | number, Json>)[p] as Json;
  (cur as Record<string | number, Json>)[path[path.length - 1]!] = value;
}

export interface WrongTypeCase {
  /** e.g. `request.object.spec.containers[0].ports → string` */
  name: string;
  path: Path;
  body: string;
  /** the hostile pod as sent (for applying a returned patch) */
  object: Json;
}

export function pathText(path: Path): string {
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? p : `.${p}`)).join('');
}

/** For each field of the rich review and each JSON type it does not have: the review with that one field replaced. */
export function wrongTypeCases(): WrongTypeCase[] {
  const base = richReview();
  const cases: WrongTypeCase[] = [];
  let n = 0;
  for (const path of paths(base)) {
    const own = typeOf(getAt(base, path));
    for (const { type, value } of WRONG_VALUES) {
      if (type === own) continue;
      const r = structuredClone(base);
      setAt(r, path, structuredClone(value));
      // every case its own uid, unless the uid is the field under test
      const req = r['request'];
      if (req !== null && typeof req === 'object' && !Array.isArray(req) && !(path.length === 2 && path[1] === 'uid')) req['uid'] = `wrong-type-${n++}`;
      const object = req !== null && typeof req === 'object' && !Array.isArray(req) ? (req['object'] ?? null) : null;
      cases.push({ name: `${pathText(path)} → ${type}`, path, body: JSON.stringify(r), object });
    }
  }
  return cases;
}

/** Bodies that are not JSON, or not a whole JSON text. */
export function malformedBodies(): Array<{ name: string; body: string | Buffer }> {
  const text = JSON.stringify(richReview());
  const cuts = [1, 2, 10, Math.floor(text.length / 4), Math.floor(text.length / 2), text.length - 2, text.length - 1];
  return [
    { name: 'a lone brace', body: '{' },
    { name: 'a key without value', body: '{"apiVersion":' },
    { name: 'single quotes', body: "{'apiVersion':'admission.k8s.io/v1'}" },
    { name: 'trailing comma', body: '{"apiVersion":"admission.k8s.io/v1",}' },
    { name: 'two documents', body: `${text}${text}` },
    { name: 'trailing garbage', body: `${text}garbage` },
    { name: 'NaN literal', body: '{"apiVersion": NaN}' },
    { name: 'YAML instead of JSON', body: 'apiVersion: admission.k8s.io/v1\nkind: AdmissionReview\n' },
    { name: 'invalid UTF-8 bytes', body: Buffer.concat([Buffer.from('{"apiVersion":"'), Buffer.from([0xff, 0xfe, 0xc3]), Buffer.from('"}')]) },
    { name: 'a NUL byte', body: '{"apiVersion":"admission.k8s.io/v1"\u0000}' },
    { name: 'JSON null', body: 'null' },
    { name: 'JSON number', body: '42' },
    { name: 'JSON string', body: '"AdmissionReview"' },
    { name: 'JSON array', body: '[]' },
    { name: 'empty object', body: '{}' },
    { name: 'prototype poisoning (__proto__)', body: '{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"p","object":{}},"__proto__":{"polluted":1}}' },
    { name: 'constructor poisoning', body: '{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"c","object":{"constructor":{"prototype":{"polluted":1}}}}}' },
    ...cuts.map((c) => ({ name: `the review truncated at byte ${c} of ${text.length}`, body: text.slice(0, c) })),
  ];
}

/** `depth` nested arrays, built without recursion. */
export function nestedArrays(depth: number): string {
  return '['.repeat(depth) + ']'.repeat(depth);
}
