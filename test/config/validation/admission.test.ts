import t from 'tap';
import { admitConfig } from '../../../config/validation/admission.js';
import { VALID, withSpec } from './fixtures.js';

/** The webhook's decision on AdmissionRequests as the apiserver sends them (v1 and v1beta1 share these fields). */

function request(operation: string, object: unknown, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    uid: '705ab4f5-6393-11e8-b7cc-42010a800002',
    kind: { group: 'networking.istio.io', version: 'v1', kind: 'VirtualService' },
    resource: { group: 'networking.istio.io', version: 'v1', resource: 'virtualservices' },
    name: 'sample',
    namespace: 'demo',
    operation,
    userInfo: { username: 'admin' },
    object,
    oldObject: null,
    dryRun: false,
    ...extra,
  };
}

t.test('CREATE and UPDATE are validated', async (t) => {
  t.same(admitConfig(request('CREATE', VALID.VirtualService)), { allowed: true });
  t.same(admitConfig(request('UPDATE', VALID.DestinationRule, { oldObject: VALID.DestinationRule })), { allowed: true });
  const bad = withSpec('VirtualService', (s) => (s.http[0].route[1].weight = 30));
  const d = admitConfig(request('CREATE', bad));
  t.equal(d.allowed, false);
  t.equal(d.message, 'VirtualService demo/sample is invalid: spec.http[0].route: total destination weight 110 != 100');
  const u = admitConfig(request('UPDATE', withSpec('AuthorizationPolicy', (s) => (s.action = 'CUSTOM'))));
  t.equal(u.allowed, false);
  t.match(u.message, /spec\.action: CUSTOM action is not supported/);
});

t.test('several problems are listed, the namespace comes from the request when the object has none', async (t) => {
  const bad = withSpec('ServiceEntry', (s) => {
    s.addresses = ['nope'];
    s.ports[0].protocol = 'SMTP';
  }) as { metadata: Record<string, unknown> };
  delete bad.metadata.namespace;
  const d = admitConfig(request('CREATE', bad, { namespace: 'shop' }));
  t.equal(d.message, 'ServiceEntry shop/sample is invalid: spec.addresses[0]: invalid address nope: must be an IP address or CIDR; spec.ports[0].protocol: unsupported protocol "SMTP"');
});

t.test('DELETE is always allowed; other kinds pass; broken requests are refused', async (t) => {
  t.same(admitConfig(request('DELETE', null, { oldObject: VALID.Gateway })), { allowed: true });
  t.same(admitConfig(request('CREATE', { apiVersion: 'networking.istio.io/v1alpha3', kind: 'EnvoyFilter', metadata: { name: 'x' }, spec: { anything: 1 } })), { allowed: true }, 'Istio kinds tandem does not read are not judged');
  t.same(admitConfig(request('CREATE', undefined)), { allowed: false, message: 'CREATE request has no object to validate' });
  t.same(admitConfig('nonsense'), { allowed: false, message: 'admission request is not an object' });
  t.same(admitConfig(request('PATCH', VALID.Gateway)), { allowed: false, message: 'unsupported admission operation "PATCH"' });
});

t.test('warnings travel with the answer', async (t) => {
  const vs = withSpec('VirtualService', (s) => (s.http[1].websocketUpgrade = true));
  t.same(admitConfig(request('CREATE', vs)), { allowed: true, warnings: ["spec.http[1].websocketUpgrade: field removed from Istio's API (WebSocket upgrades are always allowed); ignored"] });
});
