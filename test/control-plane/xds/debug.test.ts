import * as grpc from '@grpc/grpc-js';
import t from 'tap';
import { startMonitoringServer } from '../../../common/monitoring.js';
import { formatProxyStatus } from '../../../control-plane/proxy-status.js';
import { StaticRegistry } from '../../../control-plane/registry/types.js';
import { registerXds } from '../../../control-plane/xds/server/register.js';
import type { ProxyStatus } from '../../../control-plane/xds/server/context.js';
import { RawAds, sidecarNode, URL as TYPE } from '../ads-client.js';

/** /debug/syncz and /debug/config_dump on a real monitoring server, over a real ADS stream; the proxy-status table. */

t.test('syncz and config_dump show what a connected proxy was sent and ACKed', async (t) => {
  const server = new grpc.Server();
  const registry = new StaticRegistry({ services: [{ name: 'reviews', namespace: 'shop', addresses: [], ports: [{ name: 'http', port: 9080, protocol: 'HTTP', endpoints: [{ address: '10.0.0.1', port: 9080, labels: {} }] }] }] });
  const xds = registerXds(server, { registry });
  t.teardown(() => xds.close());
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
  t.teardown(() => server.forceShutdown());
  const mon = await startMonitoringServer({ host: '127.0.0.1', port: 0, ready: () => true, debug: { '/debug/syncz': () => xds.proxies(), '/debug/config_dump': (q) => xds.configDump(q.get('proxy') ?? '') } });
  t.teardown(() => mon.close());

  const ads = new RawAds(port);
  t.teardown(() => ads.close());
  const node = sidecarNode('shop');
  ads.send({ node, type_url: TYPE.cluster, resource_names: [] });
  const cds = await ads.next();
  ads.send({ type_url: TYPE.cluster, version_info: cds['version_info'], response_nonce: cds['nonce'], resource_names: [] });
  await new Promise((r) => setTimeout(r, 100));

  const syncz = (await (await fetch(`http://127.0.0.1:${mon.port}/debug/syncz`)).json()) as ProxyStatus[];
  t.equal(syncz.length, 1);
  t.equal(syncz[0]!.id, node['id']);
  t.equal(syncz[0]!.types.cluster?.ackedVersion, cds['version_info'], 'the CDS version is ACKed');
  const dump = (await (await fetch(`http://127.0.0.1:${mon.port}/debug/config_dump?proxy=${encodeURIComponent(String(node['id']))}`)).json()) as Record<string, Array<{ name: string }>>;
  t.ok(dump['cluster']!.some((c) => c.name === 'outbound|9080||reviews.shop.svc.cluster.local'), 'config_dump holds the clusters it was sent, as JSON');
  t.equal((await fetch(`http://127.0.0.1:${mon.port}/debug/config_dump?proxy=nobody`)).status, 404, 'an unknown proxy is a 404');

  const table = formatProxyStatus(syncz).split('\n');
  t.match(table[0], /^NAME\s+CDS\s+LDS\s+EDS\s+RDS\s+PROTOCOL\s+VERSION$/);
  t.match(table[1], new RegExp(`^${String(node['id']).replace(/[.~]/g, '\\$&')}\\s+SYNCED\\s+NOT SENT\\s+NOT SENT\\s+NOT SENT\\s+sotw\\s+${cds['version_info']}$`));
});

t.test('proxy-status table: SYNCED, STALE and NACKED by hand', async (t) => {
  const st = (sent: string, acked: string, lastError?: string) => ({ wildcard: true, names: [], sentVersion: sent, ackedVersion: acked, acked: [], acks: 0, nacks: lastError ? 1 : 0, ...(lastError ? { lastError } : {}) });
  const text = formatProxyStatus([
    { id: 'b', protocol: 'delta', types: { cluster: st('3', '2'), listener: st('3', '2', 'bad listener') } },
    { id: 'a', protocol: 'sotw', types: { cluster: st('2', '2') } },
  ]);
  t.equal(
    text,
    [
      'NAME   CDS      LDS        EDS        RDS        PROTOCOL   VERSION',
      'a      SYNCED   NOT SENT   NOT SENT   NOT SENT   sotw       2',
      'b      STALE    NACKED     NOT SENT   NOT SENT   delta      3',
      '',
    ].join('\n'),
  );
});
