import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import type { Test } from 'tap';

/**
 * Golden files, as Istio's inject tests keep them: one file per case under a testdata/ folder,
 * compared as text; `UPDATE_GOLDENS=1` rewrites them (then review the diff by hand before
 * committing). A missing golden fails rather than being created silently.
 */
export const UPDATE_GOLDENS = process.env['UPDATE_GOLDENS'] === '1';

/** Canonical text of a JSON value: two-space indentation, a final newline (diffs stay readable). */
export function goldenJson(value: unknown): string {
  return JSON.stringify(value, null, 2) + '\n';
}

/** Compares `actual` with `dir/file`, or writes it there under UPDATE_GOLDENS=1. */
export function matchGolden(t: Test, dir: string, file: string, actual: string): void {
  const path = join(dir, file);
  if (UPDATE_GOLDENS) {
    mkdirSync(dir, { recursive: true });
    writeFileSync(path, actual);
    t.pass(`${file} rewritten (UPDATE_GOLDENS=1): review the diff`);
    return;
  }
  if (!existsSync(path)) {
    t.fail(`${path} is missing: run with UPDATE_GOLDENS=1 and review it by hand`);
    return;
  }
  t.equal(actual, readFileSync(path, 'utf8'), `${file} matches its golden`);
}

/** Every golden in `dir` (files ending in `suffix`) belongs to a case: a stale one fails. */
export function checkNoUnusedGoldens(t: Test, dir: string, suffix: string, used: Iterable<string>): void {
  const usedSet = new Set(used);
  const present = existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith(suffix)) : [];
  const unused = present.filter((f) => !usedSet.has(f));
  t.same(unused, [], `every golden in ${dir} is used by a case`);
}

/**
 * Compares the JSON value `actual` with the golden file `path` as data (key order and formatting do
 * not matter), or writes it there under UPDATE_GOLDENS=1. A missing or unreadable golden fails.
 */
export function matchJsonGolden(t: Test, path: string, actual: unknown): void {
  if (UPDATE_GOLDENS) {
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, goldenJson(actual));
    t.pass(`${path} rewritten (UPDATE_GOLDENS=1): review the diff`);
    return;
  }
  let expected: unknown;
  try {
    expected = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    t.fail(`golden ${path} unreadable (${(err as Error).message}); create it with UPDATE_GOLDENS=1 and review it`);
    return;
  }
  t.same(actual, expected, `matches ${relative(process.cwd(), path)}`);
}

/** Files under `dir` (recursively, as paths relative to `root`) that are not in `used`. */
export function unusedGoldenFiles(root: string, dir: string, used: Iterable<string>): string[] {
  const usedSet = new Set([...used].map((u) => normalize(u)));
  return readdirSync(join(root, dir), { recursive: true, withFileTypes: true })
    .filter((d) => d.isFile())
    .map((d) => normalize(relative(root, join(d.parentPath, d.name))))
    .filter((f) => !usedSet.has(f))
    .sort();
}
