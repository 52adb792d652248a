#!/usr/bin/env node
// Cold start of `tandem iptables --dry-run` with the webhook's default flags, against two baselines
// measured in the same run, interleaved: a bare `node -e 0`, and a bare `iptables-restore --test`
// of the same rules (what the init container would cost with no Node at all).
// Usage: npm run build && node bench/iptables.mjs [repetitions=30]   (iptables-restore needs root)
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const repo = fileURLToPath(new URL('../', import.meta.url));
const reps = Number(process.argv[2] ?? 30);
const flags = ['-p', '15001', '-z', '15006', '-u', '1337', '-m', 'REDIRECT', '-i', '*', '-x', '', '-b', '*', '-d', '15090,15021,15020', '--ipv6=false'];

const dry = spawnSync(process.execPath, ['bin/tandem', 'iptables', '--dry-run', ...flags], { cwd: repo, encoding: 'utf8' });
if (dry.status !== 0) {
  console.error(`tandem iptables --dry-run failed (did you run npm run build?): ${dry.stderr}`);
  process.exit(1);
}
const rules = dry.stdout;
const check = spawnSync('iptables-restore', ['--test', '--noflush'], { input: rules, encoding: 'utf8' });
const haveRestore = check.status === 0;
if (!haveRestore) console.error(`iptables-restore --test unavailable (${(check.stderr || check.error?.message || '').trim()}); that baseline is skipped`);

const subjects = {
  'node -e 0': () => spawnSync(process.execPath, ['-e', '0'], { cwd: repo }),
  'tandem iptables --dry-run': () => spawnSync(process.execPath, ['bin/tandem', 'iptables', '--dry-run', ...flags], { cwd: repo }),
  ...(haveRestore ? { 'iptables-restore --test': () => spawnSync('iptables-restore', ['--test', '--noflush'], { input: rules }) } : {}),
};

const times = Object.fromEntries(Object.keys(subjects).map((k) => [k, []]));
for (const fn of Object.values(subjects)) fn(); // warm the page cache once
for (let i = 0; i < reps; i++) {
  for (const [name, fn] of Object.entries(subjects)) {
    const t0 = process.hrtime.bigint();
    const r = fn();
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    if (r.status !== 0) throw new Error(`${name} exited ${r.status}`);
    times[name].push(ms);
  }
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const base = median(times['node -e 0']);
console.log(`repetitions: ${reps} (interleaved), node ${process.version}`);
for (const [name, xs] of Object.entries(times)) {
  const m = median(xs);
  console.log(`${name.padEnd(28)} median ${m.toFixed(1).padStart(7)} ms   ${(m / base).toFixed(2)}x node -e 0`);
}
const t = median(times['tandem iptables --dry-run']);
console.log(`tandem dry-run / node -e 0: ${(t / base).toFixed(2)}x (target <= 1.30x)`);
if (haveRestore) console.log(`tandem dry-run / iptables-restore --test: ${(t / median(times['iptables-restore --test'])).toFixed(2)}x`);
