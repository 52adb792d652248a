import * as grpc from '@grpc/grpc-js';
import t from 'tap';
import { startMonitoringServer } from '../../../common/monitoring.js';
import { formatProxyStatus } from '../../../control-plane/proxy-status.js';
import { StaticRegistry, type Service } from '../../../control-plane/registry/types.js';
import type { ProxyStatus } from '../../../control-plane/xds/server/context.js';
import { registerXds } from '../../../control-plane/xds/server/register.js';
import { RawAds, sidecarNode, URL as TYPE, waitFor, type J } from '../ads-client.js';

/**
 * /debug/syncz over a real monitoring server and real ADS streams (state of the world and incremental):
 * per type the nonce of each response sent, the ACKed nonce, the NACKed nonce with the refused version
 * and the proxy's error; `tandem proxy-status` shows the NACK, then SYNCED once a later response is ACKed.
 */

function reviews(address: string): Service {
  return { name: 'reviews', namespace: 'shop', addresses: [], ports: [{ name: 'http', port: 9080, protocol: 'HTTP', endpoints: [{ address, port: 9080, labels: {} }] }] };
}

for (const delta of [false, true]) {
  t.test(`${delta ? 'delta' : 'sotw'}: nonces sent, ACKed and NACKed, the NACK's error, in syncz and proxy-status`, async (t) => {
    const server = new grpc.Server();
    const registry = new StaticRegistry({ services: [reviews('10.0.0.1')] });
    const xds = registerXds(server, { registry, debounce: { quietMs: 10, maxDelayMs: 100 } });
    t.teardown(() => xds.close());
    const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
    t.teardown(() => server.forceShutdown());
    const mon = await startMonitoringServer({ host: '127.0.0.1', port: 0, ready: () => true, debug: { '/debug/syncz': () => xds.proxies() } });
    t.teardown(() => mon.close());
    const syncz = async (): Promise<ProxyStatus> => ((await (await fetch(`http://127.0.0.1:${mon.port}/debug/syncz`)).json()) as ProxyStatus[])[0]!;

    const ads = new RawAds(port, delta);
    t.teardown(() => ads.close());
    const node = sidecarNode('shop');
    const ack = (r: J, error?: string): J =>
      delta
        ? { type_url: TYPE.cluster, response_nonce: r['nonce'], ...(error ? { error_detail: { code: 3, message: error } } : {}) }
        : { type_url: TYPE.cluster, version_info: error ? '' : r['version_info'], response_nonce: r['nonce'], resource_names: [], ...(error ? { error_detail: { code: 3, message: error } } : {}) };
    ads.send(delta ? { node, type_url: TYPE.cluster } : { node, type_url: TYPE.cluster, resource_names: [] });
    const first = await ads.next();
    const version = String(first[delta ? 'system_version_info' : 'version_info']);
    const nonce = String(first['nonce']);
    t.ok(nonce !== '', 'the response carries a nonce');
    let s = await syncz();
    t.equal(s.types.cluster?.sentNonce, nonce, 'syncz: the nonce sent');
    t.equal(s.types.cluster?.ackedNonce, '', 'nothing ACKed yet');
    t.same(s.types.cluster?.sent?.map((x) => [x.version, x.nonce]), [[version, nonce]], 'the responses sent, with versions and nonces');
    t.ok((s.types.cluster?.sent?.[0]?.resources ?? 0) >= 2, 'and how many resources each held');
    t.match(formatProxyStatus([s]), /\sSTALE\s/, 'sent, not ACKed: STALE');

    ads.send(ack(first, 'cluster outbound|9080||reviews.shop.svc.cluster.local: refused by the proxy'));
    t.ok(await waitFor(() => xds.proxies()[0]?.types.cluster?.nackedNonce !== undefined), 'the NACK is recorded');
    s = await syncz();
    t.equal(s.types.cluster?.nackedNonce, nonce, 'syncz: the NACKed nonce');
    t.equal(s.types.cluster?.nackedVersion, version, 'the version it refused');
    t.equal(s.types.cluster?.lastError, 'cluster outbound|9080||reviews.shop.svc.cluster.local: refused by the proxy', 'and the error, as the proxy wrote it');
    const table = formatProxyStatus([s]);
    t.match(table.split('\n')[1], /\sNACKED\s/, 'proxy-status: NACKED');
    t.ok(table.includes(`${String(node['id'])} CDS NACKED version ${version} nonce ${nonce}: cluster outbound|9080||reviews.shop.svc.cluster.local: refused by the proxy`), 'and the NACK line names the response and the error');

    registry.set({ services: [reviews('10.0.0.2'), { ...reviews('10.0.0.3'), name: 'ratings' }] });
    const second = await ads.next();
    t.not(second['nonce'], nonce, 'a new response, a new nonce');
    ads.send(ack(second));
    t.ok(await waitFor(() => xds.proxies()[0]?.types.cluster?.ackedNonce === second['nonce']), 'the ACK is recorded');
    s = await syncz();
    t.equal(s.types.cluster?.sentNonce, second['nonce']);
    t.equal(s.types.cluster?.nackedNonce, nonce, 'the last NACK stays visible');
    t.same(s.types.cluster?.sent?.map((x) => x.nonce), [nonce, second['nonce']], 'both responses in the history, oldest first');
    t.match(formatProxyStatus([s]), new RegExp(`\\sSYNCED\\s+NOT SENT\\s+NOT SENT\\s+NOT SENT\\s+${delta ? 'delta' : 'sotw'}\\s`), 'proxy-status: SYNCED again');
    t.notOk(formatProxyStatus([s]).includes('CDS NACKED'), 'and no NACK line');
  });
}
