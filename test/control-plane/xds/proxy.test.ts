import t from 'tap';
import { proxyFromNode } from '../../../control-plane/xds/proxy.js';

t.test('proxy identity from the xDS node', async (t) => {
  t.same(proxyFromNode({ id: 'sidecar~10.0.0.5~app-1.shop~shop.svc.cluster.local', user_agent_name: 'envoy' }), {
    id: 'sidecar~10.0.0.5~app-1.shop~shop.svc.cluster.local',
    namespace: 'shop',
    labels: {},
    ips: [],
    appPorts: [],
    proxyless: false,
    userAgent: 'envoy',
  }, 'namespace from the node id when metadata has none');
  t.same(proxyFromNode({ id: 'x', metadata: { NAMESPACE: 'ns1', APP_PORTS: '9090, 80,bad,80' } }).appPorts, [80, 9090], 'APP_PORTS as a comma list');
  t.same(proxyFromNode({ id: 'x', metadata: { NAMESPACE: 'ns1', APP_PORTS: [8080, 70000, 8080] } }), { id: 'x', namespace: 'ns1', labels: {}, ips: [], appPorts: [8080], proxyless: false, userAgent: '' });
  t.equal(proxyFromNode({}).namespace, 'default', 'a node without identity lands in default');
});

t.test('labels and IPs from the metadata the bootstrap writes (LABELS, INSTANCE_IPS)', async (t) => {
  const p = proxyFromNode({ id: 'x', metadata: { NAMESPACE: 'shop', LABELS: { app: 'reviews', version: 'v1', bad: 3 }, INSTANCE_IPS: '10.0.0.5, fd00::5' } });
  t.same(p.labels, { app: 'reviews', version: 'v1' }, 'non-string label values are dropped');
  t.same(p.ips, ['10.0.0.5', 'fd00::5']);
  t.same(proxyFromNode({ metadata: { LABELS: 'app=x', INSTANCE_IPS: ['10.0.0.1'] } }), { id: '', namespace: 'default', labels: {}, ips: ['10.0.0.1'], appPorts: [], proxyless: false, userAgent: '' });
});

t.test('a proxyless gRPC client: metadata GENERATOR grpc (Istio) or a gRPC user agent (grpc-js-xds)', async (t) => {
  t.equal(proxyFromNode({ id: 'x', metadata: { GENERATOR: 'grpc' } }).proxyless, true);
  t.equal(proxyFromNode({ id: 'x', user_agent_name: 'gRPC Node Pure JS' }).proxyless, true);
  t.equal(proxyFromNode({ id: 'x', user_agent_name: 'envoy', metadata: { GENERATOR: 'envoy' } }).proxyless, false);
});
