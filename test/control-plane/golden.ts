import { readdirSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Test } from 'tap';

/**
 * Golden files under test/control-plane/testdata/ (Istio's inject tests are the
 * model): each case names its file; `UPDATE_GOLDENS=1` rewrites the files from the
 * code's output instead of comparing, and the diff is then reviewed by hand before
 * it is committed. `unusedGoldens` lists files no case names, so a stale golden
 * fails the suite instead of lingering.
 */
export const TESTDATA = fileURLToPath(new URL('./testdata/', import.meta.url));

export const UPDATING = process.env['UPDATE_GOLDENS'] === '1';

export function goldenPath(name: string): string {
  return path.join(TESTDATA, `${name}.json`);
}

/** Compares `actual` with the golden `name` (or rewrites it under UPDATE_GOLDENS=1). */
export function matchGolden(t: Test, name: string, actual: unknown): void {
  const file = goldenPath(name);
  const text = JSON.stringify(actual, null, 2) + '\n';
  if (UPDATING) {
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, text);
    t.pass(`${name}: golden rewritten (review the diff)`);
    return;
  }
  let expected: unknown;
  try {
    expected = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    t.fail(`${name}: golden ${file} unreadable (${(err as Error).message}); create it with UPDATE_GOLDENS=1 and review it`);
    return;
  }
  t.same(actual, expected, `${name} matches ${path.relative(process.cwd(), file)}`);
}

/** Golden files under `dir` (relative to testdata/) that no case in `names` uses. */
export function unusedGoldens(dir: string, names: readonly string[]): string[] {
  const used = new Set(names.map((n) => path.normalize(`${n}.json`)));
  const root = path.join(TESTDATA, dir);
  const files = readdirSync(root, { recursive: true, withFileTypes: true })
    .filter((d) => d.isFile())
    .map((d) => path.normalize(path.relative(TESTDATA, path.join(d.parentPath, d.name))));
  return files.filter((f) => !used.has(f)).sort();
}
