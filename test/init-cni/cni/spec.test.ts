import t from 'tap';
import { CNI_ERROR, CniError, SUPPORTED_VERSIONS, addResult, errorResult, parseCniArgs, parseCommand, parseConfig, parseInvocation, prevResultAddresses, versionResult } from '../../../init-cni/cni/spec.js';

/** The CNI protocol layer, pure. Expected values are written from the CNI specification 1.0.0 by hand. */

const ENV = { CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'c1', CNI_NETNS: '/var/run/netns/x', CNI_IFNAME: 'eth0', CNI_ARGS: 'IgnoreUnknown=1;K8S_POD_NAMESPACE=shop;K8S_POD_NAME=web-0' };
const CONF = { cniVersion: '1.0.0', name: 'k8s-pod-network', type: 'tandem-cni' };

function code(fn: () => unknown): number | string {
  try {
    fn();
    return 'no error';
  } catch (err) {
    return err instanceof CniError ? err.code : `not a CniError: ${String(err)}`;
  }
}

t.test('the spec error codes', async (t) => {
  t.same(CNI_ERROR, { INCOMPATIBLE_VERSION: 1, UNSUPPORTED_FIELD: 2, CONTAINER_UNKNOWN: 3, INVALID_ENVIRONMENT: 4, IO_FAILURE: 5, DECODE_FAILURE: 6, INVALID_CONFIG: 7, TRY_AGAIN_LATER: 11 });
});

t.test('CNI_COMMAND', async (t) => {
  t.equal(parseCommand({ CNI_COMMAND: 'VERSION' }), 'VERSION');
  t.equal(code(() => parseCommand({})), 4);
  t.equal(code(() => parseCommand({ CNI_COMMAND: 'add' })), 4, 'commands are upper case');
});

t.test('CNI_ARGS', async (t) => {
  t.same(parseCniArgs('IgnoreUnknown=1;K8S_POD_NAMESPACE=shop;K8S_POD_NAME=web-0;K8S_POD_INFRA_CONTAINER_ID=abc'), {
    IgnoreUnknown: '1', K8S_POD_NAMESPACE: 'shop', K8S_POD_NAME: 'web-0', K8S_POD_INFRA_CONTAINER_ID: 'abc',
  });
  t.same(parseCniArgs(''), {});
  t.same(parseCniArgs('A=x=y'), { A: 'x=y' }, 'the value may hold "="');
  t.equal(code(() => parseCniArgs('A=1;oops')), 4);
});

t.test('network config', async (t) => {
  const c = parseConfig(JSON.stringify({ ...CONF, exclude_namespaces: ['kube-system'], runtimeConfig: { 'io.kubernetes.cri.pod-annotations': { a: 'b' } }, prevResult: { ips: [] } }));
  t.same(c.excludeNamespaces, ['kube-system']);
  t.same(c.podAnnotations, { a: 'b' });
  t.equal(c.apiserverTimeoutMs, 5000);
  t.equal(code(() => parseConfig('{')), 6, 'not JSON: decode failure');
  t.equal(code(() => parseConfig('[]')), 6);
  t.equal(code(() => parseConfig(JSON.stringify({ ...CONF, cniVersion: '9.9.9' }))), 1, 'unknown version: incompatible');
  t.equal(code(() => parseConfig(JSON.stringify({ name: 'n', type: 't' }))), 7);
  t.equal(code(() => parseConfig(JSON.stringify({ ...CONF, name: undefined }))), 7);
  t.equal(code(() => parseConfig(JSON.stringify({ ...CONF, exclude_namespaces: 'kube-system' }))), 7);
  t.equal(code(() => parseConfig(JSON.stringify({ ...CONF, prevResult: [] }))), 7);
  t.equal(code(() => parseConfig(JSON.stringify({ ...CONF, apiserver_timeout_ms: -1 }))), 7);
  t.equal(code(() => parseConfig(JSON.stringify({ ...CONF, runtimeConfig: { 'io.kubernetes.cri.pod-annotations': { a: 1 } } }))), 7);
  t.equal(code(() => parseConfig(JSON.stringify({ ...CONF, runtimeConfig: 'x' }))), 7);
  t.equal(code(() => parseConfig(JSON.stringify({ ...CONF, kubeconfig: 3 }))), 7);
  t.match((() => { try { parseConfig(JSON.stringify({ ...CONF, exclude_namespaces: 1 })); } catch (e) { return (e as Error).message; } return ''; })(), /exclude_namespaces/, 'the error names the field');
});

t.test('per-command environment', async (t) => {
  const stdin = JSON.stringify(CONF);
  const inv = parseInvocation('ADD', ENV, stdin);
  t.same([inv.containerId, inv.netns, inv.ifname, inv.args.K8S_POD_NAME], ['c1', '/var/run/netns/x', 'eth0', 'web-0']);
  t.equal(code(() => parseInvocation('ADD', { ...ENV, CNI_NETNS: undefined }, stdin)), 4);
  t.equal(code(() => parseInvocation('CHECK', { ...ENV, CNI_IFNAME: '' }, stdin)), 4);
  t.equal(code(() => parseInvocation('DEL', { ...ENV, CNI_NETNS: undefined }, stdin)), 'no error', 'DEL may come without a namespace');
  t.equal(code(() => parseInvocation('CHECK', ENV, JSON.stringify({ ...CONF, cniVersion: '0.3.1' }))), 1, 'CHECK needs 0.4.0+');
  t.equal(code(() => parseInvocation('GC', ENV, stdin)), 1, 'GC needs 1.1.0');
  t.equal(code(() => parseInvocation('STATUS', {}, JSON.stringify({ ...CONF, cniVersion: '1.1.0' }))), 'no error', 'STATUS needs no container');
});

t.test('results', async (t) => {
  t.same(JSON.parse(versionResult()), { cniVersion: '1.1.0', supportedVersions: [...SUPPORTED_VERSIONS] });
  t.ok(SUPPORTED_VERSIONS.includes('0.4.0') && SUPPORTED_VERSIONS.includes('1.0.0'));
  t.same(JSON.parse(errorResult(new CniError(7, 'bad', 'why'), '0.4.0')), { cniVersion: '0.4.0', code: 7, msg: 'bad', details: 'why' });
  t.same(JSON.parse(errorResult(new CniError(7, 'bad'), '1.0.0')), { cniVersion: '1.0.0', code: 7, msg: 'bad' }, 'no empty details');
  // 0.4.0 results carry "version" per IP; passed through untouched, in the config's version.
  const prev = { cniVersion: '0.4.0', interfaces: [{ name: 'eth0', sandbox: '/var/run/netns/x' }], ips: [{ version: '4', address: '10.1.0.5/16', gateway: '10.1.0.1', interface: 0 }], dns: {} };
  const c04 = parseConfig(JSON.stringify({ ...CONF, cniVersion: '0.4.0', prevResult: prev }));
  t.same(JSON.parse(addResult(c04)), prev);
  t.same(JSON.parse(addResult(parseConfig(JSON.stringify(CONF)))), { cniVersion: '1.0.0', interfaces: [], ips: [], dns: {} }, 'no prevResult: the smallest result');
  t.same(prevResultAddresses(prev), ['10.1.0.5']);
  t.same(prevResultAddresses({ ips: [{ address: 'fd00::5/64' }, { nope: 1 }, 'x'] }), ['fd00::5']);
  t.same(prevResultAddresses(undefined), []);
});
