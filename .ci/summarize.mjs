// Reads tap's TAP output and prints the run's totals as one plain line.
// Prefers tap's own closing count (`# { total: N, pass: N, fail: N, ... }`);
// falls back to counting leaf test points when the run died before printing it.
import { readFileSync } from 'node:fs';

const text = readFileSync(process.argv[2] ?? 0, 'utf8');
const totals = [...text.matchAll(/^# \{ total: (\d+)([^}]*)\}$/gm)].at(-1);
let passed = 0, failed = 0, skipped = 0;
if (totals) {
  const field = (name) => Number(new RegExp(`${name}: (\\d+)`).exec(totals[2])?.[1] ?? 0);
  passed = field('pass');
  failed = field('fail');
  skipped = field('skip') + field('todo');
  const total = Number(totals[1]);
  if (passed + failed + skipped < total) failed += total - passed - failed - skipped;
} else {
  for (const line of text.split('\n')) {
    const m = /^\s*(not ok|ok) \d+/.exec(line);
    if (!m || /# time=/.test(line)) continue; // subtest closing lines carry their duration
    if (/#\s*(SKIP|TODO)/i.test(line)) skipped++;
    else if (m[1] === 'ok') passed++;
    else failed++;
  }
  if (passed + failed === 0) failed = 1; // nothing ran: never report green
}
console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
