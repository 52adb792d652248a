import { UserError } from '../common/errors.js';
import { type FlagSpec, type FlagValue, type ParsedFlags, parseFlags } from './flags.js';
import {
  type Cidr,
  canonicalIP,
  isInterfaceName,
  isOwnerId,
  isPort,
  isPortOrRange,
  isUint32,
  parseCidr,
  parseIPv4,
} from './net.js';

export type InterceptionMode = 'REDIRECT' | 'TPROXY';
export type Backend = 'auto' | 'nft' | 'legacy';

/** Everything the rule generator needs, validated. Ports and ids stay strings: they go into argv. */
export interface CaptureConfig {
  readonly proxyPort: string;
  readonly inboundCapturePort: string;
  readonly inboundTunnelPort: string;
  readonly proxyUids: readonly string[];
  readonly proxyGids: readonly string[];
  readonly mode: InterceptionMode;
  readonly tproxyMark: string;
  readonly tproxyRouteTable: string;
  /** `all` is Istio's `*`; an empty `ports` with `all` false means no inbound capture. */
  readonly inboundPorts: { readonly all: boolean; readonly ports: readonly string[] };
  readonly inboundPortsExclude: readonly string[];
  readonly outboundPortsInclude: readonly string[];
  readonly outboundPortsExclude: readonly string[];
  readonly outboundRangesInclude: { readonly all: boolean; readonly cidrs: readonly Cidr[] };
  readonly outboundRangesExclude: readonly Cidr[];
  readonly kubeVirtInterfaces: readonly string[];
  readonly excludeInterfaces: readonly string[];
  /** Istio's owner-group filter: capture only `values`, or everything except `values`. */
  readonly ownerGroups: { readonly except: boolean; readonly values: readonly string[] };
  readonly hostIPv4LoopbackCidr: string;
  readonly redirectDns: boolean;
  readonly captureAllDns: boolean;
  readonly dnsServersV4: readonly string[];
  readonly dnsServersV6: readonly string[];
  readonly dropInvalid: boolean;
  readonly ipv6: boolean;
}

export interface RunOptions {
  readonly dryRun: boolean;
  /** Istio's --skip-rule-apply: validate, then do nothing. */
  readonly skipApply: boolean;
  readonly cleanup: boolean;
  readonly backend: Backend;
  readonly help: boolean;
}

/** Istio's base configuration (its tool default): nothing captured unless -b / -i say so. */
export const DEFAULT_CONFIG: CaptureConfig = {
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
};

// Istio flags accepted so that its own init-container command lines run unchanged; no effect here.
const IGNORED_STRING = ['log_output_level', 'probe-timeout', 'iptables-probe-port'] as const;
const IGNORED_BOOL = ['reconcile', 'force-apply', 'run-validation', 'restore-format', 'iptables-trace-logging', 'cni-mode'] as const;
const IGNORED_FLAGS: readonly string[] = [...IGNORED_STRING, ...IGNORED_BOOL];
const ignored = (names: readonly string[], kind: 'string' | 'bool'): FlagSpec[] =>
  names.map((name) => ({ name, kind, help: 'accepted for istio-iptables compatibility, no effect' }));

// Long names and environment variables are Istio's (viper binds each flag to its upper-cased,
// underscored name); the ones Istio only takes from the environment or the pod get a flag here.
export const FLAGS: readonly FlagSpec[] = [
  { name: 'envoy-port', short: 'p', env: ['ENVOY_PORT'], kind: 'string', help: 'outbound capture port (15001)' },
  { name: 'inbound-capture-port', short: 'z', env: ['INBOUND_CAPTURE_PORT'], kind: 'string', help: 'inbound capture port (15006)' },
  { name: 'inbound-tunnel-port', short: 'e', env: ['INBOUND_TUNNEL_PORT'], kind: 'string', help: 'inbound tunnel port, never captured (15008)' },
  { name: 'proxy-uid', short: 'u', env: ['PROXY_UID'], kind: 'string', help: 'uid(s) of the proxy, never captured (1337)' },
  { name: 'proxy-gid', short: 'g', env: ['PROXY_GID'], kind: 'string', help: 'gid(s) of the proxy (defaults to the uid)' },
  { name: 'istio-inbound-interception-mode', short: 'm', aliases: ['inbound-interception-mode'], env: ['ISTIO_INBOUND_INTERCEPTION_MODE', 'INBOUND_INTERCEPTION_MODE'], kind: 'string', help: 'REDIRECT or TPROXY' },
  { name: 'istio-inbound-tproxy-mark', short: 't', aliases: ['inbound-tproxy-mark'], env: ['ISTIO_INBOUND_TPROXY_MARK', 'INBOUND_TPROXY_MARK'], kind: 'string', help: 'TPROXY packet mark (1337)' },
  { name: 'istio-inbound-tproxy-route-table', short: 'r', aliases: ['inbound-tproxy-route-table'], env: ['ISTIO_INBOUND_TPROXY_ROUTE_TABLE'], kind: 'string', help: 'TPROXY route table (133)' },
  { name: 'istio-inbound-ports', short: 'b', aliases: ['inbound-ports-include'], env: ['ISTIO_INBOUND_PORTS'], kind: 'string', help: "inbound ports to capture, '*' for all, empty for none" },
  { name: 'istio-local-exclude-ports', short: 'd', aliases: ['inbound-ports-exclude'], env: ['ISTIO_LOCAL_EXCLUDE_PORTS'], kind: 'string', help: "inbound ports not captured (with -b '*')" },
  { name: 'istio-exclude-interfaces', short: 'c', aliases: ['exclude-interfaces'], env: ['ISTIO_EXCLUDE_INTERFACES'], kind: 'string', help: 'interfaces never captured' },
  { name: 'istio-service-cidr', short: 'i', aliases: ['outbound-ip-ranges-include'], env: ['ISTIO_SERVICE_CIDR'], kind: 'string', help: "outbound CIDRs to capture, '*' for all" },
  { name: 'istio-service-exclude-cidr', short: 'x', aliases: ['outbound-ip-ranges-exclude'], env: ['ISTIO_SERVICE_EXCLUDE_CIDR'], kind: 'string', help: 'outbound CIDRs not captured' },
  { name: 'istio-outbound-ports', short: 'q', aliases: ['outbound-ports-include'], env: ['ISTIO_OUTBOUND_PORTS'], kind: 'string', help: 'outbound ports always captured' },
  { name: 'istio-local-outbound-ports-exclude', short: 'o', aliases: ['outbound-ports-exclude'], env: ['ISTIO_LOCAL_OUTBOUND_PORTS_EXCLUDE'], kind: 'string', help: 'outbound ports never captured' },
  { name: 'kube-virt-interfaces', short: 'k', env: ['KUBE_VIRT_INTERFACES'], kind: 'string', help: 'interfaces whose inbound traffic is treated as outbound' },
  { name: 'owner-groups-include', env: ['ISTIO_OUTBOUND_OWNER_GROUPS'], kind: 'string', help: "groups whose outbound traffic is captured ('*')" },
  { name: 'owner-groups-exclude', env: ['ISTIO_OUTBOUND_OWNER_GROUPS_EXCLUDE'], kind: 'string', help: "groups whose outbound traffic is not captured (with '*')" },
  { name: 'host-ipv4-loopback-cidr', env: ['ISTIO_OUTBOUND_IPV4_LOOPBACK_CIDR'], kind: 'string', help: 'IPv4 loopback range of the app (127.0.0.1/32)' },
  { name: 'redirect-dns', env: ['REDIRECT_DNS', 'ISTIO_META_DNS_CAPTURE'], kind: 'bool', help: 'capture DNS (port 53) to 15053' },
  { name: 'capture-all-dns', env: ['CAPTURE_ALL_DNS'], kind: 'bool', help: 'capture DNS to any server, not only the configured ones' },
  { name: 'dns-servers-v4', env: ['DNS_SERVERS_V4'], kind: 'string', help: 'IPv4 DNS servers to capture (default: /etc/resolv.conf)' },
  { name: 'dns-servers-v6', env: ['DNS_SERVERS_V6'], kind: 'string', help: 'IPv6 DNS servers to capture (default: /etc/resolv.conf)' },
  { name: 'drop-invalid', env: ['DROP_INVALID', 'INVALID_DROP'], kind: 'bool', help: 'drop conntrack-INVALID packets instead of resetting' },
  { name: 'ipv6', env: ['ENABLE_INBOUND_IPV6'], kind: 'bool', help: 'also write ip6tables rules (default: detected from the pod addresses)' },
  { name: 'dual-stack', env: ['DUAL_STACK', 'ISTIO_AGENT_DUAL_STACK'], kind: 'bool', help: 'detect IPv6 from any pod address, not only the first' },
  { name: 'dry-run', short: 'n', env: ['DRY_RUN'], kind: 'bool', help: 'print the iptables-restore input and touch nothing' },
  { name: 'cleanup', aliases: ['cleanup-only'], env: ['CLEANUP_ONLY'], kind: 'bool', help: 'remove the capture chains and the jumps to them' },
  { name: 'iptables-backend', env: ['TANDEM_IPTABLES_BACKEND'], kind: 'string', help: 'auto, nft or legacy (auto)' },
  { name: 'skip-rule-apply', env: ['SKIP_RULE_APPLY'], kind: 'bool', help: 'validate the flags and apply nothing' },
  { name: 'help', short: 'h', kind: 'bool', help: 'show this help' },
  ...ignored(IGNORED_STRING, 'string'),
  ...ignored(IGNORED_BOOL, 'bool'),
];

/** What the configuration depends on besides flags and environment; the CLI reads them, tests pass them. */
export interface HostFacts {
  /** Nameservers from /etc/resolv.conf, read only when DNS capture needs them. */
  readonly resolvConf?: () => string | undefined;
  /** The pod's addresses in interface order (non-loopback, non-link-local filtering done here). */
  readonly addresses?: () => readonly string[];
}

export interface LoadedConfig {
  readonly config: CaptureConfig;
  readonly options: RunOptions;
  readonly warnings: readonly string[];
}

/** Splits a comma list the way Istio does: empty items (`a,,b,`) are dropped. */
export function splitList(text: string): string[] {
  return text.split(',').filter((s) => s !== '');
}

function describe(f: FlagValue): string {
  return f.origin;
}

function str(flags: ParsedFlags, name: string): { value: string; origin: string } | undefined {
  const f = flags.get(name);
  if (!f) return undefined;
  return { value: String(f.value), origin: describe(f) };
}

function bool(flags: ParsedFlags, name: string): boolean | undefined {
  const f = flags.get(name);
  return f === undefined ? undefined : f.value === true;
}

function bad(origin: string, value: string, why: string): UserError {
  return new UserError(`${origin} ${JSON.stringify(value)}: ${why}`);
}

function port(flags: ParsedFlags, name: string, def: string): string {
  const f = str(flags, name);
  if (!f) return def;
  if (!isPort(f.value)) throw bad(f.origin, f.value, 'not a port (1-65535)');
  return f.value;
}

function portList(flags: ParsedFlags, name: string, allowAll: boolean): { all: boolean; ports: string[] } {
  const f = str(flags, name);
  if (!f) return { all: false, ports: [] };
  if (allowAll && f.value.trim() === '*') return { all: true, ports: [] };
  const ports = splitList(f.value);
  for (const p of ports) {
    if (!isPortOrRange(p)) throw bad(f.origin, f.value, `"${p}" is not a port (1-65535) or range (low:high)`);
  }
  return { all: false, ports };
}

function idList(flags: ParsedFlags, name: string, what: string): string[] | undefined {
  const f = str(flags, name);
  if (!f) return undefined;
  const ids = splitList(f.value);
  // Istio treats an empty -u/-g as unset: the default uid, and the uid(s) for the gid.
  if (ids.length === 0) return undefined;
  for (const id of ids) if (!isOwnerId(id)) throw bad(f.origin, f.value, `"${id}" is not a ${what}`);
  return ids;
}

function cidrList(flags: ParsedFlags, name: string, allowAll: boolean): { all: boolean; cidrs: Cidr[] } {
  const f = str(flags, name);
  if (!f) return { all: false, cidrs: [] };
  if (f.value.trim() === '*') {
    if (allowAll) return { all: true, cidrs: [] };
    throw bad(f.origin, f.value, "'*' is not allowed here: give CIDRs");
  }
  const cidrs: Cidr[] = [];
  for (const item of splitList(f.value)) {
    const c = parseCidr(item.trim());
    if (!c) throw bad(f.origin, f.value, `"${item}" is not a CIDR (address/length)`);
    cidrs.push(c);
  }
  return { all: false, cidrs };
}

function ifaceList(flags: ParsedFlags, name: string): string[] {
  const f = str(flags, name);
  if (!f) return [];
  const names = splitList(f.value);
  for (const n of names) if (!isInterfaceName(n)) throw bad(f.origin, f.value, `"${n}" is not an interface name`);
  return names;
}

function dnsServers(flags: ParsedFlags, name: string, family: 4 | 6): string[] | undefined {
  const f = str(flags, name);
  if (!f) return undefined;
  const servers = splitList(f.value).map((s) => s.trim());
  for (const s of servers) {
    if (canonicalIP(s)?.family !== family) throw bad(f.origin, f.value, `"${s}" is not an IPv${family} address`);
  }
  return servers;
}

/** `nameserver` lines of a resolv.conf, split by family (zone-scoped IPv6 servers are skipped). */
export function parseResolvConf(text: string): { v4: string[]; v6: string[] } {
  const v4: string[] = [];
  const v6: string[] = [];
  for (const line of text.split('\n')) {
    const m = /^\s*nameserver\s+(\S+)/.exec(line);
    if (!m?.[1]) continue;
    const ip = canonicalIP(m[1]);
    if (ip?.family === 4) v4.push(m[1]);
    else if (ip?.family === 6) v6.push(m[1]);
  }
  return { v4, v6 };
}

/** Istio's rule: IPv6 rules when the pod's first usable address is IPv6 (any, with dual stack). */
export function detectIPv6(addresses: readonly string[], dualStack: boolean): boolean {
  for (const a of addresses) {
    const ip = canonicalIP(a);
    if (!ip) continue;
    if (ip.family === 4) {
      if (parseIPv4(ip.text)?.[0] === 127 || ip.text.startsWith('169.254.')) continue;
      if (!dualStack) return false;
      continue;
    }
    if (ip.text === '::1' || /^fe[89ab]/i.test(ip.text)) continue;
    return true;
  }
  return false;
}

export function loadConfig(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>> = {},
  host: HostFacts = {},
): LoadedConfig {
  const flags = parseFlags(argv, FLAGS, env);
  const warnings: string[] = [];

  const backendFlag = str(flags, 'iptables-backend');
  const backend = (backendFlag?.value ?? 'auto') as Backend;
  if (!['auto', 'nft', 'legacy'].includes(backend)) {
    throw bad(backendFlag?.origin ?? '--iptables-backend', backend, 'must be auto, nft or legacy');
  }
  for (const name of IGNORED_FLAGS) {
    const f = flags.get(name);
    if (f) warnings.push(`${f.origin} has no effect in tandem (accepted for istio-iptables compatibility)`);
  }
  const options: RunOptions = {
    dryRun: bool(flags, 'dry-run') ?? false,
    skipApply: bool(flags, 'skip-rule-apply') ?? false,
    cleanup: bool(flags, 'cleanup') ?? false,
    backend,
    help: bool(flags, 'help') ?? false,
  };

  const modeFlag = str(flags, 'istio-inbound-interception-mode');
  let mode: InterceptionMode = 'REDIRECT';
  if (modeFlag && modeFlag.value !== '') {
    const m = modeFlag.value.toUpperCase();
    if (m !== 'REDIRECT' && m !== 'TPROXY') throw bad(modeFlag.origin, modeFlag.value, 'must be REDIRECT or TPROXY');
    mode = m;
  }

  const uids = idList(flags, 'proxy-uid', 'uid') ?? [...DEFAULT_CONFIG.proxyUids];
  const gids = idList(flags, 'proxy-gid', 'gid') ?? [...uids];

  const markFlag = str(flags, 'istio-inbound-tproxy-mark');
  if (markFlag && !isUint32(markFlag.value)) throw bad(markFlag.origin, markFlag.value, 'not a 32-bit packet mark');
  const tableFlag = str(flags, 'istio-inbound-tproxy-route-table');
  if (tableFlag && !(isUint32(tableFlag.value) && tableFlag.value !== '0')) {
    throw bad(tableFlag.origin, tableFlag.value, 'not a route table number (1-4294967295)');
  }

  const outboundInclude = cidrList(flags, 'istio-service-cidr', true);
  const outboundExclude = cidrList(flags, 'istio-service-exclude-cidr', false).cidrs;

  const groupsInclude = str(flags, 'owner-groups-include');
  const groupsExclude = str(flags, 'owner-groups-exclude');
  let ownerGroups: CaptureConfig['ownerGroups'];
  const checkGroups = (f: { value: string; origin: string }, list: string[]): string[] => {
    for (const g of list) if (!isOwnerId(g)) throw bad(f.origin, f.value, `"${g}" is not a group name or gid`);
    return list;
  };
  if (!groupsInclude || groupsInclude.value.trim() === '*') {
    ownerGroups = { except: true, values: groupsExclude ? checkGroups(groupsExclude, splitList(groupsExclude.value)) : [] };
  } else {
    const values = checkGroups(groupsInclude, splitList(groupsInclude.value));
    // Istio's limit: all included groups become one rule of negated matches, which must stay short.
    if (values.length > 64) throw bad(groupsInclude.origin, groupsInclude.value, `at most 64 groups, got ${values.length}`);
    if (groupsExclude && splitList(groupsExclude.value).length > 0) {
      warnings.push(`${groupsExclude.origin} is ignored: it only applies when all groups ('*') are captured`);
    }
    ownerGroups = { except: false, values };
  }

  const loopFlag = str(flags, 'host-ipv4-loopback-cidr');
  let hostIPv4LoopbackCidr = DEFAULT_CONFIG.hostIPv4LoopbackCidr;
  if (loopFlag) {
    const c = parseCidr(loopFlag.value.trim());
    const len = c ? Number(c.text.split('/')[1]) : 0;
    if (!c || c.family !== 4) throw bad(loopFlag.origin, loopFlag.value, 'not an IPv4 CIDR');
    if (!c.loopback || len < 8) throw bad(loopFlag.origin, loopFlag.value, 'must lie within 127.0.0.0/8');
    hostIPv4LoopbackCidr = c.text;
  }

  const redirectDns = bool(flags, 'redirect-dns') ?? false;
  const captureAllDns = bool(flags, 'capture-all-dns') ?? false;
  let dnsServersV4 = dnsServers(flags, 'dns-servers-v4', 4);
  let dnsServersV6 = dnsServers(flags, 'dns-servers-v6', 6);
  if (redirectDns && !captureAllDns && dnsServersV4 === undefined && dnsServersV6 === undefined) {
    // As Istio: the servers the pod resolves with. An explicit (even empty) list skips the file.
    const text = host.resolvConf?.();
    if (text !== undefined) {
      const found = parseResolvConf(text);
      dnsServersV4 = found.v4;
      dnsServersV6 = found.v6;
    }
  }
  dnsServersV4 ??= [];
  dnsServersV6 ??= [];
  if (redirectDns && !captureAllDns && dnsServersV4.length === 0 && dnsServersV6.length === 0) {
    warnings.push('DNS capture is on but no DNS servers are known and --capture-all-dns is off: DNS is not captured');
  }

  let ipv6 = bool(flags, 'ipv6');
  if (ipv6 === undefined) {
    const addrs = host.addresses?.() ?? [];
    ipv6 = detectIPv6(addrs, bool(flags, 'dual-stack') ?? false);
  }

  const inbound = portList(flags, 'istio-inbound-ports', true);
  const config: CaptureConfig = {
    proxyPort: port(flags, 'envoy-port', DEFAULT_CONFIG.proxyPort),
    inboundCapturePort: port(flags, 'inbound-capture-port', DEFAULT_CONFIG.inboundCapturePort),
    inboundTunnelPort: port(flags, 'inbound-tunnel-port', DEFAULT_CONFIG.inboundTunnelPort),
    proxyUids: uids,
    proxyGids: gids,
    mode,
    tproxyMark: markFlag?.value ?? DEFAULT_CONFIG.tproxyMark,
    tproxyRouteTable: tableFlag?.value ?? DEFAULT_CONFIG.tproxyRouteTable,
    inboundPorts: inbound,
    inboundPortsExclude: portList(flags, 'istio-local-exclude-ports', false).ports,
    outboundPortsInclude: portList(flags, 'istio-outbound-ports', false).ports,
    outboundPortsExclude: portList(flags, 'istio-local-outbound-ports-exclude', false).ports,
    outboundRangesInclude: outboundInclude,
    outboundRangesExclude: outboundExclude,
    kubeVirtInterfaces: ifaceList(flags, 'kube-virt-interfaces'),
    excludeInterfaces: ifaceList(flags, 'istio-exclude-interfaces'),
    ownerGroups,
    hostIPv4LoopbackCidr,
    redirectDns,
    captureAllDns,
    dnsServersV4,
    dnsServersV6,
    dropInvalid: bool(flags, 'drop-invalid') ?? false,
    ipv6,
  };
  return { config, options, warnings };
}
