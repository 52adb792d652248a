// A real proxyless client (@grpc/grpc-js-xds) started from the bootstrap `tandem bootstrap --grpc`
// renders, calling a real gRPC server through tandem's control plane. grpc-js-xds reads its
// bootstrap once per process, which is why this lives in its own test file.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { renderGrpcBootstrap } from '../../bootstrap/grpc.js';
import { createFileRegistry } from '../../control-plane/registry/file.js';
import { startControlPlane } from '../../control-plane/server.js';
import { echoClient, say, startEcho } from '../control-plane/helpers.js';

t.test('grpc-js-xds runs on the rendered bootstrap and is served by tandem', async (t) => {
  const echo = await startEcho('a');
  const dir = await mkdtemp(path.join(os.tmpdir(), 'tandem-grpc-bootstrap-e2e-'));
  const file = path.join(dir, 'services.yaml');
  await writeFile(file, 'services:\n  - name: echo\n    namespace: demo\n    ports: [{name: grpc, port: 7070, protocol: GRPC}]\n    endpoints:\n      - {address: 127.0.0.1, port: ' + echo.port + '}\n');
  const registry = await createFileRegistry(file, { settleMs: 10 });
  const cp = await startControlPlane({ host: '127.0.0.1', port: 0, registry, debounce: { quietMs: 20, maxDelayMs: 500 } });
  t.teardown(async () => {
    await cp.close();
    await registry.close();
    await echo.close();
    await rm(dir, { recursive: true, force: true });
  });

  const bootstrap = renderGrpcBootstrap({ podName: 'client-1', podNamespace: 'demo', podIp: '10.0.0.9', serviceAccount: 'client', xdsAddress: `127.0.0.1:${cp.port}`, labels: { app: 'client' }, credentialsDir: dir });
  process.env['GRPC_XDS_BOOTSTRAP_CONFIG'] = JSON.stringify(bootstrap);
  const xds = await import('@grpc/grpc-js-xds');
  xds.register();

  const client = echoClient('xds:///echo.demo.svc.cluster.local:7070');
  t.teardown(() => client.close());
  const reply = await say(client, 'hello', 10_000);
  t.equal(reply.server, 'a', 'resolved through tandem xDS to the echo server');
  const proxies = cp.proxies();
  t.equal(proxies.length, 1, 'one xDS stream');
  t.equal(proxies[0]?.id, 'sidecar~10.0.0.9~client-1.demo~demo.svc.cluster.local', 'with the node id of the rendered bootstrap');
  t.same(proxies[0]?.types.listener?.names, ['echo.demo.svc.cluster.local:7070'], 'named its API listener');
  t.equal(proxies[0]?.types.listener?.nacks, 0, 'no NACKs');
});
