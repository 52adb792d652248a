import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import t, { type Test } from 'tap';
import { cleanEnv, rssKiB, sleep, start, tempDir, waitForOutput, type Running } from './processes.js';
import { registryYaml } from './registry-file.js';
import { ack, AdsStream, sidecarNode, TYPE } from './xds-client.js';

/**
 * Malformed xDS against the real `tandem control-plane --registry file:PATH` process, through a
 * client built on Envoy's protos only. Each stream that is wrong gets ignored or a gRPC status
 * that says why; the other streams and the process carry on, and its memory stays bounded.
 */

let cp: Running;
let target = '';
let registry = '';
let rssStart = 0;

t.before(async () => {
  const dir = tempDir(t, 'xds');
  registry = join(dir, 'registry.yaml');
  writeFileSync(registry, registryYaml(5, 3));
  cp = start(t, ['control-plane', '--host', '127.0.0.1', '--port', '0', '--registry', `file:${registry}`, '--debounce-quiet', '10', '--debounce-max', '100'], cleanEnv(dir));
  const m = await waitForOutput(cp, /"xds":"127\.0\.0\.1:(\d+)"/, 'the control-plane announcement');
  target = `127.0.0.1:${m[1]}`;
  // warm-up: a few ordinary streams
  for (let i = 0; i < 5; i++) {
    const s = new AdsStream(target);
    s.send({ node: sidecarNode(`warm-${i}`), type_url: TYPE.cluster });
    if (!(await s.until((r) => r.type_url === TYPE.cluster))) throw new Error('warm-up stream got no CDS');
    s.close();
  }
  rssStart = rssKiB(cp.pid);
});

/** A stream that has received its first CDS response. */
async function cdsStream(t: Test, id: string): Promise<AdsStream> {
  const s = new AdsStream(target);
  t.teardown(() => s.close());
  s.send({ node: sidecarNode(id), type_url: TYPE.cluster });
  const first = await s.until((r) => r.type_url === TYPE.cluster);
  if (!first) throw new Error(`${id}: no CDS response (${s.error?.message ?? 'open'})`);
  return s;
}

t.test('a first request without node: the stream ends with INVALID_ARGUMENT naming node', async (t) => {
  const s = new AdsStream(target);
  t.teardown(() => s.close());
  s.send({ type_url: TYPE.cluster });
  const status = await s.status();
  t.equal(typeof status === 'object' ? status.code : status, grpc.status.INVALID_ARGUMENT);
  t.match(typeof status === 'object' ? status.details : '', /must carry node/);
});

t.test('bytes that are not a DiscoveryRequest: the stream ends with a status, the server stays up', async (t) => {
  const s = new AdsStream(target);
  t.teardown(() => s.close());
  s.sendRaw(Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f, 0x01, 0x02]));
  const status = await s.status();
  t.ok(typeof status === 'object' && status.code !== grpc.status.OK, `ended with ${typeof status === 'object' ? `${grpc.status[status.code]}: ${status.details}` : String(status)}`);
  await cdsStream(t, 'after-garbage');
});

t.test('an unknown type URL is ignored; the same stream still gets CDS', async (t) => {
  const s = new AdsStream(target);
  t.teardown(() => s.close());
  s.send({ node: sidecarNode('unknown-type'), type_url: 'type.googleapis.com/no.such.Type', resource_names: ['x'] });
  s.send({ type_url: '', resource_names: ['y'] });
  t.equal(await s.until(() => true, 300), undefined, 'no response for a type the server does not serve');
  s.send({ type_url: TYPE.cluster });
  const cds = await s.until((r) => r.type_url === TYPE.cluster);
  t.ok(cds, 'CDS answered on the same stream');
  t.equal(s.received.length, 1, 'and nothing else');
});

t.test('garbage nonces and ACKs of versions never sent do not derail the stream', async (t) => {
  const s = await cdsStream(t, 'nonces');
  const first = s.received[0]!;
  s.send({ type_url: TYPE.cluster, version_info: first.version_info, response_nonce: 'garbage-nonce', resource_names: [] });
  s.send({ type_url: TYPE.cluster, version_info: 'v-never-sent', response_nonce: '\u0000\u00ff'.repeat(100), resource_names: [] });
  s.send({ type_url: TYPE.cluster, version_info: 'v-never-sent', response_nonce: first.nonce, resource_names: [] });
  t.equal(await s.until(() => true, 300, 1), undefined, 'stale or odd ACKs are not answered');

  // A registry change still reaches this stream.
  writeFileSync(registry, registryYaml(6, 3));
  const pushed = await s.until((r) => r.type_url === TYPE.cluster && r.resources.length > first.resources.length, 5000, 1);
  t.ok(pushed, 'the next push arrives');
  t.not(pushed?.version_info, first.version_info);

  // A reconnecting Envoy sends the version it had from another server with an empty nonce.
  const again = new AdsStream(target);
  t.teardown(() => again.close());
  again.send({ node: sidecarNode('reconnect'), type_url: TYPE.cluster, version_info: 'v-from-another-server', resource_names: [] });
  t.ok(await again.until((r) => r.type_url === TYPE.cluster), 'a first request carrying an unknown version is answered in full');
});

t.test('100k resource names in one EDS request: answered, the process stays within bounds', async (t) => {
  const s = await cdsStream(t, 'huge-names');
  const names = Array.from({ length: 100_000 }, (_, i) => `outbound|8080||svc-${i}.shop.svc.cluster.local`);
  s.send({ type_url: TYPE.endpoint, resource_names: names });
  const eds = await s.until((r) => r.type_url === TYPE.endpoint, 20_000);
  t.ok(eds, 'EDS answered');
  t.ok((eds?.resources.length ?? 0) >= 5 && (eds?.resources.length ?? Infinity) <= 6, `only the clusters that exist (${eds?.resources.length})`);
  // the same list again as an ACK, then a second time: no re-send
  s.send({ ...ack(eds!), resource_names: names });
  t.equal(await s.until((r) => r.type_url === TYPE.endpoint, 500, s.received.indexOf(eds!) + 1), undefined, 'the ACK repeating the list is not answered');

  // Over the server's 16 MiB message limit: refused for that stream alone.
  const big = new AdsStream(target);
  t.teardown(() => big.close());
  big.send({ node: sidecarNode('too-big'), type_url: TYPE.endpoint, resource_names: Array.from({ length: 20_000 }, (_, i) => `${'n'.repeat(1000)}-${i}`) }); // ~20 MB
  const status = await big.status(20_000);
  t.equal(typeof status === 'object' ? status.code : status, grpc.status.RESOURCE_EXHAUSTED, 'a message over the limit ends that stream with RESOURCE_EXHAUSTED');
});

t.test('after the barrage: new streams are served and memory stayed bounded', async (t) => {
  const s = await cdsStream(t, 'after');
  t.ok(s.received[0]!.resources.length >= 6, 'the current registry is served');
  await sleep(300);
  const rss = rssKiB(cp.pid);
  t.comment(`control-plane RSS after warm-up ${rssStart} KiB, after the barrage ${rss} KiB (×${(rss / rssStart).toFixed(2)})`);
  t.ok(rss < rssStart * 4, `RSS ${rss} KiB under 4× the warm ${rssStart} KiB (100k-name requests are ~5 MB each)`);
  t.equal(cp.child.exitCode, null, 'still running');
});
