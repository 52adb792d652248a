// Reads tap's TAP output and prints the run's totals as one plain line,
// counting test points (assertions and subtests that are not themselves files).
import { readFileSync } from 'node:fs';

const text = readFileSync(process.argv[2] ?? 0, 'utf8');
let passed = 0, failed = 0, skipped = 0;
for (const line of text.split('\n')) {
  const m = /^\s*(not ok|ok) \d+/.exec(line);
  if (!m) continue;
  // Only leaf points: a subtest's summary line is followed by its own child lines,
  // but counting leaves is simplest by ignoring lines that close a subtest block ("# time=").
  if (/# time=/.test(line)) continue;
  if (/#\s*(SKIP|TODO)/i.test(line)) { skipped++; continue; }
  if (m[1] === 'ok') passed++; else failed++;
}
console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
