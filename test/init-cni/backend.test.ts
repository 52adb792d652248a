import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import t from 'tap';
import { chooseBackend, type FamilyProbe } from '../../init-cni/backend.js';
import { repo } from './run-cli.js';

/**
 * The iptables backend choice, as Istio's istio-iptables makes it (tools/istio-iptables
 * DetectIptablesVersion): per IP family, legacy when it holds any rule, else nft, else the plain
 * binaries. The decision table is pure; the real check runs the compiled detection inside a fresh
 * network namespace whose IPv4 rules live in nft and whose IPv6 rules live in legacy (needs root,
 * `ip`, iptables-legacy/-nft and ip6tables-legacy/-nft: fails without them, never skips).
 */

const probe = (legacyRules: number | undefined, nft: boolean, system = true): FamilyProbe => ({ legacyRules, nft, system });

t.test('the decision for one family', async (t) => {
  t.equal(chooseBackend(probe(1, true)), 'legacy', 'legacy holds a rule: legacy, however many nft holds');
  t.equal(chooseBackend(probe(0, true)), 'nft', 'legacy empty: nft, not the system default');
  t.equal(chooseBackend(probe(undefined, true)), 'nft', 'legacy absent or its save failed: nft');
  t.equal(chooseBackend(probe(0, false)), 'system', 'legacy empty, no nft: the unsuffixed binaries');
  t.equal(chooseBackend(probe(0, false, false)), 'legacy', 'legacy is all there is');
  t.equal(chooseBackend(probe(undefined, false, false)), undefined, 'nothing installed');
});

t.test('each IP family is decided on its own, in a real network namespace', async (t) => {
  for (const bin of ['iptables-legacy', 'iptables-nft', 'ip6tables-legacy', 'ip6tables-nft']) {
    t.ok(spawnSync('which', [bin]).status === 0, `${bin} is installed`);
  }
  t.ok(existsSync(`${repo}dist/init-cni/backend.js`), 'dist/ is built (npm test runs tsc first)');
  const ns = `tandem-backend-${process.pid}`;
  execFileSync('ip', ['netns', 'add', ns]);
  t.teardown(() => void spawnSync('ip', ['netns', 'del', ns]));
  const inNs = (...cmd: string[]): string => execFileSync('ip', ['netns', 'exec', ns, ...cmd], { encoding: 'utf8' });
  // IPv4 programmed through nft, IPv6 through legacy: a node whose families disagree.
  inNs('iptables-nft', '-t', 'filter', '-A', 'INPUT', '-s', '192.0.2.1', '-j', 'ACCEPT');
  inNs('ip6tables-legacy', '-t', 'filter', '-A', 'INPUT', '-s', '2001:db8::1', '-j', 'ACCEPT');
  // And more nft rules than legacy ones in IPv6, which a comparison of counts would follow.
  inNs('ip6tables-nft', '-t', 'filter', '-A', 'INPUT', '-s', '2001:db8::2', '-j', 'ACCEPT');
  inNs('ip6tables-nft', '-t', 'filter', '-A', 'INPUT', '-s', '2001:db8::3', '-j', 'ACCEPT');
  const script = `const { detectBackend } = await import(${JSON.stringify(`${repo}dist/init-cni/backend.js`)});
const d = await detectBackend('auto');
process.stdout.write(JSON.stringify({ v4: d.iptables.backend(4), v6: d.iptables.backend(6), v4Save: d.v4Save?.includes('192.0.2.1') ?? false }));`;
  const out = JSON.parse(inNs(process.execPath, '--input-type=module', '-e', script)) as { v4: string; v6: string; v4Save: boolean };
  t.equal(out.v4, 'nft', 'IPv4: legacy holds nothing, so nft');
  t.equal(out.v6, 'legacy', 'IPv6: legacy holds a rule, so legacy (not the IPv4 answer, not the larger count)');
  t.ok(out.v4Save, "IPv4's save text read during detection is the chosen backend's, kept for apply");
});
