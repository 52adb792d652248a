// A real xDS client (@grpc/grpc-js-xds) resolving and calling a real gRPC server
// through tandem's control plane. grpc-js-xds reads its bootstrap once per process,
// which is why this lives in its own test file.
import * as grpc from '@grpc/grpc-js';
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { createFileRegistry } from '../../../control-plane/registry/file.js';
import { startControlPlane } from '../../../control-plane/server.js';
import { echoClient, eventually, say, startEcho } from '../helpers.js';

function registryYaml(ports: number[]): string {
  const eps = ports.map((p) => `      - address: 127.0.0.1\n        port: ${p}\n`).join('');
  return `services:\n  - name: echo\n    namespace: demo\n    ports:\n      - name: grpc\n        port: 7070\n        protocol: GRPC\n    endpoints:\n${eps || '      []\n'}`;
}

async function writeAtomically(file: string, text: string): Promise<void> {
  await writeFile(`${file}.tmp`, text);
  await rename(`${file}.tmp`, file);
}

t.test('grpc-js-xds client follows the file registry through tandem', async (t) => {
  const a = await startEcho('a');
  const b = await startEcho('b');
  const dir = await mkdtemp(path.join(os.tmpdir(), 'tandem-xds-'));
  const file = path.join(dir, 'services.yaml');
  await writeFile(file, registryYaml([a.port]));
  const registry = await createFileRegistry(file, { settleMs: 10 });
  const cp = await startControlPlane({ host: '127.0.0.1', port: 0, registry, debounce: { quietMs: 20, maxDelayMs: 500 } });
  t.teardown(async () => {
    await cp.close();
    await registry.close();
    await a.close();
    await b.close();
    await rm(dir, { recursive: true, force: true });
  });

  process.env['GRPC_XDS_BOOTSTRAP_CONFIG'] = JSON.stringify({
    xds_servers: [{ server_uri: `127.0.0.1:${cp.port}`, channel_creds: [{ type: 'insecure' }], server_features: ['xds_v3'] }],
    node: { id: 'grpc~10.0.0.9~client.demo~demo.svc.cluster.local', locality: {}, metadata: { NAMESPACE: 'demo' } },
  });
  const xds = await import('@grpc/grpc-js-xds');
  xds.register();

  const client = echoClient('xds:///echo.demo.svc.cluster.local:7070');
  t.teardown(() => client.close());

  const first = await say(client, 'hello', 10_000);
  t.equal(first.server, 'a', 'resolved through xDS to server a');
  t.equal(first.message, 'hello');

  const proxies = cp.proxies();
  t.equal(proxies.length, 1, 'one xDS stream');
  t.same(proxies[0]?.types.listener?.names, ['echo.demo.svc.cluster.local:7070'], 'the client named its API listener');
  t.equal(proxies[0]?.types.listener?.nacks, 0, 'no NACKs');

  await writeAtomically(file, registryYaml([b.port]));
  t.ok(await eventually(async () => (await say(client, 'x')).server === 'b'), 'client moved to server b without restart');
  const seen = new Set<string>();
  for (let i = 0; i < 5; i++) seen.add((await say(client, 'y')).server);
  t.same([...seen], ['b'], 'only b answers after the change');

  await writeAtomically(file, registryYaml([a.port, b.port]));
  t.ok(
    await eventually(async () => {
      const s = new Set<string>();
      for (let i = 0; i < 6; i++) s.add((await say(client, 'z')).server);
      return s.has('a') && s.has('b');
    }),
    'round robin over both endpoints',
  );

  await writeAtomically(file, 'services: []\n');
  let lastError: grpc.ServiceError | undefined;
  t.ok(
    await eventually(async () => {
      try {
        await say(client, 'gone', 1000);
        return false;
      } catch (err) {
        lastError = err as grpc.ServiceError;
        return true;
      }
    }),
    'calls fail once the service is removed',
  );
  t.equal(lastError?.code, grpc.status.UNAVAILABLE, 'fails cleanly with UNAVAILABLE');
  // the removal reached the client as an LDS response without its listener, which it ACKed
  t.ok(
    await eventually(async () => {
      const lds = cp.proxies()[0]?.types.listener;
      return lds !== undefined && lds.acked.length === 0 && lds.ackedVersion === lds.sentVersion;
    }, 5000),
    'the client ACKed the listener removal',
  );
});
