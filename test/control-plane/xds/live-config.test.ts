import * as grpc from '@grpc/grpc-js';
import { mkdtemp, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import type { Logger } from '../../../common/logger.js';
import { openIstioConfig } from '../../../control-plane/istio-config.js';
import { StaticRegistry, type Service } from '../../../control-plane/registry/types.js';
import { registerXds } from '../../../control-plane/xds/server/register.js';
import { names, RawAds, sidecarNode, URL as TYPE, type J } from '../ads-client.js';

/**
 * Istio config edited live in a watched directory (the real file store and the real validator)
 * reaches a connected proxy over real ADS: a DestinationRule adds subset clusters and re-sends
 * clusters, not listeners; a VirtualService re-sends routes; an invalid edit leaves the last good
 * config serving; deleting the files returns to the registry-only resources. The server's debug
 * consistency assertion (every EDS/RDS name a proxy is sent exists) runs on every generation.
 */

const HOST = 'reviews.shop.svc.cluster.local';
const reviews: Service = {
  name: 'reviews',
  namespace: 'shop',
  addresses: [],
  ports: [
    {
      name: 'http',
      port: 9080,
      protocol: 'HTTP',
      endpoints: [
        { address: '10.0.0.1', port: 9080, labels: { version: 'v1' } },
        { address: '10.0.0.2', port: 9080, labels: { version: 'v2' } },
      ],
    },
  ],
};

const DR = `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews, namespace: shop}
spec:
  host: reviews
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
`;
const VS = (w1: number): string => `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: shop}
spec:
  hosts: [reviews]
  http:
  - route:
    - {destination: {host: reviews, subset: v1}, weight: ${w1}}
    - {destination: {host: reviews, subset: v2}, weight: ${100 - w1}}
`;

function ack(ads: RawAds, r: J, names: string[] = []): void {
  ads.send({ type_url: r['type_url'], version_info: r['version_info'], response_nonce: r['nonce'], resource_names: names });
}

/** Every response until 400 ms of quiet, each ACKed. */
async function drain(ads: RawAds): Promise<J[]> {
  const out: J[] = [];
  out.push(await ads.next(5000));
  for (;;) {
    ack(ads, out.at(-1)!, out.at(-1)!['type_url'] === TYPE.route ? ['9080'] : []);
    try {
      out.push(await ads.next(400));
    } catch {
      return out;
    }
  }
}

function weights(rds: J): number[] {
  const rc = (rds['resources'] as J[]).find((r) => r['name'] === '9080')!;
  const vh = (rc['virtual_hosts'] as J[]).find((v) => (v['domains'] as string[]).includes(HOST))!;
  const route = (vh['routes'] as J[])[0]!['route'] as J;
  return ((route['weighted_clusters'] as J | undefined)?.['clusters'] as J[] | undefined)?.map((c) => Number(c['weight'])) ?? [];
}

t.test('config edited live: targeted pushes, last good config kept, back to plain on deletion', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'tandem-live-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const errors: string[] = [];
  const log: Logger = { debug() {}, info() {}, warn() {}, error: (o, msg) => errors.push(`${msg ?? ''} ${JSON.stringify(o)}`) };
  const istio = await openIstioConfig({ spec: `file:${dir}`, log });
  t.teardown(() => istio.close());
  const server = new grpc.Server();
  const xds = registerXds(server, { registry: new StaticRegistry({ services: [reviews] }), config: istio.store!, mesh: istio.mesh, ready: istio.synced, log, debounce: { quietMs: 20, maxDelayMs: 200 }, checkConsistency: true });
  t.teardown(() => xds.close());
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
  t.teardown(() => server.forceShutdown());
  await xds.ready;

  const ads = new RawAds(port);
  t.teardown(() => ads.close());
  ads.send({ node: sidecarNode('shop'), type_url: TYPE.cluster, resource_names: [] });
  const cds = await ads.next();
  t.same(names(cds).filter((n) => n.includes(HOST)), [`outbound|9080||${HOST}`], 'no config: the registry-only clusters');
  ack(ads, cds);
  ads.send({ type_url: TYPE.listener, resource_names: [] });
  const lds = await ads.next();
  ack(ads, lds);
  ads.send({ type_url: TYPE.route, resource_names: ['9080'] });
  const rds = await ads.next();
  ack(ads, rds, ['9080']);
  t.same(weights(rds), [], 'no split yet');

  await writeFile(join(dir, 'dr.yaml'), DR);
  const first = await drain(ads);
  const cds2 = first.filter((r) => r['type_url'] === TYPE.cluster).at(-1)!;
  t.ok(names(cds2).includes(`outbound|9080|v1|${HOST}`) && names(cds2).includes(`outbound|9080|v2|${HOST}`), 'the first config: subset clusters');
  t.same(weights(first.filter((r) => r['type_url'] === TYPE.route).at(-1) ?? rds), [], 'no split yet');

  await writeFile(join(dir, 'vs.yaml'), VS(80));
  const second = await drain(ads);
  t.same(second.map((r) => r['type_url']), [TYPE.route], 'a VirtualService re-sends routes only');
  t.same(weights(second[0]!), [80, 20], 'with the split');

  await writeFile(join(dir, 'dr.yaml'), DR.replace('  subsets:', '  trafficPolicy: {loadBalancer: {simple: LEAST_REQUEST}}\n  subsets:'));
  const third = await drain(ads);
  t.same(third.map((r) => r['type_url']), [TYPE.cluster], 'a DestinationRule edit re-sends clusters, not listeners or routes');

  await writeFile(join(dir, 'vs.yaml'), VS(80).replace('weight: 20', 'weight: -20'));
  t.ok(await ads.quiet(600), 'an invalid edit pushes nothing: the last good VirtualService stays in force');
  t.ok(errors.some((e) => e.includes('VirtualService')), 'and the refusal is logged naming the object');
  errors.length = 0;

  await writeFile(join(dir, 'vs.yaml'), VS(30));
  const fourth = await drain(ads);
  t.same(weights(fourth.at(-1)!), [30, 70], 'a valid edit after it is served');

  await unlink(join(dir, 'vs.yaml'));
  await unlink(join(dir, 'dr.yaml'));
  const got: J[] = [];
  for (;;) {
    const r = await ads.next(5000);
    got.push(r);
    ack(ads, r, r['type_url'] === TYPE.route ? ['9080'] : []);
    if (got.some((g) => g['type_url'] === TYPE.cluster) && got.some((g) => g['type_url'] === TYPE.route)) break;
  }
  const lastCds = got.filter((g) => g['type_url'] === TYPE.cluster).at(-1)!;
  t.same(names(lastCds).filter((n) => n.includes(HOST)), [`outbound|9080||${HOST}`], 'deleted: back to the registry-only clusters');
  t.same(weights(got.filter((g) => g['type_url'] === TYPE.route).at(-1)!), [], 'and unsplit routes');
  t.same(errors, [], 'the consistency assertion found nothing, and nothing else failed');
});

t.test('no proxy is answered before the registry and the config store have synced', async (t) => {
  let release!: () => void;
  const synced = new Promise<void>((r) => (release = r));
  const server = new grpc.Server();
  const xds = registerXds(server, { registry: new StaticRegistry({ services: [reviews] }), config: { snapshot: () => emptyStore.snapshot(), onChange: () => () => {}, synced }, debounce: { quietMs: 10, maxDelayMs: 100 } });
  t.teardown(() => xds.close());
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
  t.teardown(() => server.forceShutdown());
  const ads = new RawAds(port);
  t.teardown(() => ads.close());
  ads.send({ node: sidecarNode('shop'), type_url: TYPE.cluster, resource_names: [] });
  t.ok(await ads.quiet(300), 'the request waits while the config store has not synced');
  release();
  const cds = await ads.next();
  t.ok(names(cds).includes(`outbound|9080||${HOST}`), 'and is answered once it has');
});

const emptyStore = { snapshot: () => ({ list: () => [] }) } as unknown as { snapshot(): import('../../../config/store/snapshot.js').ConfigSnapshot };
