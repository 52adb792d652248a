import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { UserError } from '../../common/errors.js';
import { DEFAULT_CONFIG, injectorConfigFrom, isQuantity, parseInjectorConfig } from '../../inject/config.js';
import { injectPod, loadInjector } from '../../inject/injector.js';
import { compileTemplate } from '../../inject/template-engine.js';
import { shippedTemplatesDir } from '../../inject/templates.js';
import { basicPod, manual } from './helpers.js';

const shipped = shippedTemplatesDir();
const shippedText = (f: string) => readFileSync(join(shipped, f), 'utf8');

t.test('template engine: typed placeholders, dropped keys, spreads, interpolation', async (t) => {
  const known = new Set(['n', 'obj', 'list', 'maybe', 's']);
  const c = compileTemplate(
    [
      'port: ${n}',
      'res: ${obj}',
      'opt: ${maybe}',
      'args: [a, "${...list}", z, "${maybe}"]',
      'msg: "hello ${s}, ${n}!"',
      'gone: "x-${maybe}"',
      'fixed: {k: [1, true, null]}',
    ].join('\n'),
    'test.yaml',
    known,
  );
  t.same([...c.placeholders].sort(), ['list', 'maybe', 'n', 'obj', 's']);
  const vals = { n: 15021, obj: { a: { b: 1 } }, list: ['x', 'y'], s: 'mesh' };
  const out = c.render(vals) as Record<string, unknown>;
  t.same(out, { port: 15021, res: { a: { b: 1 } }, args: ['a', 'x', 'y', 'z'], msg: 'hello mesh, 15021!', fixed: { k: [1, true, null] } });
  t.not(out.res, vals.obj, 'object values are copied, never shared between pods');
  (out.fixed as { k: unknown[] }).k.push('mutated');
  t.same((c.render(vals) as { fixed: unknown }).fixed, { k: [1, true, null] }, 'constants are fresh per render');
  t.throws(() => compileTemplate('a: ${nope}', 'bad.yaml', known), { message: /template bad\.yaml: a: unknown placeholder \$\{nope\}/ });
  t.throws(() => compileTemplate('a: "${...list}"', 'bad.yaml', known), { message: /only allowed as a list item/ });
  t.throws(() => compileTemplate('a: [b', 'bad.yaml', known), { message: /template bad\.yaml: invalid YAML/ });
  t.throws(() => compileTemplate('a: ["${...s}"]', 'x.yaml', known).render({ s: 'str' }), { message: /spread value is not a list/ });
});

t.test('injector config: defaults, overrides, and clear errors', async (t) => {
  t.same(injectorConfigFrom({}), DEFAULT_CONFIG, 'an empty file means the embedded defaults');
  const cfg = parseInjectorConfig(
    [
      'policy: disabled',
      'revision: canary',
      'nativeSidecars: false',
      'images: {proxy: "envoy:x", pullPolicy: Always}',
      'neverInjectSelector: [{matchLabels: {tier: db}}]',
      'alwaysInjectSelector: [{matchExpressions: [{key: mesh, operator: Exists}]}]',
      'proxy: {resources: {requests: {cpu: 50m, memory: null}}}',
      'capture: {excludeOutboundIPRanges: "169.254.169.254/32"}',
    ].join('\n'),
    'cfg.yaml',
  );
  t.equal(cfg.policy, 'disabled');
  t.equal(cfg.revision, 'canary');
  t.equal(cfg.nativeSidecars, false);
  t.same(cfg.images, { proxy: 'envoy:x', init: DEFAULT_CONFIG.images.init, pullPolicy: 'Always' });
  t.same(cfg.neverInjectSelector, [{ matchLabels: { tier: 'db' } }]);
  t.same(cfg.proxy.resources, { requests: { cpu: '50m' } });
  t.same(cfg.init.resources, { requests: { cpu: '50m' } }, "init resources default to the proxy's");
  t.equal(cfg.capture.excludeOutboundIPRanges, '169.254.169.254/32');
  t.equal(cfg.capture.includeInboundPorts, '*');

  const bad: Array<[string, RegExp]> = [
    ['polcy: enabled', /cfg\.yaml: polcy: unknown field/],
    ['policy: maybe', /cfg\.yaml: policy: must be one of enabled, disabled \(got "maybe"\)/],
    ['nativeSidecars: "yes"', /nativeSidecars: must be true or false/],
    ['revision: Not_Valid', /revision: "Not_Valid" is not a valid label value/],
    ['images: {pullPolicy: Sometimes}', /images\.pullPolicy: must be one of Always, IfNotPresent, Never/],
    ['images: {proxy: ""}', /images\.proxy: must not be empty/],
    ['images: {proxy: 3}', /images\.proxy: must be a string/],
    ['proxy: {uid: -1}', /proxy\.uid: must be a non-negative integer/],
    ['proxy: {logLevel: loud}', /proxy\.logLevel: must be one of/],
    ['proxy: {resources: {requests: {cpu: lots}}}', /proxy\.resources\.requests\.cpu: "lots" is not a Kubernetes quantity/],
    ['proxy: {resources: {requests: {gpu: 1}}}', /proxy\.resources\.requests\.gpu: unknown field/],
    ['neverInjectSelector: {matchLabels: {}}', /neverInjectSelector: must be a list of label selectors/],
    ['alwaysInjectSelector: [{matchExpressions: [{key: a, operator: Equals}]}]', /alwaysInjectSelector\[0\]: matchExpressions\[0\]\.operator/],
    ['capture: {interceptionMode: redirect}', /capture\.interceptionMode: must be one of REDIRECT, TPROXY, NONE/],
    ['- a list', /cfg\.yaml: : must be a mapping|cfg\.yaml: .*must be a mapping/],
    ['a: [b', /cfg\.yaml: invalid YAML/],
  ];
  for (const [text, msg] of bad) t.throws(() => parseInjectorConfig(text, 'cfg.yaml'), msg, text);
  t.ok(isQuantity('1.5Gi') && isQuantity('100m') && isQuantity('1e3') && isQuantity('0') && !isQuantity('1GB') && !isQuantity('-1'));
});

t.test('loadInjector reads a config file and validates capture defaults at startup', async (t) => {
  const dir = t.testdir({
    'ok.yaml': 'policy: disabled\nrevision: blue\n',
    'bad-capture.yaml': 'capture: {excludeInboundPorts: "80,http"}\n',
  });
  const inj = await loadInjector({ configPath: join(dir, 'ok.yaml') });
  t.equal(inj.revision, 'blue');
  t.equal(injectPod(basicPod(), manual(), inj).decision.inject, false, 'policy disabled applies');
  await t.rejects(loadInjector({ configPath: join(dir, 'bad-capture.yaml') }), { name: 'UserError', message: /bad-capture\.yaml: capture\.excludeInboundPorts: "http" is not a port/ });
  await t.rejects(loadInjector({ configPath: join(dir, 'missing.yaml') }), { name: 'UserError', message: /missing\.yaml: cannot read: ENOENT/ });
});

t.test('an admin templates directory overrides files of the same name', async (t) => {
  const proxy = shippedText('istio-proxy.yaml').replace('  - --disable-hot-restart\n', '  - --disable-hot-restart\n  - --service-cluster\n  - ${revision}\n');
  t.not(proxy, shippedText('istio-proxy.yaml'), 'the edit applied');
  const dir = t.testdir({ 'istio-proxy.yml': proxy, '..data': {}, '.hidden.yaml': 'not: read', 'README.txt': 'ignored' });
  const inj = await loadInjector({ templatesDir: dir });
  const out = injectPod(basicPod(), manual(), inj).pod;
  t.same(out.spec?.initContainers?.[1]?.args?.slice(-2), ['--service-cluster', 'default'], 'the override renders with typed values');
  t.same(out.spec?.initContainers?.[0]?.name, 'istio-init', 'files not overridden come from templates/');
});

t.test('a broken template is a startup error naming the file', async (t) => {
  const cases: Array<[Record<string, string>, RegExp]> = [
    [{ 'istio-init.yaml': shippedText('istio-init.yaml').replace('image: ${initImage}', 'image: ${initImag}') }, /istio-init\.yaml: image: unknown placeholder \$\{initImag\}/],
    [{ 'istio-init.yaml': 'name: istio-init\n' }, /istio-init\.yaml: invalid container: image must be a non-empty string/],
    [{ 'istio-proxy.yaml': shippedText('istio-proxy.yaml').replace('name: istio-proxy\n', 'name: Istio_Proxy\n') }, /istio-proxy\.yaml: invalid container: name "Istio_Proxy" is not a DNS-1123 label/],
    [{ 'istio-proxy.yaml': shippedText('istio-proxy.yaml').replace('containerPort: 15090', 'containerPort: 99999') }, /containerPort 99999 is not a port number/],
    [{ 'istio-proxy.yaml': shippedText('istio-proxy.yaml').replace('name: istio-proxy\n', 'name: istio-init\n') }, /also the init container's name/],
    [{ 'istio-proxy.yaml': '- a\n- b\n' }, /istio-proxy\.yaml: invalid container: must be a mapping/],
    [{ 'istio-proxy.yaml': shippedText('istio-proxy.yaml').replace('args:\n', 'args:\n  - ${concurrency}\n  - 3\n') }, /command must be a list of strings|args must be a list of strings/],
    [{ 'volumes.yaml': '- name: istio-envoy\n  emptyDir: {}\n' }, /volumeMount istio-data has no volume/],
    [{ 'volumes.yaml': 'name: x\n' }, /volumes\.yaml: must be a list of volumes/],
    [{ 'volumes.yaml': '- name: a\n- name: a\n' }, /volume a is listed twice/],
    [{ 'istio-init.yaml': 'name: [' }, /istio-init\.yaml: invalid YAML/],
    [{ 'istio-validation.yaml': 'name: istio-validation\n' }, /istio-validation\.yaml: invalid container: image must be a non-empty string/],
    [{ 'istio-validation.yaml': shippedText('istio-validation.yaml').replace('name: istio-validation\n', 'name: istio-proxy\n') }, /also the validation container's name/],
    [{ 'sidecar.yaml': 'x: 1' }, /sidecar\.yaml: the name "sidecar" is the built-in sidecar \(override istio-init\.yaml, istio-validation\.yaml, istio-proxy\.yaml, volumes\.yaml instead\)/],
  ];
  for (const [files, msg] of cases) {
    const dir = t.testdir(files);
    await t.rejects(loadInjector({ templatesDir: dir }), { name: 'UserError', message: msg }, Object.keys(files)[0] ?? '');
  }
  await t.rejects(loadInjector({ templatesDir: '/nonexistent/templates' }), { name: 'UserError', message: /--templates \/nonexistent\/templates: cannot read directory: ENOENT/ });
  t.type(new UserError('x'), Error);
});
