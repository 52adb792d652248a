import t from 'tap';
import { UserError } from '../../../common/errors.js';
import { captureArgs, captureConfig } from '../../../init-cni/cni/capture.js';
import { PLUGIN_ANNOTATIONS, decideCapture, podInfoFromAnnotations, podInfoFromObject } from '../../../init-cni/cni/pod.js';

/** The plugin's view of a pod and its capture decision, pure; the expectations follow Istio's plugin (cni/pkg/plugin/plugin.go). */

const POLICY = { excludeNamespaces: ['kube-system'], podNamespace: 'tandem-system' };
const STATUS = JSON.stringify({ initContainers: ['istio-proxy'], containers: [], volumes: ['istio-envoy'], revision: 'default' });

function pod(over: { annotations?: Record<string, string>; labels?: Record<string, string>; init?: unknown[]; containers?: unknown[]; name?: string; namespace?: string } = {}): unknown {
  return {
    metadata: { name: over.name ?? 'web-0', namespace: over.namespace ?? 'shop', labels: over.labels ?? {}, annotations: over.annotations ?? { 'sidecar.istio.io/status': STATUS } },
    spec: { initContainers: over.init ?? [{ name: 'istio-proxy', args: ['proxy', 'sidecar'], env: [{ name: 'A', value: 'b' }, { name: 'FROM', valueFrom: {} }] }], containers: over.containers ?? [{ name: 'app' }] },
  };
}

const reason = (p: unknown): string => {
  const d = decideCapture(podInfoFromObject(p), POLICY);
  return d.capture ? 'capture' : d.reason;
};

t.test('the annotation list item 3 (injection in CNI mode) sets', async (t) => {
  t.ok(PLUGIN_ANNOTATIONS.includes('sidecar.istio.io/status'));
  t.ok(PLUGIN_ANNOTATIONS.includes('traffic.sidecar.istio.io/excludeInboundPorts'));
  t.ok(PLUGIN_ANNOTATIONS.includes('istio.io/reroute-virtual-interfaces'));
  t.equal(new Set(PLUGIN_ANNOTATIONS).size, PLUGIN_ANNOTATIONS.length);
});

t.test('decisions from the pod object', async (t) => {
  t.equal(reason(pod()), 'capture', 'an injected pod with a native-sidecar proxy');
  t.equal(reason(pod({ containers: [{ name: 'app' }, { name: 'istio-proxy' }], init: [] })), 'capture', 'a classic sidecar');
  t.match(reason(pod({ init: [{ name: 'istio-init' }, { name: 'istio-proxy' }] })), /istio-init/);
  t.match(reason(pod({ init: [] })), /no istio-proxy/);
  t.match(reason(pod({ init: [{ name: 'istio-proxy', env: [{ name: 'DISABLE_ENVOY', value: 'true' }] }] })), /DISABLE_ENVOY/);
  t.match(reason(pod({ init: [{ name: 'istio-proxy', args: ['proxy', 'router'] }] })), /router/);
  t.match(reason(pod({ annotations: { 'sidecar.istio.io/status': STATUS, 'sidecar.istio.io/inject': 'false' } })), /inject is false/);
  t.match(reason(pod({ labels: { 'sidecar.istio.io/inject': 'false' }, annotations: { 'sidecar.istio.io/status': STATUS, 'sidecar.istio.io/inject': 'true' } })), /inject is false/, 'the label overrides the annotation');
  t.equal(reason(pod({ labels: { 'sidecar.istio.io/inject': 'true' }, annotations: { 'sidecar.istio.io/status': STATUS, 'sidecar.istio.io/inject': 'false' } })), 'capture');
  t.match(reason(pod({ annotations: {} })), /not injected/);
  t.match(reason(pod({ annotations: { 'sidecar.istio.io/status': STATUS, 'sidecar.istio.io/interceptionMode': 'NONE' } })), /NONE/);
  t.match(reason(pod({ namespace: 'kube-system' })), /excluded/);
  t.match(reason(pod({ namespace: 'tandem-system', name: 'tandem-cni-node-x7' })), /node agent/);
  t.equal(reason(pod({ namespace: 'tandem-system', name: 'other' })), 'capture');
  t.match(reason(pod({ name: '' })), /not a Kubernetes pod/);
  t.throws(() => podInfoFromObject('x'), UserError);
});

t.test('decisions from the runtime annotations', async (t) => {
  const d = (a: Record<string, string>): string => {
    const r = decideCapture(podInfoFromAnnotations('web-0', 'shop', a), POLICY);
    return r.capture ? 'capture' : r.reason;
  };
  t.equal(d({ 'sidecar.istio.io/status': STATUS }), 'capture');
  t.match(d({ 'sidecar.istio.io/status': JSON.stringify({ initContainers: ['istio-init'], containers: ['istio-proxy'] }) }), /istio-init/, 'container names come from the status');
  t.equal(d({ 'sidecar.istio.io/status': 'true' }), 'capture', 'a status that is not JSON: containers unknown');
  t.match(d({}), /not injected/);
});

t.test('capture flags: Istio plugin defaults and annotations', async (t) => {
  const info = podInfoFromObject(pod());
  t.same(captureArgs(info, ['10.1.0.5']), ['-p', '15001', '-z', '15006', '-u', '1337', '-g', '1337', '-m', 'REDIRECT', '-i', '*', '-x', '', '-b', '*', '-d', '15020,15021,15090', '-q', '', '-o', '15020', '-c', '', '-k', '', '--ipv6=false']);
  const annotated = podInfoFromAnnotations('web-0', 'shop', {
    'sidecar.istio.io/status': STATUS,
    'traffic.sidecar.istio.io/excludeInboundPorts': '15020, 8081',
    'traffic.sidecar.istio.io/kubevirtInterfaces': 'net1',
    'traffic.sidecar.istio.io/includeOutboundPorts': '443',
  });
  const args = captureArgs(annotated, ['fd00::5']);
  t.equal(args[args.indexOf('-d') + 1], '15020,8081,15021,15090', 'excluded inbound ports trimmed, deduplicated, the proxy ports added');
  t.equal(args[args.indexOf('-k') + 1], 'net1', 'the deprecated kubevirt annotation still read');
  t.equal(args[args.indexOf('-q') + 1], '443');
  t.ok(args.includes('--ipv6=true'), 'IPv6 from the first pod address');
  const rerouted = podInfoFromAnnotations('a', 'b', { 'istio.io/reroute-virtual-interfaces': 'net2', 'traffic.sidecar.istio.io/kubevirtInterfaces': 'net1' });
  t.equal(captureArgs(rerouted)[captureArgs(rerouted).indexOf('-k') + 1], 'net2', 'reroute-virtual-interfaces wins');
  t.notOk(captureArgs(rerouted).some((a) => a.startsWith('--ipv6')), 'no addresses: left to the child');
  const env = podInfoFromObject(pod({ init: [{ name: 'istio-proxy', env: [{ name: 'ISTIO_META_DNS_CAPTURE', value: 'true' }, { name: 'ISTIO_DUAL_STACK', value: 'true' }, { name: 'INVALID_DROP', value: '1' }], securityContext: { runAsUser: 1000, runAsGroup: 0 } }] }));
  const e = captureArgs(env);
  for (const f of ['--redirect-dns', '--capture-all-dns', '--dual-stack', '--drop-invalid']) t.ok(e.includes(f), f);
  t.equal(e[e.indexOf('-u') + 1], '1000');
  t.equal(e[e.indexOf('-g') + 1], '1337', 'runAsGroup 0 keeps the default');
});

t.test('an invalid annotation is named in the error', async (t) => {
  const bad = (a: Record<string, string>): string => {
    try {
      captureConfig(podInfoFromAnnotations('web-0', 'shop', { 'sidecar.istio.io/status': STATUS, ...a }));
      return 'accepted';
    } catch (err) {
      return (err as Error).message;
    }
  };
  t.match(bad({ 'traffic.sidecar.istio.io/includeInboundPorts': '80,http' }), /^pod shop\/web-0: annotation traffic\.sidecar\.istio\.io\/includeInboundPorts "80,http": "http" is not a port/);
  t.match(bad({ 'traffic.sidecar.istio.io/excludeOutboundIPRanges': '10.0.0.0/33' }), /annotation traffic\.sidecar\.istio\.io\/excludeOutboundIPRanges/);
  t.match(bad({ 'sidecar.istio.io/interceptionMode': 'MAGIC' }), /annotation sidecar\.istio\.io\/interceptionMode "MAGIC": must be REDIRECT or TPROXY/);
  t.match(bad({ 'traffic.sidecar.istio.io/excludeInterfaces': 'bad iface!' }), /annotation traffic\.sidecar\.istio\.io\/excludeInterfaces/);
  t.equal(bad({}), 'accepted');
});
