import { readdirSync, readFileSync } from 'node:fs';
import t from 'tap';
import { parseAllDocuments } from 'yaml';
import type { V1Container } from '@kubernetes/client-node';
import { captureArgs } from '../../init-cni/cni/capture.js';
import { decideCapture, podInfoFromObject } from '../../init-cni/cni/pod.js';
import { loadConfig, type CaptureConfig } from '../../init-cni/config.js';
import { injectPod, loadInjector, type Injector } from '../../inject/injector.js';
import { restrictedViolations } from '../../inject/pod-security.js';
import { podSites, type KubeObject } from '../../inject/offline/workloads.js';
import type { Pod } from '../../inject/types.js';
import { ISTIO_INJECT, basicPod, injectObject, manual, podProblems } from './helpers.js';

/**
 * Injection in CNI mode (`cni: true`) over every Istio inject input: what the chained plugin reads
 * back from the pod is what istio-init would have been told; the pod passes Pod Security
 * "restricted" where the app does, while the classic injection cannot; the validation container's
 * placement and security context.
 */

const FIXTURE_TEMPLATES = new URL('./fixtures/templates/', import.meta.url).pathname;
const inputs = readdirSync(ISTIO_INJECT)
  .filter((f) => f.endsWith('.yaml') && !f.endsWith('.iop.yaml'))
  // Inputs that fail on purpose (bad annotations, templates tandem does not ship): conformance.test.ts.
  .filter((f) => !f.startsWith('traffic-annotations-bad-') && !/^(gateway|grpc-)/.test(f))
  .sort();

function loadDocs(path: string): KubeObject[] {
  return parseAllDocuments(readFileSync(path, 'utf8'))
    .map((d) => d.toJS() as unknown)
    .filter((x): x is KubeObject => x !== null && typeof x === 'object');
}

const injectors = new Map<string, Promise<Injector>>();
function injectorFor(config: Record<string, unknown>): Promise<Injector> {
  const key = JSON.stringify(config);
  if (!injectors.has(key)) injectors.set(key, loadInjector({ config, templatesDir: FIXTURE_TEMPLATES }));
  return injectors.get(key) as Promise<Injector>;
}

const STATUS = 'sidecar.istio.io/status';
const all = (p: Pod): V1Container[] => [...(p.spec?.initContainers ?? []), ...(p.spec?.containers ?? [])];
const named = (p: Pod, name: string): V1Container | undefined => all(p).find((c) => c.name === name);

/** Port and interface lists are sets to the rules; order them so that equal sets compare equal. */
function normalised(c: CaptureConfig): CaptureConfig {
  const sort = (xs: readonly string[]) => [...new Set(xs)].sort();
  return {
    ...c,
    inboundPorts: { all: c.inboundPorts.all, ports: sort(c.inboundPorts.ports) },
    inboundPortsExclude: sort(c.inboundPortsExclude),
    outboundPortsInclude: sort(c.outboundPortsInclude),
    outboundPortsExclude: sort(c.outboundPortsExclude),
    kubeVirtInterfaces: sort(c.kubeVirtInterfaces),
    excludeInterfaces: sort(c.excludeInterfaces),
  };
}

interface Pair {
  input: string;
  site: string;
  classic: Pod;
  cni: Pod;
}

/** Each injected pod's input, before any variant. */
const original = new WeakMap<Pod, Pod>();

async function pairs(config: Record<string, unknown> = {}, transform: (p: Pod) => Pod = (p) => p): Promise<Pair[]> {
  const classicInj = await injectorFor(config);
  const cniInj = await injectorFor({ ...config, cni: true });
  const out: Pair[] = [];
  for (const input of inputs) {
    for (const doc of loadDocs(`${ISTIO_INJECT}/${input}`)) {
      for (const site of podSites(doc)) {
        const ctx = { ...manual(site.namespace ?? 'default'), workload: site.workload };
        const pod = transform(site.pod);
        const classic = injectPod(pod, ctx, classicInj);
        const cni = injectPod(pod, ctx, cniInj);
        t.equal(cni.decision.inject, classic.decision.inject, `${input} ${site.kind}/${site.name}: the same decision`);
        original.set(cni.pod, site.pod);
        if (cni.decision.inject) out.push({ input, site: `${site.kind}/${site.name}`, classic: classic.pod, cni: cni.pod });
      }
    }
  }
  return out;
}

/** Inputs carrying their own istio-init container. */
const USER_INIT: Record<string, string> = {
  'proxy-override.yaml': 'the pod brings its own istio-init (custom args), which the plugin defers to',
};

t.test("for every Istio input, the plugin reads back from the CNI-mode pod the flags istio-init gets", async (t) => {
  for (const config of [{}, { nativeSidecars: false }, { capture: { excludeOutboundPorts: '9000', includeInboundPorts: '80,8080', kubevirtInterfaces: 'net1' } }]) {
    const ps = await pairs(config);
    let compared = 0;
    for (const { input, site, classic, cni } of ps) {
      const name = `${JSON.stringify(config)} ${input} ${site}`;
      if (input in USER_INIT) {
        // The pod's own istio-init stays in CNI mode (as with Istio, whose template has none to merge it
        // into); the plugin then leaves the pod to it.
        const info = podInfoFromObject({ ...cni, metadata: { name: 'p', namespace: 'ns', ...cni.metadata } });
        t.match(decideCapture(info, { excludeNamespaces: [] }), { capture: false, reason: /istio-init/ }, `${name}: ${USER_INIT[input]}`);
        continue;
      }
      const init = named(classic, 'istio-init');
      t.notOk(named(cni, 'istio-init'), `${name}: no istio-init in CNI mode`);
      const info = podInfoFromObject({ ...cni, metadata: { name: 'p', namespace: 'ns', ...cni.metadata } });
      if (!init) {
        // Only a pod that captures nothing (interceptionMode NONE) or has no sidecar lacks istio-init.
        const decision = decideCapture(info, { excludeNamespaces: [] });
        t.equal(decision.capture, false, `${name}: no istio-init, and the plugin passes the pod through (${decision.capture ? '' : decision.reason})`);
        t.notOk(named(cni, 'istio-validation'), `${name}: nor is there anything to validate`);
        continue;
      }
      t.ok(named(cni, 'istio-validation'), `${name}: istio-validation instead`);
      t.same(decideCapture(info, { excludeNamespaces: [] }), { capture: true }, `${name}: the plugin captures this pod`);
      const want = loadConfig((init.args ?? []).slice(1)).config;
      const pod = info.annotations;
      // Istio's plugin excludes the status port outbound unless the pod says otherwise (its default; istio-init has none).
      const plugin = loadConfig(captureArgs(info)).config;
      const pluginDefault = !('traffic.sidecar.istio.io/excludeOutboundPorts' in pod);
      const expected = pluginDefault ? { ...want, outboundPortsExclude: [...want.outboundPortsExclude, '15020'] } : want;
      // The one other difference is the plugin's, not the injector's: the proxy's group is its
      // runAsGroup (default 1337) to the plugin, while istio-iptables defaults -g to -u. The uid, which
      // exempts the proxy's own traffic, is the same.
      const proxyGid = String(named(cni, 'istio-proxy')?.securityContext?.runAsGroup ?? 1337);
      t.same(plugin.proxyGids, [proxyGid], `${name}: the plugin's proxy gid is the proxy's runAsGroup`);
      t.same(normalised({ ...plugin, proxyGids: [] }), normalised({ ...expected, proxyGids: [] }), `${name}: same capture configuration`);
      compared++;
    }
    t.ok(compared > 80, `${compared} pods compared`);
  }
});

/** The app made compliant, as a restricted namespace would require of it (the injector must not need more). */
function compliantVariant(p: Pod): Pod {
  const pod = JSON.parse(JSON.stringify(p)) as Pod;
  for (const c of all(pod)) {
    const sc = (c.securityContext ??= {});
    sc.allowPrivilegeEscalation = false;
    sc.runAsNonRoot = true;
    if (sc.runAsUser === 0) sc.runAsUser = 1000;
    sc.capabilities = { drop: ['ALL'], ...(sc.capabilities?.add?.includes('NET_BIND_SERVICE') ? { add: ['NET_BIND_SERVICE'] } : {}) };
    sc.seccompProfile = { type: 'RuntimeDefault' };
    delete sc.privileged;
  }
  return pod;
}

/** Inputs whose pods ask for TPROXY: the proxy then needs root and NET_ADMIN (IP_TRANSPARENT), which restricted refuses. */
const TPROXY_ANNOTATION = 'sidecar.istio.io/interceptionMode';

t.test('Pod Security "restricted": CNI-mode pods pass where the app does; classic injection fails', async (t) => {
  const ps = await pairs({}, compliantVariant);
  let checked = 0;
  for (const { input, site, classic, cni } of ps) {
    const name = `${input} ${site}`;
    const tproxy = cni.metadata?.annotations?.[TPROXY_ANNOTATION] === 'TPROXY';
    const cniV = restrictedViolations(cni);
    if (tproxy) {
      t.ok(cniV.some((v) => v.control === 'capabilities-restricted'), `${name}: TPROXY's proxy (root, NET_ADMIN) is refused`);
      continue;
    }
    const appV = restrictedViolations(compliantVariant(original.get(cni) as Pod));
    // Where the app cannot be made compliant (a hostPath volume), injection must add nothing to what it breaks.
    t.same(cniV, appV, `${name}: CNI mode passes${appV.length > 0 ? ` as far as the app does (${appV.map((v) => v.control).join(', ')})` : ''}`);
    const classicV = restrictedViolations(classic);
    if (named(classic, 'istio-init') && !(input in USER_INIT)) {
      const controls = new Set(classicV.map((v) => v.control));
      t.ok(controls.has('capabilities-restricted') && controls.has('run-as-non-root') && controls.has('run-as-user'), `${name}: istio-init (root, NET_ADMIN, NET_RAW) fails it`);
    }
    checked++;
  }
  t.ok(checked > 80, `${checked} pods checked`);
});

t.test('layout: validation first (before app init containers and the native proxy), as Istio places it', async (t) => {
  const pod = basicPod();
  (pod.spec as NonNullable<Pod['spec']>).initContainers = [{ name: 'migrate', image: 'm' }];
  const native = injectPod(pod, manual('shop'), await injectorFor({ cni: true })).pod;
  t.same(native.spec?.initContainers?.map((c) => c.name), ['istio-validation', 'istio-proxy', 'migrate']);
  t.same(native.spec?.containers.map((c) => c.name), ['app']);
  const classic = injectPod(pod, manual('shop'), await injectorFor({ cni: true, nativeSidecars: false })).pod;
  t.same(classic.spec?.initContainers?.map((c) => c.name), ['istio-validation', 'migrate']);
  t.same(classic.spec?.containers.map((c) => c.name), ['app', 'istio-proxy']);
  t.same(JSON.parse(classic.metadata?.annotations?.[STATUS] ?? '{}').initContainers, ['istio-validation']);
  t.same(JSON.parse(native.metadata?.annotations?.[STATUS] ?? '{}').initContainers, ['istio-validation', 'istio-proxy']);

  const v = named(native, 'istio-validation') as V1Container;
  t.same(v.command, ['tandem']);
  t.same(v.args, ['cni-validate'], 'runs the validation the cni issue ships');
  t.same(v.securityContext, {
    allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] }, privileged: false, readOnlyRootFilesystem: true,
    runAsGroup: 1337, runAsNonRoot: true, runAsUser: 1337, seccompProfile: { type: 'RuntimeDefault' },
  });
  t.same(podProblems(native), []);
  t.same(podProblems(classic), []);
});

t.test('annotations: Istio names and values, the pod’s own kept; NONE gets no validation; injecting twice changes nothing', async (t) => {
  const inj = await injectorFor({ cni: true });
  const a = injectPod(basicPod({ annotations: { 'traffic.sidecar.istio.io/excludeInboundPorts': '9090', 'traffic.sidecar.istio.io/excludeOutboundPorts': '' } }), manual('shop'), inj).pod;
  const ann = a.metadata?.annotations ?? {};
  t.equal(ann['sidecar.istio.io/interceptionMode'], 'REDIRECT');
  t.equal(ann['traffic.sidecar.istio.io/includeOutboundIPRanges'], '*');
  t.equal(ann['traffic.sidecar.istio.io/includeInboundPorts'], '*');
  t.equal(ann['traffic.sidecar.istio.io/excludeInboundPorts'], '9090,15020', "Istio's excludeInboundPort appends the status port");
  t.equal(ann['traffic.sidecar.istio.io/excludeOutboundPorts'], '', 'an explicit empty list is written back (it overrides the plugin default)');
  t.notOk('traffic.sidecar.istio.io/excludeOutboundIPRanges' in ann, 'unset ranges are not written');
  t.same(injectPod(a, manual('shop'), inj).pod, a, 'injecting twice == injecting once');

  const none = injectPod(basicPod({ annotations: { 'sidecar.istio.io/interceptionMode': 'NONE' } }), manual('shop'), inj).pod;
  t.same(none.spec?.initContainers?.map((c) => c.name), ['istio-proxy'], 'NONE: nothing captured, nothing to validate');

  const runas = loadDocs(`${ISTIO_INJECT}/proxy-override-runas.yaml`).map((d) => injectObject(d, inj));
  const p = podSites(runas[0] as KubeObject)[0]?.pod as Pod;
  t.match(named(p, 'istio-validation')?.securityContext, { runAsUser: 1234, runAsGroup: 4321 }, 'validation runs as the uid/gid the proxy was overridden to');

  await t.rejects(loadInjector({ config: { cni: 'yes' } }), /cni: must be true or false/);
});
