import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { loadInjector } from '../../inject/injector.js';
import type { Pod } from '../../inject/types.js';
import { admitterFor, checkAdmission } from './admission-check.js';
import { checkFileStore } from './config-check.js';

/**
 * Replays the shrunk counter-examples the property tests found (fixtures/*.json, each with what
 * it showed), through the same checks, so that a fixed defect stays fixed whatever seed the
 * random runs use next.
 */

interface Fixtures<C> {
  cases: Array<{ found: string; what: string } & C>;
}

const read = <C>(name: string): Fixtures<C> => JSON.parse(readFileSync(new URL(`./fixtures/${name}`, import.meta.url), 'utf8')) as Fixtures<C>;

t.test('config-store counter-examples', async (t) => {
  const { cases } = read<{ documents: unknown[] }>('config-store.json');
  t.ok(cases.length > 0, 'the fixtures are there');
  const dir = mkdtempSync(join(tmpdir(), 'tandem-prop-fixtures-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  for (const [i, c] of cases.entries()) t.same(await checkFileStore(c.documents, join(dir, String(i))), [], c.what);
});

t.test('admission counter-examples', async (t) => {
  const { cases } = read<{ namespace: string; pod: Pod; decision: string }>('admission.json');
  t.ok(cases.length > 0, 'the fixtures are there');
  const admitter = admitterFor(await loadInjector());
  for (const c of cases) {
    const r = checkAdmission(admitter, { pod: c.pod, namespace: c.namespace });
    t.same(r.problems, [], c.what);
    t.equal(r.decision, c.decision, `decided ${c.decision}`);
  }
});
