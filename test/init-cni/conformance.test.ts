import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { loadConfig } from '../../init-cni/config.js';
import { renderRestore } from '../../init-cni/restore.js';
import { generateRules } from '../../init-cni/rules.js';
import { repo, tandemIptables } from './run-cli.js';
import { conformancePath } from '../conformance.js';

/**
 * Istio's golden capture outputs (test/conformance/istio-iptables, vendored, read-only) against tandem's
 * generator, for every case of CASES.md, with the flags that reproduce the case's configuration.
 * A few cases also go through the compiled CLI (`node bin/tandem iptables --dry-run …`).
 */

const goldenDir = conformancePath('istio-iptables') + '/';

// Flags per case, from CASES.md. Where Istio reads a value from the pod (IPv6 from its addresses,
// DNS servers from resolv.conf) tandem takes an explicit flag: --ipv6, --dns-servers-v4/-v6.
const CASES: Record<string, string[]> = {
  empty: [],
  'ipv6-empty-inbound-ports': ['-b', '', '--ipv6'],
  'ip-range': ['-x', '1.1.0.0/16', '-i', '9.9.0.0/16', '--redirect-dns', '--dns-servers-v4', '127.0.0.53', '-g', '1,2', '-u', '3,4'],
  tproxy: ['-m', 'TPROXY', '-b', '*', '-x', '1.1.0.0/16', '-i', '9.9.0.0/16', '--redirect-dns', '--dns-servers-v4', '127.0.0.53', '-g', '1337', '-u', '1337', '-c', 'not-istio-nic', '--ipv6'],
  'ipv6-inbound-ports': ['-b', '4000,5000', '--ipv6'],
  'ipv6-virt-interfaces': ['-b', '4000,5000', '-k', 'eth0,eth1', '--ipv6'],
  'ipv6-ipnets': ['-b', '4000,5000', '-d', '6000,7000,', '-k', 'eth0,eth1', '-x', '2001:db8::/32', '-i', '2001:db8::/32', '--ipv6'],
  'ipv6-uid-gid': ['-b', '4000,5000', '-d', '6000,7000', '-k', 'eth0,eth1', '-g', '1,2', '-u', '3,4', '-x', '2001:db8::/32', '-i', '2001:db8::/32', '--ipv6'],
  'ipv6-outbound-ports': ['-b', '', '-q', '32000,31000', '--ipv6'],
  'kube-virt-interfaces': ['-k', 'eth1,eth2', '-i', '*'],
  ipnets: ['-i', '10.0.0.0/8'],
  'ipnets-with-kube-virt-interfaces': ['-k', 'eth1,eth2', '-i', '10.0.0.0/8'],
  'inbound-ports-include': ['-b', '32000,31000'],
  'inbound-ports-wildcard': ['-b', '*'],
  'inbound-ports-tproxy': ['-b', '32000,31000', '-m', 'TPROXY'],
  'inbound-ports-wildcard-tproxy': ['-b', '*', '-m', 'TPROXY'],
  'dns-uid-gid': ['--redirect-dns', '--dns-servers-v4', '127.0.0.53', '--dns-servers-v6', '::127.0.0.53', '-g', '1,2', '-u', '3,4', '--ipv6'],
  'ipv6-dns-uid-gid': ['--ipv6', '--redirect-dns', '-g', '1,2', '-u', '3,4'],
  'outbound-owner-groups': ['--owner-groups-include', 'java,202'],
  'outbound-owner-groups-exclude': ['--owner-groups-exclude', '888,ftp'],
  'ipv6-dns-outbound-owner-groups': ['--ipv6', '--redirect-dns', '--owner-groups-include', 'java,202'],
  'ipv6-dns-outbound-owner-groups-exclude': ['--ipv6', '--redirect-dns', '--owner-groups-exclude', '888,ftp'],
  'outbound-ports-include': ['-q', '32000,31000'],
  'loopback-outbound-iprange': ['-i', '127.1.2.3/32', '--redirect-dns', '--dns-servers-v4', '127.0.0.53', '-g', '1,2', '-u', '3,4'],
  'basic-exclude-nic': ['-c', 'not-istio-nic'],
  'drop-invalid': ['--drop-invalid'],
  'host-ipv4-loopback-cidr': ['--host-ipv4-loopback-cidr', '127.0.0.1/8'],
};

/** The comparable lines of restore text: whitespace collapsed, comments and bare save commands dropped. */
function restoreLines(text: string): string[] {
  return text
    .split('\n')
    .map((l) => l.trim().replace(/\s+/g, ' '))
    .filter((l) => l !== '' && !l.startsWith('#') && l !== 'iptables-save' && l !== 'ip6tables-save');
}

function golden(name: string): string[] {
  return restoreLines(readFileSync(`${goldenDir}${name}.golden`, 'utf8'));
}

function generated(argv: string[]): string[] {
  // No host facts: no resolv.conf and no pod addresses, exactly the case's configuration.
  const { config } = loadConfig(argv, {}, {});
  const rules = generateRules(config);
  return restoreLines(renderRestore(rules.v4) + (config.ipv6 ? renderRestore(rules.v6) : ''));
}

t.test('the case table covers every golden file and every case of CASES.md', async (t) => {
  const files = readdirSync(goldenDir).filter((f) => f.endsWith('.golden')).map((f) => f.slice(0, -'.golden'.length)).sort();
  t.same(Object.keys(CASES).sort(), files);
  const listed = [...readFileSync(`${goldenDir}CASES.md`, 'utf8').matchAll(/^\| ([a-z0-9-]+) \| /gm)].map((m) => m[1]).filter((n) => n !== 'file' && n !== 'field');
  t.ok(listed.length >= 27, `CASES.md lists ${listed.length} cases`);
  for (const n of listed) t.ok(n && n in CASES, `case ${n} has flags`);
});

for (const [name, argv] of Object.entries(CASES)) {
  t.test(`golden ${name}`, async (t) => {
    const want = golden(name);
    t.ok(want.length > 5, 'golden has restore lines');
    t.same(generated(argv), want);
  });
}

t.test('the golden comparison can fail: a changed configuration does not match', async (t) => {
  t.notSame(generated(['-b', '*']), golden('empty'));
  t.notSame(generated(['--ipv6']), golden('empty'), 'IPv6 blocks are compared too');
  t.notSame(generated(['-u', '1338']), golden('empty'));
});

t.test('through the compiled CLI: node bin/tandem iptables --dry-run', async (t) => {
  t.ok(existsSync(`${repo}dist/init-cni/cli.js`), 'dist/ is built (npm test runs tsc first)');
  // Explicit --ipv6=false / empty DNS lists so the host's addresses and resolv.conf play no part.
  const viaCli: Record<string, string[]> = {
    empty: ['--ipv6=false'],
    tproxy: CASES.tproxy ?? [],
    'dns-uid-gid': CASES['dns-uid-gid'] ?? [],
    'ipv6-ipnets': CASES['ipv6-ipnets'] ?? [],
    'ipv6-dns-uid-gid': [...(CASES['ipv6-dns-uid-gid'] ?? []), '--dns-servers-v4', '', '--dns-servers-v6', ''],
    'ipnets-with-kube-virt-interfaces': [...(CASES['ipnets-with-kube-virt-interfaces'] ?? []), '--ipv6=false'],
    'outbound-owner-groups': [...(CASES['outbound-owner-groups'] ?? []), '--ipv6=false'],
  };
  for (const [name, argv] of Object.entries(viaCli)) {
    const r = tandemIptables(['--dry-run', ...argv]);
    t.equal(r.status, 0, `${name}: exit 0 (${r.stderr.trim()})`);
    t.same(restoreLines(r.stdout), golden(name), `${name}: CLI output matches the golden`);
    t.match(r.stdout, /^# iptables-restore input \(IPv4\)\n\* /, `${name}: IPv4 first`);
  }
});

t.test('the same case configured through environment variables, as Istio reads them', async (t) => {
  const r = tandemIptables(['--dry-run'], {
    ISTIO_INBOUND_PORTS: '4000,5000',
    ISTIO_LOCAL_EXCLUDE_PORTS: '6000,7000,',
    KUBE_VIRT_INTERFACES: 'eth0,eth1',
    ISTIO_SERVICE_EXCLUDE_CIDR: '2001:db8::/32',
    ISTIO_SERVICE_CIDR: '2001:db8::/32',
    ENABLE_INBOUND_IPV6: 'true',
  });
  t.equal(r.status, 0, r.stderr);
  t.same(restoreLines(r.stdout), golden('ipv6-ipnets'));
});
