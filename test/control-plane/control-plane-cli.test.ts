import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { runControlPlane } from '../../control-plane/commands.js';
import { kubernetesConfigured } from '../../control-plane/registry/index.js';
import { names, RawAds, sidecarNode, URL } from './ads-client.js';

t.test('tandem control-plane --registry file:PATH serves ADS until stopped', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'tandem-cp-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'services.yaml');
  await writeFile(file, 'services:\n  - name: web\n    namespace: shop\n    ports: [{name: http, port: 80, protocol: HTTP}]\n    endpoints: [{address: 10.0.0.1}]\n');
  const stop = new AbortController();
  let announced = '';
  const gotLine = new Promise<void>((resolve) => {
    const running = runControlPlane(
      { host: '127.0.0.1', port: 0, registry: `file:${file}`, debounceQuiet: 10, debounceMax: 100 },
      { signal: stop.signal, announce: (l) => ((announced = l), resolve()) },
    );
    t.teardown(async () => {
      stop.abort();
      await running;
    });
  });
  await gotLine;
  const info = JSON.parse(announced) as { xds: string; registry: string };
  t.equal(info.registry, `file:${file}`);
  const port = Number(info.xds.split(':')[1]);
  const ads = new RawAds(port);
  t.teardown(() => ads.close());
  ads.send({ node: sidecarNode('shop', []), type_url: URL.cluster, resource_names: [] });
  const cds = await ads.next();
  t.ok(names(cds).includes('outbound|80||web.shop.svc.cluster.local'), 'serves the file registry');
});

t.test('kubernetes is the default registry only when configured', async (t) => {
  t.equal(kubernetesConfigured({ KUBECONFIG: '/nonexistent/kubeconfig' }), false);
  t.equal(kubernetesConfigured({ KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443' }), true);
  const dir = await mkdtemp(path.join(os.tmpdir(), 'tandem-kc-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await writeFile(path.join(dir, 'config'), 'apiVersion: v1\nkind: Config\n');
  t.equal(kubernetesConfigured({ KUBECONFIG: path.join(dir, 'config') }), true);
  const saved = { ...process.env };
  t.teardown(() => {
    process.env = saved;
  });
  process.env = { ...saved, KUBECONFIG: '/nonexistent/kubeconfig', HOME: dir + '/nohome' };
  delete process.env['KUBERNETES_SERVICE_HOST'];
  await t.rejects(runControlPlane({ host: '127.0.0.1', port: 0 }), { name: 'UserError', message: /no Kubernetes configuration found; pass --registry file:PATH/ });
});
