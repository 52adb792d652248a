import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { httpGet, metric, rssKiB, sleep, startServe, tempDir } from './processes.js';
import { registryYaml } from './registry-file.js';
import { ack, AdsStream, sidecarNode, TYPE, type DiscoveryResponse } from './xds-client.js';

/**
 * Slow and stuck xDS clients against the real `tandem serve --registry file:PATH` process: one
 * that never ACKs and one that never reads must not hold back a healthy proxy, and the server's
 * own count of connected streams (tandem_xds_connected_streams on the monitoring port) must go
 * back down when they leave.
 */

const SERVICES = 40;
const ENDPOINTS = 20;
const ROUNDS = 15;

async function connected(port: number): Promise<number> {
  return metric((await httpGet(port, '/metrics')).body, /^tandem_xds_connected_streams /);
}

async function waitConnected(port: number, n: number, timeoutMs = 5000): Promise<number> {
  const end = Date.now() + timeoutMs;
  let last = NaN;
  while (Date.now() < end) {
    last = await connected(port);
    if (last === n) return last;
    await sleep(50);
  }
  return last;
}

t.test('a proxy that never ACKs and one that stops reading do not hold back the others', async (t) => {
  const state = tempDir(t, 'xds-faults');
  const registry = join(state, 'services.yaml');
  writeFileSync(registry, registryYaml(SERVICES, ENDPOINTS, 0));
  const s = await startServe(t, ['--registry', `file:${registry}`], {}, state);
  const target = `127.0.0.1:${s.xds}`;

  const healthy = new AdsStream(target);
  const noAck = new AdsStream(target);
  const stuck = new AdsStream(target, { paused: true });
  t.teardown(() => [healthy, noAck, stuck].forEach((c) => c.close()));
  const clusters = Array.from({ length: SERVICES }, (_, i) => `outbound|8080||svc-${i}.shop.svc.cluster.local`);
  for (const [c, id] of [[healthy, 'healthy'], [noAck, 'no-ack'], [stuck, 'stuck']] as const) {
    c.send({ node: sidecarNode(id), type_url: TYPE.cluster });
    c.send({ type_url: TYPE.endpoint, resource_names: clusters });
  }
  t.equal(await waitConnected(s.monitoring, 3), 3, 'three streams connected');
  const rssBefore = rssKiB(s.pid);

  // The healthy proxy ACKs everything it gets, as Envoy does.
  let acked = 0;
  const acker = setInterval(() => {
    while (acked < healthy.received.length) {
      const r = healthy.received[acked++]!;
      healthy.send(ack(r, r.type_url === TYPE.endpoint ? clusters : []));
    }
  }, 5);
  t.teardown(() => clearInterval(acker));

  const edsVersions = (c: AdsStream): Set<string> => new Set(c.received.filter((r) => r.type_url === TYPE.endpoint).map((r) => r.version_info));
  for (let round = 1; round <= ROUNDS; round++) {
    writeFileSync(registry, registryYaml(SERVICES, ENDPOINTS, round));
    // wait for the healthy proxy to see this round before the next change (debounced pushes)
    const seen = edsVersions(healthy).size;
    const got = await healthy.until((r: DiscoveryResponse) => r.type_url === TYPE.endpoint && !healthy.received.slice(0, -1).includes(r) && edsVersions(healthy).size > seen, 5000);
    if (!got) break;
  }
  const healthyRounds = edsVersions(healthy).size;
  t.ok(healthyRounds >= ROUNDS, `the healthy proxy got every endpoint change (${healthyRounds} EDS versions for ${ROUNDS} changes + the first)`);
  t.ok(edsVersions(noAck).size >= ROUNDS, `the proxy that never ACKs is still pushed to (${edsVersions(noAck).size} EDS versions)`);
  t.equal(stuck.received.length, 0, 'the stuck proxy read nothing');
  t.equal(await connected(s.monitoring), 3, 'all three still connected');

  const rssAfter = rssKiB(s.pid);
  t.comment(`serve RSS with a stuck reader: ${rssBefore} KiB before ${ROUNDS} pushes, ${rssAfter} KiB after (×${(rssAfter / rssBefore).toFixed(2)})`);
  t.ok(rssAfter < rssBefore * 2, 'memory bounded while one proxy reads nothing');

  stuck.close();
  noAck.close();
  t.equal(await waitConnected(s.monitoring, 1), 1, 'the stuck and the silent proxies are gone from the server once they disconnect');
  healthy.close();
  t.equal(await waitConnected(s.monitoring, 0), 0, 'no stream left behind');
});
