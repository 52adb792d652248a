#!/usr/bin/env node
// Cold start of `tandem iptables --dry-run` with the webhook's default flags, against two baselines
// measured in the same run, interleaved: a bare `node -e 0`, and a bare `iptables-restore --test`
// of the same rules (what the init container would cost with no Node at all).
// Usage: npm run build && node bench/iptables.mjs [repetitions=30]   (iptables-restore needs root)
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { median, printAgainst, timeInterleaved } from './stats.mjs';

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

const times = timeInterleaved(subjects, reps);
const base = printAgainst(times, 'node -e 0', reps, 28);
const t = median(times['tandem iptables --dry-run']);
console.log(`tandem dry-run / node -e 0: ${(t / base).toFixed(2)}x (target <= 1.30x)`);
if (haveRestore) console.log(`tandem dry-run / iptables-restore --test: ${(t / median(times['iptables-restore --test'])).toFixed(2)}x`);
