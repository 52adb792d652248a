import t from 'tap';
import type { V1Container } from '@kubernetes/client-node';
import { validateBootstrapConfig } from '@grpc/grpc-js-xds/build/src/xds-bootstrap.js';
import { injectorConfigFrom, parseInjectorConfig } from '../../inject/config.js';
import { injectPod, loadInjector } from '../../inject/injector.js';
import { servesPodCertificates } from '../../inject/pod-certificate-discovery.js';
import type { Pod } from '../../inject/types.js';
import { proxyFromNode } from '../../control-plane/xds/proxy.js';
import { EmulatedApiServer, emulatorKubeConfig } from '../control-plane/k8s-emulator.js';
import { addPcrCollections } from '../ca/pcr-emulation.js';
import { basicPod, manual, podProblems } from './helpers.js';

/**
 * Workload certificates delivered by injection (injector config `workloadCertificates`): the
 * projected volume and its mount are written out by hand from the PodCertificateProjection and
 * ConfigMapProjection fields; every injected pod passes the strict Pod schema (whose vendored
 * VolumeProjection already has `podCertificate`: no extension needed) and kubernetes-models.
 */
const DIR = '/var/run/secrets/workload-spiffe-credentials';
const VOLUME = {
  name: 'workload-certs',
  projected: {
    sources: [
      {
        podCertificate: {
          signerName: 'tandem.io/workload-identity',
          keyType: 'ECDSAP256',
          maxExpirationSeconds: 86400,
          keyPath: 'key.pem',
          certificateChainPath: 'cert-chain.pem',
        },
      },
      { configMap: { name: 'istio-ca-root-cert', items: [{ key: 'root-cert.pem', path: 'root-cert.pem' }] } },
    ],
  },
};
const MOUNT = { name: 'workload-certs', mountPath: DIR, readOnly: true };

const containers = (p: Pod): V1Container[] => [...(p.spec?.initContainers ?? []), ...(p.spec?.containers ?? [])];
const proxyOf = (p: Pod): V1Container => containers(p).find((c) => c.name === 'istio-proxy') as V1Container;
const bootstrapOf = (c: V1Container): Record<string, any> => JSON.parse(c.args?.[(c.args?.indexOf('--config-yaml') ?? 0) + 1] ?? '{}') as Record<string, any>;

/** What the kubelet does to `$(VAR)` in an env value: earlier env entries of the container, by name. */
function kubeletExpand(value: string, vars: Record<string, string>): string {
  return value.replace(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (all, name: string) => vars[name] ?? all);
}

t.test('config: workloadCertificates and podCertificate.maxExpirationSeconds', async (t) => {
  t.equal(injectorConfigFrom({}).workloadCertificates, undefined, 'unset: decided at start');
  t.equal(injectorConfigFrom({}).podCertificate.maxExpirationSeconds, 86400, "the apiserver's default lifetime");
  t.equal(injectorConfigFrom({ workloadCertificates: 'podCertificate', podCertificate: { maxExpirationSeconds: 3600 } }).workloadCertificates, 'podCertificate');
  t.throws(() => parseInjectorConfig('workloadCertificates: sds\n', 'cfg.yaml'), { name: 'UserError', message: 'cfg.yaml: workloadCertificates: must be one of podCertificate, none (got "sds")' });
  t.throws(() => parseInjectorConfig('podCertificate: {maxExpirationSeconds: 600}\n', 'cfg.yaml'), { name: 'UserError', message: /^cfg\.yaml: podCertificate\.maxExpirationSeconds: must be an integer from 3600 to 7862400/ });
  t.throws(() => parseInjectorConfig('podCertificate: {maxExpirationSeconds: 7862401}\n', 'cfg.yaml'), { name: 'UserError', message: /maxExpirationSeconds/ });
  t.throws(() => parseInjectorConfig('podCertificate: {keyType: RSA3072}\n', 'cfg.yaml'), { name: 'UserError', message: /^cfg\.yaml: podCertificate\.keyType: unknown field/ });
});

t.test('loadInjector: an unset mode follows discovery, a set one is never asked about', async (t) => {
  t.equal((await loadInjector({ podCertificatesServed: async () => true })).config.workloadCertificates, 'podCertificate');
  t.equal((await loadInjector({ podCertificatesServed: async () => false })).config.workloadCertificates, 'none');
  t.equal((await loadInjector({})).config.workloadCertificates, 'none', 'no cluster to ask: none');
  let asked = false;
  const inj = await loadInjector({ config: { workloadCertificates: 'none' }, podCertificatesServed: async () => (asked = true) });
  t.equal(inj.config.workloadCertificates, 'none');
  t.notOk(asked, 'discovery not consulted');
});

t.test('podCertificate: the volume, the read-only mount in istio-proxy, the bootstrap secrets', async (t) => {
  const inj = await loadInjector({ config: { workloadCertificates: 'podCertificate' } });
  const out = injectPod(basicPod({ labels: { app: 'web' } }), manual('shop'), inj);
  const pod = out.pod;
  t.same(podProblems(pod), [], 'passes the strict Pod schema');
  t.same(pod.spec?.volumes?.find((v) => v.name === 'workload-certs'), VOLUME);
  const proxy = proxyOf(pod);
  t.same(proxy.volumeMounts?.find((m) => m.name === 'workload-certs'), MOUNT);
  t.notOk(pod.spec?.containers.find((c) => c.name === 'app')?.volumeMounts, 'the app gets no key');
  const secrets = bootstrapOf(proxy)['static_resources'].secrets as Array<{ name: string }>;
  t.same(secrets.map((s) => s.name), ['default', 'ROOTCA'], 'the bootstrap defines the secrets the xDS side names');
  t.match(JSON.parse(pod.metadata?.annotations?.['sidecar.istio.io/status'] ?? '{}'), { volumes: ['istio-envoy', 'istio-data', 'istio-podinfo', 'workload-certs'] });
  const again = injectPod(pod, manual('shop'), inj).pod;
  t.same(again, pod, 'injecting twice equals injecting once');

  const short = await loadInjector({ config: { workloadCertificates: 'podCertificate', podCertificate: { maxExpirationSeconds: 7200 } } });
  const vol = injectPod(basicPod(), manual('shop'), short).pod.spec?.volumes?.find((v) => v.name === 'workload-certs');
  t.equal(vol?.projected?.sources?.[0]?.podCertificate?.maxExpirationSeconds, 7200, 'maxExpirationSeconds from the config');
});

t.test('none: no volume, no mount, no secrets', async (t) => {
  const inj = await loadInjector({ config: { workloadCertificates: 'none' } });
  const pod = injectPod(basicPod(), manual('shop'), inj).pod;
  t.notOk(pod.spec?.volumes?.some((v) => v.name === 'workload-certs'));
  t.notOk(proxyOf(pod).volumeMounts?.some((m) => m.name === 'workload-certs'));
  t.notOk('secrets' in bootstrapOf(proxyOf(pod))['static_resources']);
});

function grpcPod(): Pod {
  const p = basicPod({ labels: { app: 'echo' }, annotations: { 'inject.istio.io/templates': 'grpc' } });
  p.spec!.serviceAccountName = 'echo';
  p.spec!.containers.push({ name: 'helper', image: 'helper:1', env: [{ name: 'MODE', value: 'x' }] });
  return p;
}

t.test('grpc template with podCertificate: no sidecar; each app container gets the bootstrap and the certificate', async (t) => {
  const inj = await loadInjector({ config: { workloadCertificates: 'podCertificate' } });
  const out = injectPod(grpcPod(), manual('demo'), inj);
  const pod = out.pod;
  t.same(podProblems(pod), [], 'passes the strict Pod schema');
  t.notOk(containers(pod).some((c) => c.name === 'istio-proxy' || c.name === 'istio-init'), 'no proxy, no capture');
  t.equal(pod.metadata?.labels?.['security.istio.io/tlsMode'], 'istio', 'labelled for mTLS: it holds a mesh certificate');
  t.same(pod.spec?.volumes, [VOLUME]);
  for (const c of pod.spec?.containers ?? []) {
    t.same(c.volumeMounts, [MOUNT], `${c.name}: the certificate mounted read-only`);
    const names = (c.env ?? []).map((e) => e.name);
    t.same(names.slice(-5), ['POD_NAME', 'POD_NAMESPACE', 'INSTANCE_IP', 'SERVICE_ACCOUNT', 'GRPC_XDS_BOOTSTRAP_CONFIG'], `${c.name}: downward-API variables before the bootstrap that references them`);
    t.same(c.env?.[names.indexOf('POD_NAME')]?.valueFrom, { fieldRef: { fieldPath: 'metadata.name' } });
    t.same(c.env?.[names.indexOf('INSTANCE_IP')]?.valueFrom, { fieldRef: { fieldPath: 'status.podIP' } });
  }
  t.equal(pod.spec?.containers[1]?.env?.[0]?.value, 'x', "the helper's own env stays");
  const raw = pod.spec?.containers[0]?.env?.find((e) => e.name === 'GRPC_XDS_BOOTSTRAP_CONFIG')?.value ?? '';
  const expanded = kubeletExpand(raw, { POD_NAME: 'echo-1', POD_NAMESPACE: 'demo', INSTANCE_IP: '10.4.0.7', SERVICE_ACCOUNT: 'echo' });
  t.notMatch(expanded, /\$\(/, 'every reference is one the container defines');
  const bootstrap = JSON.parse(expanded) as Record<string, any>;
  const info = validateBootstrapConfig(bootstrap);
  t.equal(info.node.id, 'sidecar~10.4.0.7~echo-1.demo~demo.svc.cluster.local');
  t.equal(info.certificateProviders['default']?.config.certificateFile, `${DIR}/cert-chain.pem`, 'reads the mounted chain');
  t.equal(info.serverListenerResourceNameTemplate, 'xds.istio.io/grpc/lds/inbound/%s');
  const proxy = proxyFromNode(bootstrap['node']);
  t.equal(proxy.proxyless, true);
  t.same(proxy.labels, { app: 'echo', 'security.istio.io/tlsMode': 'istio' });
  t.same(JSON.parse(pod.metadata?.annotations?.['sidecar.istio.io/status'] ?? '{}'), { initContainers: null, containers: ['app', 'helper'], volumes: ['workload-certs'], imagePullSecrets: null, revision: 'default' });
  t.same(injectPod(pod, manual('demo'), inj).pod, pod, 'injecting twice equals injecting once');
});

t.test('grpc template without certificates: the bootstrap only, no label', async (t) => {
  const inj = await loadInjector({ config: { workloadCertificates: 'none' } });
  const pod = injectPod(grpcPod(), manual('demo'), inj).pod;
  t.same(podProblems(pod), []);
  t.notOk(pod.spec?.volumes, 'no volume');
  t.notOk(pod.metadata?.labels?.['security.istio.io/tlsMode'], 'no tlsMode label: peers talk plaintext to it');
  t.ok(pod.spec?.containers.every((c) => c.env?.some((e) => e.name === 'GRPC_XDS_BOOTSTRAP_CONFIG')), 'every app container has its bootstrap');
});

t.test('sidecar plus grpc: the app gets the bootstrap; the proxy keeps its own mount', async (t) => {
  const inj = await loadInjector({ config: { workloadCertificates: 'podCertificate' } });
  const p = grpcPod();
  p.metadata!.annotations!['inject.istio.io/templates'] = 'sidecar,grpc';
  const pod = injectPod(p, manual('demo'), inj).pod;
  t.same(podProblems(pod), []);
  t.equal(pod.spec?.volumes?.filter((v) => v.name === 'workload-certs').length, 1, 'one certificate volume');
  t.same(proxyOf(pod).volumeMounts?.find((m) => m.name === 'workload-certs'), MOUNT);
  t.same(pod.spec?.containers.find((c) => c.name === 'app')?.volumeMounts, [MOUNT]);
});

t.test('discovery against the EMULATED apiserver (test/control-plane/k8s-emulator.ts; no kube-apiserver here)', async (t) => {
  const without = new EmulatedApiServer();
  const p1 = await without.start();
  t.teardown(() => without.close());
  t.equal(await servesPodCertificates(emulatorKubeConfig(p1)), false, 'group version not served (404): none');
  const withApi = new EmulatedApiServer();
  addPcrCollections(withApi);
  const p2 = await withApi.start();
  t.teardown(() => withApi.close());
  t.equal(await servesPodCertificates(emulatorKubeConfig(p2)), true, 'podcertificaterequests listed');
  await without.close();
  await t.rejects(servesPodCertificates(emulatorKubeConfig(p1)), { name: 'UserError', message: /cannot tell whether the cluster serves certificates\.k8s\.io\/v1beta1 PodCertificateRequest .*set workloadCertificates/ }, 'unreachable: a start-up error naming the way out');
});
