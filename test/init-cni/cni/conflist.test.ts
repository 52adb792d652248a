import { readFileSync, readdirSync } from 'node:fs';
import t from 'tap';
import { UserError } from '../../../common/errors.js';
import { type ConfFile, type Json, hasPlugin, insertPlugin, isUsable, pluginEntry, primaryConfig, removePlugin } from '../../../init-cni/agent/conflist.js';

/** The conflist edit on the shapes of common CNIs (fixtures/README.md says where each shape comes from). */

const dir = new URL('./fixtures/', import.meta.url).pathname;
const fixture = (name: string): ConfFile => ({ name, text: readFileSync(dir + name, 'utf8') });
const LISTS = ['10-mynet.conflist', '10-calico.conflist', '05-cilium.conflist', '10-flannel.conflist'];
const ENTRY = pluginEntry({ kubeconfig: '/etc/cni/net.d/tandem-cni.kubeconfig', excludeNamespaces: ['kube-system'], podNamespace: 'tandem-system' });
const parsed = (f: ConfFile): Json => JSON.parse(f.text) as Json;

t.test("tandem's entry", async (t) => {
  t.same(ENTRY, {
    type: 'tandem-cni',
    name: 'tandem-cni',
    capabilities: { 'io.kubernetes.cri.pod-annotations': true },
    kubeconfig: '/etc/cni/net.d/tandem-cni.kubeconfig',
    exclude_namespaces: ['kube-system'],
    pod_namespace: 'tandem-system',
  });
});

for (const name of LISTS) {
  t.test(`${name}: chained last, idempotent, reversible`, async (t) => {
    const orig = fixture(name);
    const before = parsed(orig);
    const once = insertPlugin(orig, ENTRY);
    t.equal(once.name, name, 'a list keeps its file name');
    const after = parsed(once);
    const plugins = after.plugins as Json[];
    t.same(plugins.slice(0, -1), before.plugins, "the CNI's own plugins unchanged and in order");
    t.same(plugins[plugins.length - 1], ENTRY, 'tandem last');
    t.same({ ...after, plugins: undefined }, { ...before, plugins: undefined }, 'the list fields unchanged');
    t.ok(hasPlugin(once, ENTRY));
    t.notOk(hasPlugin(orig, ENTRY));
    t.same(insertPlugin(once, ENTRY), once, 'inserting twice equals inserting once');
    const back = removePlugin(once);
    t.equal(back.name, name);
    t.same(parsed(back), before, 'removal restores the original');
    t.same(removePlugin(orig), orig, 'removal from a list without tandem changes nothing');
  });
}

t.test('an older or misplaced tandem entry is replaced, moved last', async (t) => {
  const orig = fixture('10-calico.conflist');
  const conf = parsed(orig);
  const plugins = conf.plugins as Json[];
  const stale = { ...conf, plugins: [plugins[0], { type: 'tandem-cni', kubeconfig: '/old' }, ...plugins.slice(1)] };
  const staleFile = { name: orig.name, text: JSON.stringify(stale) };
  t.notOk(hasPlugin(staleFile, ENTRY));
  const fixed = parsed(insertPlugin(staleFile, ENTRY));
  t.same(fixed.plugins, [...plugins, ENTRY]);
  const twice = { name: orig.name, text: JSON.stringify({ ...conf, plugins: [...plugins, ENTRY, ENTRY] }) };
  t.notOk(hasPlugin(twice, ENTRY), 'two tandem entries are not "present": they get repaired');
  t.same(parsed(insertPlugin(twice, ENTRY)).plugins, [...plugins, ENTRY]);
});

t.test('a .conf becomes a .conflist of the same base name, and back', async (t) => {
  const orig = fixture('10-bridge.conf');
  const before = parsed(orig);
  const list = insertPlugin(orig, ENTRY);
  t.equal(list.name, '10-bridge.conflist');
  const conf = parsed(list);
  t.equal(conf.cniVersion, '0.4.0', "the .conf's cniVersion kept");
  t.equal(conf.name, 'bridge', "the .conf's name kept");
  const plugins = conf.plugins as Json[];
  const { cniVersion: _v, name: _n, ...single } = before;
  t.same(plugins[0], single, 'the plugin itself, without cniVersion and name');
  t.equal(plugins[1]?.type, 'tandem-cni');
  t.ok(hasPlugin(list, ENTRY), 'present (the conversion marker is not part of the comparison)');
  t.same(insertPlugin(list, ENTRY), list, 'idempotent after conversion (the marker survives)');
  const back = removePlugin(list);
  t.equal(back.name, '10-bridge.conf');
  t.same(parsed(back), before, 'the original .conf again');
  // A .conf without cniVersion or name gets Istio's defaults.
  const bare = insertPlugin({ name: '99-x.conf', text: '{"type":"ptp"}' }, ENTRY);
  t.same([parsed(bare).cniVersion, parsed(bare).name], ['0.3.1', 'k8s-pod-network']);
});

t.test('the primary configuration, as the runtime picks it', async (t) => {
  const files = readdirSync(dir).filter((f) => f !== 'README.md').map(fixture);
  t.equal(primaryConfig(files)?.name, '05-cilium.conflist', 'sorted by name, the first');
  t.equal(primaryConfig(files.filter((f) => f.name !== '05-cilium.conflist'))?.name, '10-bridge.conf');
  const broken = [{ name: '00-broken.conflist', text: '{' }, { name: '01-empty.conflist', text: '{"name":"x","plugins":[]}' }, { name: '02-notype.conf', text: '{"name":"x"}' }, { name: '03-readme.txt', text: '{"type":"x"}' }];
  t.equal(primaryConfig([...broken, fixture('10-flannel.conflist')])?.name, '10-flannel.conflist', 'unusable files are skipped');
  t.equal(primaryConfig(broken), undefined);
  t.notOk(isUsable({ name: 'x.conflist', text: '{"plugins":[{"no":"type"}]}' }));
});

t.test('bad files: a clear error naming the file', async (t) => {
  const err = (f: ConfFile): string => {
    try {
      insertPlugin(f, ENTRY);
      return 'accepted';
    } catch (e) {
      t.ok(e instanceof UserError);
      return (e as Error).message;
    }
  };
  t.match(err({ name: '10-x.conflist', text: '{"plugins": ' }), /^CNI config 10-x\.conflist: not JSON/);
  t.match(err({ name: '10-x.conflist', text: '[]' }), /10-x\.conflist: not a JSON object/);
  t.match(err({ name: '10-x.conflist', text: '{"plugins": {}}' }), /10-x\.conflist: "plugins" must be a list/);
  t.match(err({ name: '10-x.conflist', text: '{"plugins": [{"type": "a"}, 3]}' }), /10-x\.conflist: plugins\[1\] has no "type"/);
  t.match(err({ name: '10-x.conf', text: '{"name": "x"}' }), /10-x\.conf: neither a plugin list nor a plugin/);
  t.throws(() => insertPlugin(fixture('10-calico.conflist'), { type: 'other' }));
});
