import fc from 'fast-check';
import t from 'tap';
import { loadInjector } from '../../inject/injector.js';
import { admitterFor, checkAdmission } from './admission-check.js';
import { podCase, runs } from './pods.js';

/**
 * Property test of the whole admission path (webhook/answer.ts → admission.ts → inject/), the
 * function the HTTPS route calls, over random valid pods: see admission-check.ts for the
 * properties. Shrunk counter-examples found here are kept in fixtures/admission.json and
 * replayed by admission-fixtures.test.ts. FC_RUNS=N raises the run count (bench/, soak runs).
 */

t.test('random valid pods: the admission path holds its properties', async (t) => {
  const admitter = admitterFor(await loadInjector());
  const tally: Record<string, number> = {};
  fc.assert(
    fc.property(podCase, (c) => {
      const { problems, decision } = checkAdmission(admitter, c);
      tally[decision] = (tally[decision] ?? 0) + 1;
      if (problems.length > 0) throw new Error(problems.join('\n'));
    }),
    { numRuns: runs(300), seed: Number(process.env['FC_SEED'] ?? 20261203) },
  );
  t.comment(`decisions: ${JSON.stringify(tally)}`);
  // The generator reaches every outcome, or the properties test less than they claim.
  for (const d of ['inject', 'skip', 'deny']) t.ok((tally[d] ?? 0) > 0, `some pods were decided ${d}`);
  t.ok((tally['inject'] ?? 0) > 20, `enough pods were injected (${tally['inject'] ?? 0})`);
});
