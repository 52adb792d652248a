// The file source against a real directory and real fs.watch events (no emulation).
import { mkdtemp, mkdir, rename, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import t, { type Test } from 'tap';
import { UserError } from '../../../common/errors.js';
import { createFileConfigStore, type FileConfigStore } from '../../../config/store/file.js';
import { createConfigStore } from '../../../config/store/index.js';
import { drYaml, freshMetrics, nextChange, recordingLogger, rejectedCount, testValidator, vsYaml } from './helpers.js';

async function tmpDir(t: Test): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'tandem-config-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function open(t: Test, p: string) {
  const log = recordingLogger();
  const metrics = freshMetrics();
  const store = await createFileConfigStore(p, { validate: testValidator, log, metrics, settleMs: 20 });
  t.teardown(() => store.close());
  return { store, log, metrics };
}

const names = (store: FileConfigStore, kind: 'VirtualService' | 'DestinationRule') => store.list(kind).map((o) => `${o.metadata.namespace}/${o.metadata.name}`);

t.test('initial read: recursive, multi-document, non-Istio kinds ignored, namespace defaults to default', async (t) => {
  const dir = await tmpDir(t);
  await mkdir(path.join(dir, 'sub', 'deeper'), { recursive: true });
  await writeFile(path.join(dir, 'a.yaml'), `${vsYaml('reviews', ['reviews'], 'shop')}---\n${drYaml('reviews', 'reviews', 'shop')}---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\n---\napiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {name: g}\nspec: {}\n`);
  await writeFile(path.join(dir, 'sub', 'deeper', 'b.yml'), vsYaml('ratings', ['ratings']));
  await writeFile(path.join(dir, 'sub', 'notes.txt'), vsYaml('ignored', ['x']));
  await writeFile(path.join(dir, '.hidden.yaml'), vsYaml('hidden', ['x']));
  const { store } = await open(t, dir);
  t.ok(store.hasSynced());
  await store.synced;
  t.same(names(store, 'VirtualService'), ['default/ratings', 'shop/reviews'], 'only .yaml/.yml/.json files, no dot-names; no namespace -> default');
  t.same(names(store, 'DestinationRule'), ['shop/reviews']);
  t.equal(store.list('Gateway').length, 0, 'gateway.networking.k8s.io Gateway is not an Istio Gateway');
  t.same(store.get('VirtualService', 'default', 'ratings')?.spec, { hosts: ['ratings'] });
});

t.test('add, edit, delete, rename-write: each event names exactly the changed objects', async (t) => {
  const dir = await tmpDir(t);
  await writeFile(path.join(dir, 'a.yaml'), `${vsYaml('a', ['a'], 'ns')}---\n${vsYaml('b', ['b'], 'ns')}`);
  const { store } = await open(t, dir);

  let change = nextChange(store);
  await mkdir(path.join(dir, 'new'));
  await writeFile(path.join(dir, 'new', 'c.yaml'), drYaml('c', 'c', 'ns'));
  t.same((await change).kinds, { DestinationRule: { added: ['DestinationRule/ns/c'], updated: [], deleted: [] } }, 'a file in a new subdirectory');

  change = nextChange(store);
  await writeFile(path.join(dir, 'a.yaml'), `${vsYaml('a', ['a'], 'ns')}---\n${vsYaml('b', ['b', 'b2'], 'ns')}`);
  let c = await change;
  t.same(c.kinds, { VirtualService: { added: [], updated: ['VirtualService/ns/b'], deleted: [] } }, 'only the edited document');
  t.same(c.snapshot.get('VirtualService', 'ns', 'b')?.spec, { hosts: ['b', 'b2'] });

  change = nextChange(store);
  const tmp = path.join(dir, '.a.yaml.swp');
  await writeFile(tmp, `${vsYaml('a', ['a', 'a2'], 'ns')}---\n${vsYaml('b', ['b', 'b2'], 'ns')}`);
  await rename(tmp, path.join(dir, 'a.yaml'));
  c = await change;
  t.same(c.kinds, { VirtualService: { added: [], updated: ['VirtualService/ns/a'], deleted: [] } }, 'an editor writing by rename');
  t.same(store.get('VirtualService', 'ns', 'a')?.spec, { hosts: ['a', 'a2'] });

  change = nextChange(store);
  await rm(path.join(dir, 'a.yaml'));
  t.same((await change).kinds, { VirtualService: { added: [], updated: [], deleted: ['VirtualService/ns/a', 'VirtualService/ns/b'] } }, 'a deleted file removes its objects');
  t.equal(store.snapshot().size, 1);

  change = nextChange(store);
  await rm(path.join(dir, 'new'), { recursive: true });
  t.same((await change).kinds, { DestinationRule: { added: [], updated: [], deleted: ['DestinationRule/ns/c'] } }, 'a deleted directory');
});

t.test('an invalid object is refused, logged, counted, and its last good version stays; the others change', async (t) => {
  const dir = await tmpDir(t);
  const file = path.join(dir, 'vs.yaml');
  await writeFile(file, `${vsYaml('a', ['a'], 'ns')}---\n${vsYaml('b', ['b'], 'ns')}`);
  const { store, log, metrics } = await open(t, dir);

  const change = nextChange(store);
  await writeFile(file, `${vsYaml('a', '[]', 'ns')}---\n${vsYaml('b', ['b2'], 'ns')}---\n${vsYaml('new-bad', '[1]', 'ns')}`);
  t.same((await change).kinds, { VirtualService: { added: [], updated: ['VirtualService/ns/b'], deleted: [] } }, 'only b changed');
  t.same(store.get('VirtualService', 'ns', 'a')?.spec, { hosts: ['a'] }, 'a keeps its last good version');
  t.equal(store.get('VirtualService', 'ns', 'new-bad'), undefined, 'an object never valid is absent');
  t.equal(await rejectedCount(metrics, 'VirtualService'), 2);

  const lines = log.entries.filter((e) => e.level === 'error');
  t.same(lines.map((e) => e.obj), [
    { file, document: 1, namespace: 'ns', name: 'a', kind: 'VirtualService', problems: 'spec.hosts: must be a non-empty list', keptLastGood: true },
    { file, document: 3, namespace: 'ns', name: 'new-bad', kind: 'VirtualService', problems: 'spec.hosts[0]: must be a string', keptLastGood: false },
  ], 'each log line names file, document, kind/namespace/name and the problems');

  // Fixing it brings the new version in.
  const fixed = nextChange(store);
  await writeFile(file, `${vsYaml('a', ['a3'], 'ns')}---\n${vsYaml('b', ['b2'], 'ns')}`);
  t.same((await fixed).kinds, { VirtualService: { added: [], updated: ['VirtualService/ns/a'], deleted: [] } });
});

t.test('a file that is not valid YAML keeps its last good objects; other files still apply', async (t) => {
  const dir = await tmpDir(t);
  const broken = path.join(dir, 'a.yaml');
  await writeFile(broken, `${vsYaml('a', ['a'], 'ns')}---\n${drYaml('r', 'r', 'ns')}`);
  const { store, log } = await open(t, dir);

  await writeFile(broken, `${vsYaml('a', ['a2'], 'ns')}---\nspec: {host: [unclosed\n`);
  const change = nextChange(store);
  await new Promise((r) => setTimeout(r, 100));
  await writeFile(path.join(dir, 'b.yaml'), vsYaml('b', ['b'], 'ns'));
  t.same((await change).kinds, { VirtualService: { added: ['VirtualService/ns/b'], updated: [], deleted: [] } }, 'the broken file changed nothing');
  t.same(store.get('VirtualService', 'ns', 'a')?.spec, { hosts: ['a'] });
  t.ok(store.get('DestinationRule', 'ns', 'r'));
  const line = log.entries.find((e) => e.msg?.includes('not valid YAML'));
  t.match(line?.obj, { file: broken, err: /document 2: invalid YAML/, keptObjects: 2 });
});

t.test('duplicates across files: the first in path order wins, logged; removing it lets the other in', async (t) => {
  const dir = await tmpDir(t);
  await writeFile(path.join(dir, '10-first.yaml'), vsYaml('dup', ['first'], 'ns'));
  await writeFile(path.join(dir, '20-second.yaml'), `${vsYaml('dup', ['second'], 'ns')}---\n${vsYaml('dup', ['third'], 'ns')}`);
  const { store, log } = await open(t, dir);
  t.same(store.get('VirtualService', 'ns', 'dup')?.spec, { hosts: ['first'] });
  const warns = log.entries.filter((e) => e.level === 'warn').map((e) => e.obj);
  t.match(warns, [
    { file: path.join(dir, '20-second.yaml'), document: 2, key: 'VirtualService/ns/dup', kept: 'document 1' },
    { key: 'VirtualService/ns/dup', file: path.join(dir, '20-second.yaml'), document: 1, kept: path.join(dir, '10-first.yaml') },
  ]);
  const change = nextChange(store);
  await rm(path.join(dir, '10-first.yaml'));
  t.same((await change).kinds, { VirtualService: { added: [], updated: ['VirtualService/ns/dup'], deleted: [] } });
  t.same(store.get('VirtualService', 'ns', 'dup')?.spec, { hosts: ['second'] });
});

t.test('PATH as a single file, through the factory; missing PATH and bad specs are user errors', async (t) => {
  const dir = await tmpDir(t);
  const file = path.join(dir, 'istio.yaml');
  await writeFile(file, vsYaml('a', ['a'], 'ns'));
  await writeFile(path.join(dir, 'other.yaml'), vsYaml('o', ['o'], 'ns'));
  const store = await createConfigStore(`file:${file}`, { validate: testValidator, metrics: freshMetrics() });
  t.teardown(() => store.close());
  await store.synced;
  t.same(store.list('VirtualService').map((o) => o.metadata.name), ['a'], 'only that file');
  const change = nextChange(store);
  const tmp = path.join(dir, 'istio.yaml.tmp');
  await writeFile(tmp, vsYaml('a', ['a2'], 'ns'));
  await rename(tmp, file);
  t.same((await change).kinds, { VirtualService: { added: [], updated: ['VirtualService/ns/a'], deleted: [] } });

  await t.rejects(createConfigStore(`file:${path.join(dir, 'nope')}`, { validate: testValidator }), UserError);
  await t.rejects(createConfigStore('file:', { validate: testValidator }), { message: /needs a path/ });
  await t.rejects(createConfigStore('etcd', { validate: testValidator }), { message: /--config must be "kubernetes" or "file:PATH"/ });
});

t.test('close stops watching', async (t) => {
  const dir = await tmpDir(t);
  const { store } = await open(t, dir);
  let events = 0;
  store.onChange(() => events++);
  await store.close();
  await writeFile(path.join(dir, 'a.yaml'), vsYaml('a', ['a'], 'ns'));
  await new Promise((r) => setTimeout(r, 150));
  t.equal(events, 0);
});

t.test('an emptied file is believed after a settle time (writers truncate first)', async (t) => {
  const dir = await tmpDir(t);
  await writeFile(path.join(dir, 'a.yaml'), vsYaml('a', ['a'], 'ns'));
  const { store } = await open(t, dir);
  const change = nextChange(store);
  await writeFile(path.join(dir, 'a.yaml'), '');
  t.same((await change).kinds, { VirtualService: { added: [], updated: [], deleted: ['VirtualService/ns/a'] } });
});

t.test('a same-size rewrite right after a read is seen (stamps are not trusted within the racy window)', async (t) => {
  const dir = await tmpDir(t);
  const file = path.join(dir, 'a.yaml');
  await writeFile(file, vsYaml('a', ['h1'], 'ns'));
  const { store } = await open(t, dir);
  const change = nextChange(store);
  await writeFile(file, vsYaml('a', ['h2'], 'ns'));
  t.same((await change).kinds, { VirtualService: { added: [], updated: ['VirtualService/ns/a'], deleted: [] } });
  t.same(store.get('VirtualService', 'ns', 'a')?.spec, { hosts: ['h2'] });
});
