import t from 'tap';
import { proxyFromNode, viewKey } from '../../control-plane/xds/proxy.js';

t.test('proxy identity from the xDS node', async (t) => {
  t.same(proxyFromNode({ id: 'sidecar~10.0.0.5~app-1.shop~shop.svc.cluster.local', user_agent_name: 'envoy' }), {
    id: 'sidecar~10.0.0.5~app-1.shop~shop.svc.cluster.local',
    namespace: 'shop',
    appPorts: [],
    userAgent: 'envoy',
  }, 'namespace from the node id when metadata has none');
  t.same(proxyFromNode({ id: 'x', metadata: { NAMESPACE: 'ns1', APP_PORTS: '9090, 80,bad,80' } }).appPorts, [80, 9090], 'APP_PORTS as a comma list');
  t.same(proxyFromNode({ id: 'x', metadata: { NAMESPACE: 'ns1', APP_PORTS: [8080, 70000, 8080] } }), { id: 'x', namespace: 'ns1', appPorts: [8080], userAgent: '' });
  t.equal(proxyFromNode({}).namespace, 'default', 'a node without identity lands in default');
  t.equal(viewKey({ namespace: 'a', appPorts: [1, 2] }), 'a|1,2');
});
