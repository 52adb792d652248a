/**
 * One small, valid object per kind (hand-written from Istio's API reference), the base the invalid-object
 * tables mutate. Each must validate clean: validation.test.ts checks that first.
 */
export type Obj = Record<string, unknown>;

export function object(kind: string, spec: Obj, apiVersion?: string): Obj {
  const group = ['PeerAuthentication', 'AuthorizationPolicy', 'RequestAuthentication'].includes(kind)
    ? 'security.istio.io'
    : kind === 'Telemetry'
      ? 'telemetry.istio.io'
      : 'networking.istio.io';
  return { apiVersion: apiVersion ?? `${group}/v1`, kind, metadata: { name: 'sample', namespace: 'demo' }, spec };
}

export const VALID: Record<string, Obj> = {
  VirtualService: object('VirtualService', {
    hosts: ['reviews', 'reviews.demo.svc.cluster.local'],
    http: [
      {
        match: [{ uri: { prefix: '/v2' }, headers: { 'x-user': { exact: 'jason' } } }],
        route: [
          { destination: { host: 'reviews', subset: 'v1', port: { number: 9080 } }, weight: 80 },
          { destination: { host: 'reviews', subset: 'v2' }, weight: 20 },
        ],
        timeout: '2s',
        retries: { attempts: 3, perTryTimeout: '500ms', retryOn: 'gateway-error,connect-failure,unavailable,503' },
      },
      { route: [{ destination: { host: 'reviews' } }] },
    ],
  }),
  DestinationRule: object('DestinationRule', {
    host: 'reviews',
    trafficPolicy: { loadBalancer: { simple: 'ROUND_ROBIN' }, connectionPool: { tcp: { maxConnections: 100, connectTimeout: '1s' } } },
    subsets: [
      { name: 'v1', labels: { version: 'v1' } },
      { name: 'v2', labels: { version: 'v2' }, trafficPolicy: { loadBalancer: { consistentHash: { httpHeaderName: 'x-user' } } } },
    ],
  }),
  ServiceEntry: object('ServiceEntry', {
    hosts: ['api.example.com'],
    ports: [{ number: 443, name: 'https', protocol: 'TLS' }],
    location: 'MESH_EXTERNAL',
    resolution: 'DNS',
  }),
  Sidecar: object('Sidecar', {
    egress: [{ hosts: ['./*', 'istio-system/*'] }],
    outboundTrafficPolicy: { mode: 'REGISTRY_ONLY' },
  }),
  Gateway: object('Gateway', {
    selector: { istio: 'ingressgateway' },
    servers: [
      { port: { number: 80, name: 'http', protocol: 'HTTP' }, hosts: ['*.example.com'] },
      { port: { number: 443, name: 'https', protocol: 'HTTPS' }, hosts: ['demo/www.example.com'], tls: { mode: 'SIMPLE', credentialName: 'www-cert' } },
    ],
  }),
  PeerAuthentication: object('PeerAuthentication', { selector: { matchLabels: { app: 'reviews' } }, mtls: { mode: 'STRICT' }, portLevelMtls: { '8080': { mode: 'DISABLE' } } }),
  AuthorizationPolicy: object('AuthorizationPolicy', {
    selector: { matchLabels: { app: 'reviews' } },
    action: 'ALLOW',
    rules: [
      {
        from: [{ source: { principals: ['cluster.local/ns/demo/sa/productpage'] } }],
        to: [{ operation: { methods: ['GET'], paths: ['/reviews/*'], ports: ['9080'] } }],
        when: [{ key: 'request.headers[x-version]', values: ['v1'] }, { key: 'source.ip', values: ['10.0.0.0/8'] }],
      },
    ],
  }),
  RequestAuthentication: object('RequestAuthentication', {
    selector: { matchLabels: { app: 'reviews' } },
    jwtRules: [{ issuer: 'https://issuer.example.com', jwksUri: 'https://issuer.example.com/jwks.json', fromHeaders: [{ name: 'x-jwt', prefix: 'Bearer ' }] }],
  }),
  Telemetry: object('Telemetry', {
    selector: { matchLabels: { app: 'reviews' } },
    tracing: [{ providers: [{ name: 'zipkin' }], randomSamplingPercentage: 10 }],
    accessLogging: [{ providers: [{ name: 'envoy' }] }],
  }),
};

/** A deep copy of a valid object with `edit` applied to its spec. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- tests poke at arbitrary paths of untyped specs
export type Spec = Record<string, any>;

export function withSpec(kind: string, edit: (spec: Spec) => void): Obj {
  const o = structuredClone(VALID[kind]) as { spec: Spec };
  edit(o.spec);
  return o as Obj;
}
