import * as grpc from '@grpc/grpc-js';
import t from 'tap';
import type { Logger } from '../../../common/logger.js';
import { StaticRegistry, type Service } from '../../../control-plane/registry/types.js';
import { registerXds } from '../../../control-plane/xds/server/register.js';
import { names, RawAds, sidecarNode, URL as TYPE, waitFor } from '../ads-client.js';
import { addEcho, echoClient, say } from '../helpers.js';

/** registerXds on a gRPC server the caller owns: another service shares its port, and closing xDS leaves that service up. */

function http(name: string, ip: string): Service {
  return { name, namespace: 'shop', addresses: [], ports: [{ name: 'http', port: 9080, protocol: 'HTTP', endpoints: [{ address: ip, port: 9080, labels: {} }] }] };
}

t.test('xDS and another gRPC service on one server and port', async (t) => {
  const server = new grpc.Server();
  addEcho(server, 'neighbour');
  const registry = new StaticRegistry({ services: [http('reviews', '10.0.0.1')] });
  const errors: string[] = [];
  const log: Logger = { debug() {}, info() {}, warn() {}, error: (_o, msg) => errors.push(msg ?? '') };
  const xds = registerXds(server, { registry, log, debounce: { quietMs: 10, maxDelayMs: 100 }, checkConsistency: true });
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
  t.teardown(() => server.forceShutdown());

  const ads = new RawAds(port);
  t.teardown(() => ads.close());
  ads.send({ node: sidecarNode('shop'), type_url: TYPE.cluster, resource_names: [] });
  const cds = await ads.next();
  t.ok(names(cds).includes('outbound|9080||reviews.shop.svc.cluster.local'), 'ADS answers on the shared port');
  const client = echoClient(`127.0.0.1:${port}`);
  t.teardown(() => client.close());
  t.same(await say(client, 'hi'), { message: 'hi', server: 'neighbour' }, 'and so does the other service');
  t.equal(xds.stats().streams, 1);
  t.equal(xds.proxies()[0]?.types.cluster?.wildcard, true);

  registry.set({ services: [http('reviews', '10.0.0.1'), http('details', '10.0.0.2')] });
  ads.send({ type_url: TYPE.cluster, version_info: cds['version_info'], response_nonce: cds['nonce'], resource_names: [] });
  const cds2 = await ads.next();
  t.ok(names(cds2).includes('outbound|9080||details.shop.svc.cluster.local'), 'pushes follow the registry');
  t.same(errors, [], 'the debug consistency assertion found nothing');
  const generations = xds.stats().generations;
  xds.push();
  t.ok(await waitFor(() => xds.stats().generations === generations + 1), 'push() rebuilds after the debounce');
  t.ok(await ads.quiet(200), 'and sends nothing when nothing changed for the proxy');

  xds.close();
  t.ok(await waitFor(() => ads.ended || ads.error !== undefined), 'closing xDS ends its streams');
  t.equal(xds.stats().streams, 0);
  t.same(await say(client, 'still there'), { message: 'still there', server: 'neighbour' }, 'while the server and its other service stay up');
});
