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

t.test('tandem control-plane --ca-dir D --secure-port 0 --ca-jwks J: the CA API over TLS beside ADS', async (t) => {
  const { readFile } = await import('node:fs/promises');
  const { credentials, Metadata } = await import('@grpc/grpc-js');
  const { certificateServiceClient } = await import('../../ca/proto/service.js');
  const { jwtIssuer, makeCsr, opensslVerify } = await import('../ca/helpers.js');
  const dir = await mkdtemp(path.join(os.tmpdir(), 'tandem-cp-ca-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'services.yaml');
  await writeFile(file, 'services: []\n');
  const jwt = await jwtIssuer();
  const jwks = path.join(dir, 'jwks.json');
  await writeFile(jwks, JSON.stringify(jwt.jwks));
  const stop = new AbortController();
  let announced = '';
  const gotLine = new Promise<void>((resolve) => {
    const running = runControlPlane(
      { host: '127.0.0.1', port: 0, registry: `file:${file}`, securePort: 0, caDir: path.join(dir, 'ca'), caJwks: jwks, caJwtIssuer: jwt.issuer },
      { signal: stop.signal, announce: (l) => ((announced = l), resolve()) },
    );
    t.teardown(async () => {
      stop.abort();
      await running;
    });
  });
  await gotLine;
  const info = JSON.parse(announced) as { xds: string; secure?: string; caApi?: boolean };
  t.equal(info.caApi, true, 'the CA API is on: callers are verified against the JWKS');
  const root = await readFile(path.join(dir, 'ca', 'root-cert.pem'), 'utf8');
  const Ctor = certificateServiceClient();
  const client = new Ctor(`localhost:${Number(info.secure?.split(':')[1])}`, credentials.createSsl(Buffer.from(root))) as unknown as {
    CreateCertificate(req: object, md: InstanceType<typeof Metadata>, cb: (err: Error | null, res?: { cert_chain: string[] }) => void): void;
    close(): void;
  };
  t.teardown(() => client.close());
  const md = new Metadata();
  md.set('authorization', `Bearer ${await jwt.token({ ns: 'shop', sa: 'web' })}`);
  const { pem } = await makeCsr({ uris: ['spiffe://cluster.local/ns/shop/sa/web'] });
  const chain = await new Promise<string[]>((resolve, reject) => client.CreateCertificate({ csr: pem, validity_duration: 600 }, md, (err, res) => (err ? reject(err) : resolve(res?.cert_chain ?? []))));
  const verified = await opensslVerify(root, chain.slice(0, -1));
  t.ok(verified.ok, `issued and verified against the mesh root: ${verified.output}`);
});

t.test('--ca-jwks without --ca-jwt-issuer is a user error', async (t) => {
  await t.rejects(runControlPlane({ host: '127.0.0.1', port: 0, registry: 'file:/nonexistent', caJwks: '/x' }), { name: 'UserError', message: /go together/ });
});
