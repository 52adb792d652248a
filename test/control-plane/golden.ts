import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Test } from 'tap';
import { matchJsonGolden, unusedGoldenFiles } from '../golden.js';

/** The control plane's translation goldens live under test/control-plane/testdata/, one `<name>.json` per case. */
export const TESTDATA = fileURLToPath(new URL('./testdata/', import.meta.url));

export function goldenPath(name: string): string {
  return path.join(TESTDATA, `${name}.json`);
}

/** Compares `actual` with the golden `name` (or rewrites it under UPDATE_GOLDENS=1). */
export function matchGolden(t: Test, name: string, actual: unknown): void {
  matchJsonGolden(t, goldenPath(name), actual);
}

/** Golden files under `dir` (relative to testdata/) that no case in `names` uses. */
export function unusedGoldens(dir: string, names: readonly string[]): string[] {
  return unusedGoldenFiles(TESTDATA, dir, names.map((n) => `${n}.json`));
}
