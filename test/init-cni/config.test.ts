import t, { type Test } from 'tap';
import { UserError } from '../../common/errors.js';
import { main } from '../../init-cni/cli.js';
import { detectIPv6, loadConfig, parseResolvConf, splitList } from '../../init-cni/config.js';
import { parseFlags } from '../../init-cni/flags.js';
import { canonicalIP, isOwnerId, isPortOrRange, parseCidr } from '../../init-cni/net.js';
import { tandemIptables } from './run-cli.js';

const cfg = (argv: string[], env: Record<string, string> = {}) => loadConfig(argv, env, {}).config;

/** Runs `fn` and returns the UserError message it throws (fails the test if it does not). */
function userError(t: Test, fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    t.type(err, UserError);
    return (err as Error).message;
  }
  t.fail('expected a UserError');
  return '';
}

t.test('defaults are Istio base configuration: nothing captured by range or inbound port', async (t) => {
  // The base configuration of test/conformance/istio-iptables/CASES.md, written out.
  t.same(cfg([]), {
    proxyPort: '15001',
    inboundCapturePort: '15006',
    inboundTunnelPort: '15008',
    proxyUids: ['1337'],
    proxyGids: ['1337'],
    mode: 'REDIRECT',
    tproxyMark: '1337',
    tproxyRouteTable: '133',
    inboundPorts: { all: false, ports: [] },
    inboundPortsExclude: [],
    outboundPortsInclude: [],
    outboundPortsExclude: [],
    outboundRangesInclude: { all: false, cidrs: [] },
    outboundRangesExclude: [],
    kubeVirtInterfaces: [],
    excludeInterfaces: [],
    ownerGroups: { except: true, values: [] },
    hostIPv4LoopbackCidr: '127.0.0.1/32',
    redirectDns: false,
    captureAllDns: false,
    dnsServersV4: [],
    dnsServersV6: [],
    dropInvalid: false,
    ipv6: false,
  });
  t.equal(cfg([]).proxyGids[0], '1337');
});

t.test('pflag-style spellings are equivalent; the last occurrence wins', async (t) => {
  for (const argv of [['-p', '16001'], ['-p16001'], ['-p=16001'], ['--envoy-port', '16001'], ['--envoy-port=16001'], ['-p', '1', '-p', '16001']]) {
    t.equal(cfg(argv).proxyPort, '16001', argv.join(' '));
  }
  t.equal(cfg(['--istio-inbound-ports', '80']).inboundPorts.ports[0], '80', 'Istio long name');
  t.equal(cfg(['--inbound-ports-include', '80']).inboundPorts.ports[0], '80', 'alias');
});

t.test('empty values and trailing commas are accepted as Istio accepts them', async (t) => {
  t.same(cfg(['-b', '']).inboundPorts, { all: false, ports: [] });
  t.same(cfg(['-i', '']).outboundRangesInclude, { all: false, cidrs: [] });
  t.same(cfg(['-x', '']).outboundRangesExclude, []);
  t.same(cfg(['-d', '6000,7000,']).inboundPortsExclude, ['6000', '7000']);
  t.same(cfg(['-b', '*']).inboundPorts, { all: true, ports: [] });
  t.same(cfg(['-u', '']).proxyUids, ['1337'], 'empty -u is the default uid');
  t.same(splitList(',a,,b,'), ['a', 'b']);
});

t.test('uid and gid comma lists; gid defaults to the uid list', async (t) => {
  const c = cfg(['-u', '3,4']);
  t.same(c.proxyUids, ['3', '4']);
  t.same(c.proxyGids, ['3', '4']);
  t.same(cfg(['-u', '3,4', '-g', '1,2']).proxyGids, ['1', '2']);
  t.same(cfg(['-u', 'istio-proxy']).proxyUids, ['istio-proxy'], 'names are allowed, as iptables owner accepts them');
});

t.test('environment variables as Istio names them; flags win over them', async (t) => {
  const env = { ENVOY_PORT: '16001', ISTIO_INBOUND_PORTS: '*', ISTIO_META_DNS_CAPTURE: 'true', DNS_SERVERS_V4: '10.0.0.10', INVALID_DROP: '1', ISTIO_OUTBOUND_OWNER_GROUPS_EXCLUDE: 'ftp', ISTIO_INBOUND_INTERCEPTION_MODE: 'tproxy' };
  const c = cfg([], env);
  t.equal(c.proxyPort, '16001');
  t.equal(c.inboundPorts.all, true);
  t.equal(c.redirectDns, true);
  t.same(c.dnsServersV4, ['10.0.0.10']);
  t.equal(c.dropInvalid, true);
  t.same(c.ownerGroups, { except: true, values: ['ftp'] });
  t.equal(c.mode, 'TPROXY');
  t.equal(cfg(['-p', '15001'], env).proxyPort, '15001');
  t.equal(cfg(['--redirect-dns=false'], env).redirectDns, false);
  t.equal(cfg([], { ENVOY_PORT: '' }).proxyPort, '15001', 'an empty variable counts as unset');
});

t.test('validation: one message naming the flag and the value', async (t) => {
  const cases: Array<[string[], RegExp]> = [
    [['-p', '0'], /^-p "0": not a port/],
    [['-z', '65536'], /^-z "65536": not a port/],
    [['--envoy-port', 'abc'], /^--envoy-port "abc"/],
    [['-p', ''], /^-p "": not a port/],
    [['-b', '80,http'], /^-b "80,http": "http" is not a port/],
    [['-d', '70000'], /^-d "70000"/],
    [['-q', '90:80'], /^-q "90:80"/],
    [['-i', '10.0.0.0'], /^-i "10.0.0.0": "10.0.0.0" is not a CIDR/],
    [['-i', '10.0.0.0/33'], /^-i "10.0.0.0\/33"/],
    [['-x', '*'], /^-x "\*": '\*' is not allowed/],
    [['-x', '2001:db8::/129'], /^-x/],
    [['-m', 'NAT'], /^-m "NAT": must be REDIRECT or TPROXY/],
    [['-u', '1,bad uid'], /^-u "1,bad uid"/],
    [['-t', '-1'], /^-t "-1"/],
    [['-r', '0'], /^-r "0"/],
    [['-k', 'way-too-long-interface-name'], /^-k/],
    [['-c', 'eth0/1'], /^-c/],
    [['--dns-servers-v4', '::1'], /^--dns-servers-v4 "::1": "::1" is not an IPv4 address/],
    [['--dns-servers-v6', '10.0.0.1'], /^--dns-servers-v6 "10.0.0.1": "10.0.0.1" is not an IPv6 address/],
    [['--host-ipv4-loopback-cidr', '10.0.0.0/8'], /^--host-ipv4-loopback-cidr "10.0.0.0\/8": must lie within 127.0.0.0\/8/],
    [['--host-ipv4-loopback-cidr', '::1/128'], /not an IPv4 CIDR/],
    [['--owner-groups-include', Array.from({ length: 65 }, (_, i) => String(i)).join(',')], /at most 64 groups/],
    [['--iptables-backend', 'iptables'], /must be auto, nft or legacy/],
    [['--redirect-dns=maybe'], /^--redirect-dns: invalid boolean "maybe"/],
    [['--no-such-flag'], /^unknown flag --no-such-flag/],
    [['-Z'], /^unknown flag -Z/],
    [['-p'], /^flag -p needs a value/],
    [['stray'], /^unexpected argument "stray"/],
    [['--', 'stray'], /^unexpected argument "stray"/],
  ];
  for (const [argv, re] of cases) t.match(userError(t, () => cfg(argv)), re, argv.join(' '));
  t.match(userError(t, () => cfg([], { ENVOY_PORT: 'x' })), /^env ENVOY_PORT "x"/, 'environment values are validated and named too');
});

t.test('CIDRs, addresses and ports', async (t) => {
  t.same(parseCidr('2001:DB8:0:0::/32'), { text: '2001:db8::/32', family: 6, loopback: false }, 'canonical IPv6, as Go prints it');
  t.same(parseCidr('127.1.2.3/32'), { text: '127.1.2.3/32', family: 4, loopback: true });
  t.same(parseCidr('::1/128'), { text: '::1/128', family: 6, loopback: true });
  t.equal(parseCidr('::ffff:10.0.0.1/128')?.text, '::ffff:10.0.0.1/128');
  t.equal(parseCidr('1:2:3:4:5:6:7:8/64')?.text, '1:2:3:4:5:6:7:8/64');
  t.equal(parseCidr('1:0:0:2:0:0:0:3/64')?.text, '1:0:0:2::3/64', 'longest zero run compressed');
  t.equal(parseCidr('010.0.0.0/8'), undefined, 'leading zeros refused, as Go refuses them');
  t.equal(parseCidr('1::2::3/64'), undefined);
  t.equal(parseCidr('1:2:3:4:5:6:7:8:9/64'), undefined);
  t.equal(parseCidr('/8'), undefined);
  t.equal(canonicalIP('::127.0.0.53')?.family, 6);
  t.equal(canonicalIP('fe80::1%eth0'), undefined);
  t.ok(isPortOrRange('1000:2000'));
  t.notOk(isPortOrRange('1:2:3'));
  t.ok(isOwnerId('0'));
  t.notOk(isOwnerId('4294967295'));
});

t.test('owner groups: include list, exclude list, include wins', async (t) => {
  t.same(cfg(['--owner-groups-include', 'java,202']).ownerGroups, { except: false, values: ['java', '202'] });
  t.same(cfg(['--owner-groups-exclude', '888,ftp']).ownerGroups, { except: true, values: ['888', 'ftp'] });
  const both = loadConfig(['--owner-groups-include', 'java', '--owner-groups-exclude', 'ftp'], {}, {});
  t.same(both.config.ownerGroups, { except: false, values: ['java'] });
  t.match(both.warnings.join(), /--owner-groups-exclude is ignored/);
});

t.test('DNS servers from resolv.conf only when not given; IPv6 detected from the pod addresses', async (t) => {
  const resolv = 'search x\nnameserver 10.96.0.10\nnameserver fd00::10\n# nameserver 1.1.1.1\n';
  t.same(parseResolvConf(resolv), { v4: ['10.96.0.10'], v6: ['fd00::10'] });
  const host = { resolvConf: () => resolv, addresses: () => ['127.0.0.1', '::1', 'fe80::1', 'fd00::5', '10.0.0.5'] };
  const c = loadConfig(['--redirect-dns'], {}, host).config;
  t.same([c.dnsServersV4, c.dnsServersV6], [['10.96.0.10'], ['fd00::10']]);
  t.equal(c.ipv6, true, 'first usable address is IPv6');
  const explicit = loadConfig(['--redirect-dns', '--dns-servers-v4', ''], {}, host);
  t.same([explicit.config.dnsServersV4, explicit.config.dnsServersV6], [[], []], 'an explicit empty list skips resolv.conf');
  t.match(explicit.warnings.join(), /DNS is not captured/);
  t.equal(loadConfig(['--ipv6=false'], {}, host).config.ipv6, false);
  t.equal(detectIPv6(['10.0.0.5', 'fd00::5'], false), false, 'IPv4 first: no IPv6 rules (as Istio)');
  t.equal(detectIPv6(['10.0.0.5', 'fd00::5'], true), true, 'dual stack: any IPv6 address');
  t.equal(detectIPv6(['169.254.1.1', 'fe80::2'], true), false);
});

t.test('flag parser details', async (t) => {
  const specs = [{ name: 'flag', short: 'f', kind: 'bool' as const, help: '' }];
  t.equal(parseFlags(['-f'], specs, {}).get('flag')?.value, true);
  t.equal(parseFlags(['-f=false'], specs, {}).get('flag')?.value, false);
  t.equal(parseFlags(['--flag=0'], specs, {}).get('flag')?.value, false);
  t.equal(parseFlags([], specs, {}).has('flag'), false);
});

/** Runs main() with its output captured. */
async function runMain(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await main(argv, { out: (s) => void (out += s), err: (s) => void (err += s) });
  return { code, out, err };
}

t.test('main(): dry-run prints IPv4 then IPv6, help, exit codes', async (t) => {
  const dry = await runMain(['--dry-run', '-b', '*', '--ipv6', '--redirect-dns', '--dns-servers-v4', '', '--dns-servers-v6', '']);
  t.equal(dry.code, 0);
  t.match(dry.out, /^# iptables-restore input \(IPv4\)\n\* nat\n[^]*COMMIT\n# ip6tables-restore input \(IPv6\)\n\* nat\n[^]*-s ::6\/128[^]*COMMIT\n$/);
  t.match(dry.err, /warning: DNS capture is on but no DNS servers/);
  const help = await runMain(['--help']);
  t.equal(help.code, 0);
  t.match(help.out, /-b, --istio-inbound-ports VALUE/);
  const bad = await runMain(['-p', 'x']);
  t.equal(bad.code, 1);
  t.equal(bad.err, 'tandem: -p "x": not a port (1-65535)\n');
});

t.test('compiled CLI: exit 1 with one line on stderr, nothing on stdout', async (t) => {
  const r = tandemIptables(['--dry-run', '-i', '10.0.0.0/8,nope']);
  t.equal(r.status, 1);
  t.equal(r.stdout, '');
  t.equal(r.stderr, 'tandem: -i "10.0.0.0/8,nope": "nope" is not a CIDR (address/length)\n');
});

t.test("Istio's own init-container extras are accepted with a warning; --skip-rule-apply applies nothing", async (t) => {
  const l = loadConfig(['-p', '15001', '--log_output_level=default:info', '--run-validation', '--reconcile'], {}, {});
  t.equal(l.config.proxyPort, '15001');
  t.equal(l.warnings.length, 3);
  t.match(l.warnings[0], /--log_output_level has no effect/);
  const skip = await runMain(['--skip-rule-apply', '-b', '*']);
  t.same(skip, { code: 0, out: '', err: '' });
  t.equal((await runMain(['--skip-rule-apply', '-b', 'x'])).code, 1, 'but still validates');
});

