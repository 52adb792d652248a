import { existsSync, mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { conformancePath } from '../../conformance.js';
import { spawnTandem } from '../../tandem-cli.js';

/** `tandem validate` through the compiled CLI, as users run it (`npm test` compiles first). */
const root = fileURLToPath(new URL('../../../', import.meta.url));
const fixture = 'test/config/validation/fixtures/invalid.yaml';

const tandem = spawnTandem;

t.before(() => {
  if (!existsSync(join(root, 'dist/config/commands.js'))) throw new Error('dist/ is missing: run `npx tsc -p .` first');
});

t.test('the samples directory: exit 0, non-Istio kinds named on stderr', async (t) => {
  const r = await tandem(['validate', '-f', conformancePath('istio-config', 'samples')]);
  t.equal(r.code, 0, 'exit 0', { stderr: r.stderr });
  t.equal(r.stdout, '75 Istio objects valid\n');
  t.match(r.stderr, /none\.yaml:2: Service none\/fortio: skipped: not an Istio config kind/);
  t.match(r.stderr, /rule-websocket-route\.yaml:3: VirtualService testns\/websocket-route: warning: spec\.http\[0\]\.websocketUpgrade/);
});

t.test('invalid documents: exit 1, one line per problem', async (t) => {
  const r = await tandem(['validate', '-f', fixture]);
  t.equal(r.code, 1);
  const lines = r.stderr.split('\n').filter((l) => l !== '' && !l.startsWith('tandem: '));
  t.same(lines, [
    `${fixture}:2: VirtualService shop/reviews: spec.http[0].retries.retryOn: "whenever" is not a valid retryOn policy`,
    `${fixture}:2: VirtualService shop/reviews: spec.http[0].route: total destination weight 90 != 100`,
    `${fixture}:3: AuthorizationPolicy default/ext: spec.rules[0].to[0].operation.pathz: unknown field`,
  ]);
  t.match(r.stderr, `tandem: ${fixture}:4: ConfigMap default/not-istio: skipped: not an Istio config kind (ConfigMap not validated)`);
  t.equal(r.stdout, '2 of 3 Istio objects invalid\n');
});

t.test('semantic rules run once the schema passes', async (t) => {
  const fixed = (await import('node:fs')).readFileSync(join(root, fixture), 'utf8').replace('pathz', 'paths');
  const r = await tandem(['validate', '-f', '-'], fixed);
  t.equal(r.code, 1);
  t.match(r.stderr, '<stdin>:3: AuthorizationPolicy default/ext: spec.action: CUSTOM action is not supported by tandem (no external authorization provider)\n');
});

t.test('-o json', async (t) => {
  const r = await tandem(['validate', '-o', 'json', '-f', fixture]);
  t.equal(r.code, 1);
  const out = JSON.parse(r.stdout) as { valid: boolean; documents: Array<{ document: number; kind: string; validated: boolean; problems: Array<{ path: string }> }> };
  t.equal(out.valid, false);
  t.same(out.documents.map((d) => [d.document, d.kind, d.validated, d.problems.map((p) => p.path)]), [
    [1, 'DestinationRule', true, []],
    [2, 'VirtualService', true, ['spec.http[0].retries.retryOn', 'spec.http[0].route']],
    [3, 'AuthorizationPolicy', true, ['spec.rules[0].to[0].operation.pathz']],
    [4, 'ConfigMap', false, []],
  ]);
});

t.test('broken YAML names the file and document; the other documents are still judged', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tandem-validate-'));
  mkdirSync(join(dir, 'nested'));
  writeFileSync(join(dir, 'nested', 'broken.yaml'), 'apiVersion: networking.istio.io/v1\nkind: Gateway\n---\nkey: [unclosed\n---\napiVersion: networking.istio.io/v1\nkind: Sidecar\nmetadata: {name: s}\nspec: {egress: [{hosts: ["./*"]}]}\n');
  writeFileSync(join(dir, 'ignored.txt'), 'not: [yaml');
  const r = await tandem(['validate', '-f', dir]);
  t.equal(r.code, 1);
  const broken = join(dir, 'nested', 'broken.yaml');
  t.match(r.stderr, `${broken}:1: Gateway default/: metadata: Required value`);
  t.match(r.stderr, new RegExp(`${broken.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:2: invalid YAML: `));
  t.notMatch(r.stderr, /ignored\.txt/, 'only YAML and JSON files are read from directories');
  t.equal(r.stdout, '2 of 3 Istio objects invalid\n', 'the Sidecar after the broken document is still validated (and valid)');
});

t.test('usage errors: exit 1 with one line', async (t) => {
  const none = await tandem(['validate']);
  t.equal(none.code, 1);
  t.equal(none.stderr, 'tandem: validate: no input; pass -f FILE (or -f - for stdin)\n');
  const missing = await tandem(['validate', '-f', 'no/such/file.yaml']);
  t.equal(missing.code, 1);
  t.equal(missing.stderr, 'tandem: no/such/file.yaml: cannot read: ENOENT\n');
});
