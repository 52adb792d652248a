import type { CaptureConfig } from './config.js';
import type { Family } from './net.js';

/**
 * Configuration -> rule set, pure. The chains, the rules and their order are Istio's
 * (istio-iptables' capture step), so that the generated tables look exactly like an Istio pod's
 * and operators' tooling keeps working; each step below says what the rules are for.
 */

export type Table = 'filter' | 'mangle' | 'nat' | 'raw';

export interface Rule {
  readonly table: Table;
  readonly chain: string;
  /** `-A` appends; `-I` inserts at `position` (1-based), as Istio does for a few rules. */
  readonly op: 'A' | 'I';
  readonly position?: number;
  /** Everything after the chain (and position): matches, then `-j TARGET [options]`. */
  readonly spec: readonly string[];
}

export interface RuleSet {
  readonly v4: readonly Rule[];
  /** Empty unless IPv6 is enabled. */
  readonly v6: readonly Rule[];
}

export const CHAIN = {
  INBOUND: 'ISTIO_INBOUND',
  REDIRECT: 'ISTIO_REDIRECT',
  IN_REDIRECT: 'ISTIO_IN_REDIRECT',
  OUTPUT: 'ISTIO_OUTPUT',
  OUTPUT_DNS: 'ISTIO_OUTPUT_DNS',
  DIVERT: 'ISTIO_DIVERT',
  TPROXY: 'ISTIO_TPROXY',
  DROP: 'ISTIO_DROP',
} as const;

/** Every chain tandem (and Istio's sidecar capture) creates starts with this. */
export const CHAIN_PREFIX = 'ISTIO_';

export const BUILTIN_CHAINS: ReadonlySet<string> = new Set(['INPUT', 'OUTPUT', 'FORWARD', 'PREROUTING', 'POSTROUTING']);

/** Istio's mark for the proxy's own outbound-to-app packets in TPROXY mode. */
const OUTBOUND_MARK = '1338';
const DNS_AGENT_PORT = '15053';
/** iptables' multiport match takes at most 15 ports (a range counts twice). */
const MULTIPORT_MAX = 15;

/** Port matches for a list: `--dport P` for one, `-m multiport --dports a,b` (chunked) for more. */
function portMatches(ports: readonly string[]): string[][] {
  if (ports.length === 1) return [['--dport', ports[0] as string]];
  const out: string[][] = [];
  let chunk: string[] = [];
  let weight = 0;
  for (const p of ports) {
    const w = p.includes(':') ? 2 : 1;
    if (weight + w > MULTIPORT_MAX) {
      out.push(chunk);
      chunk = [];
      weight = 0;
    }
    chunk.push(p);
    weight += w;
  }
  if (chunk.length) out.push(chunk);
  return out.map((c) => (c.length === 1 ? ['--dport', c[0] as string] : ['-m', 'multiport', '--dports', c.join(',')]));
}

class Builder {
  readonly v4: Rule[] = [];
  readonly v6: Rule[] = [];
  constructor(private readonly ipv6: boolean) {}

  add(family: Family | 'both', table: Table, chain: string, spec: readonly string[], position?: number): void {
    const rule: Rule = position === undefined ? { table, chain, op: 'A', spec } : { table, chain, op: 'I', position, spec };
    if (family !== 6) this.v4.push(rule);
    if (family !== 4 && this.ipv6) this.v6.push(rule);
  }
  /** One rule per family with a family-specific address substituted (Istio's "versioned" rule). */
  addVersioned(table: Table, chain: string, v4: string, v6: string, spec: (addr: string) => readonly string[]): void {
    this.add(4, table, chain, spec(v4));
    this.add(6, table, chain, spec(v6));
  }
}

export function generateRules(cfg: CaptureConfig): RuleSet {
  const b = new Builder(cfg.ipv6);
  const tproxy = cfg.mode === 'TPROXY';
  const v4Loop = cfg.hostIPv4LoopbackCidr;
  const v6Loop = '::1/128';
  const include = cfg.outboundRangesInclude;
  const includeV4 = include.cidrs.filter((c) => c.family === 4);
  const includeV6 = include.cidrs.filter((c) => c.family === 6);
  // An explicitly included loopback range must stay capturable, so the "app talks to itself over lo"
  // shortcut is dropped.
  const includesLoopback = include.cidrs.some((c) => c.loopback);
  // DNS capture needs somewhere to point: servers, or capture-all. Without either, Istio turns it off.
  const dns = cfg.redirectDns && (cfg.captureAllDns || cfg.dnsServersV4.length > 0 || cfg.dnsServersV6.length > 0);

  // Excluded interfaces bypass everything, in both directions.
  for (const nic of cfg.excludeInterfaces) {
    b.add('both', 'nat', 'PREROUTING', ['-i', nic, '-j', 'RETURN']);
    b.add('both', 'nat', 'OUTPUT', ['-o', nic, '-j', 'RETURN']);
  }
  if (tproxy) {
    for (const nic of cfg.excludeInterfaces) {
      b.add('both', 'mangle', 'PREROUTING', ['-i', nic, '-j', 'RETURN']);
      b.add('both', 'mangle', 'OUTPUT', ['-o', nic, '-j', 'RETURN']);
    }
  }
  // Traffic arriving on KubeVirt interfaces is not inbound traffic for this pod.
  for (const nic of cfg.kubeVirtInterfaces) b.add('both', 'nat', 'PREROUTING', ['-i', nic, '-j', 'RETURN'], 1);

  if (cfg.dropInvalid) {
    b.add('both', 'mangle', 'PREROUTING', ['-m', 'conntrack', '--ctstate', 'INVALID', '-j', CHAIN.DROP]);
    b.add('both', 'mangle', CHAIN.DROP, ['-j', 'DROP']);
  }

  // The tunnel port is never captured; the two redirect chains send TCP to the proxy's listeners.
  b.add('both', 'nat', CHAIN.INBOUND, ['-p', 'tcp', '--dport', cfg.inboundTunnelPort, '-j', 'RETURN']);
  b.add('both', 'nat', CHAIN.REDIRECT, ['-p', 'tcp', '-j', 'REDIRECT', '--to-ports', cfg.proxyPort]);
  b.add('both', 'nat', CHAIN.IN_REDIRECT, ['-p', 'tcp', '-j', 'REDIRECT', '--to-ports', cfg.inboundCapturePort]);

  // Inbound: REDIRECT in nat, or TPROXY in mangle (marks packets so policy routing delivers them to lo).
  const inbound = cfg.inboundPorts;
  if (inbound.all || inbound.ports.length > 0) {
    const table: Table = tproxy ? 'mangle' : 'nat';
    if (tproxy) {
      b.add('both', 'mangle', CHAIN.DIVERT, ['-j', 'MARK', '--set-mark', cfg.tproxyMark]);
      b.add('both', 'mangle', CHAIN.DIVERT, ['-j', 'ACCEPT']);
      b.addVersioned('mangle', CHAIN.TPROXY, v4Loop, v6Loop, (lo) => [
        '!', '-d', lo, '-p', 'tcp', '-j', 'TPROXY', '--tproxy-mark', `${cfg.tproxyMark}/0xffffffff`, '--on-port', cfg.inboundCapturePort,
      ]);
    }
    b.add('both', table, 'PREROUTING', ['-p', 'tcp', '-j', CHAIN.INBOUND]);
    if (inbound.all) {
      if (cfg.inboundPortsExclude.length > 0) {
        for (const m of portMatches(cfg.inboundPortsExclude)) b.add('both', table, CHAIN.INBOUND, ['-p', 'tcp', ...m, '-j', 'RETURN']);
      }
      if (tproxy) {
        // Packets of established connections go straight to the local socket; new ones through TPROXY.
        b.add('both', 'mangle', CHAIN.INBOUND, ['-p', 'tcp', '-m', 'conntrack', '--ctstate', 'RELATED,ESTABLISHED', '-j', CHAIN.DIVERT]);
        b.add('both', 'mangle', CHAIN.INBOUND, ['-p', 'tcp', '-j', CHAIN.TPROXY]);
      } else {
        b.add('both', 'nat', CHAIN.INBOUND, ['-p', 'tcp', '-j', CHAIN.IN_REDIRECT]);
      }
    } else {
      for (const p of inbound.ports) {
        if (tproxy) {
          b.add('both', 'mangle', CHAIN.INBOUND, ['-p', 'tcp', '--dport', p, '-m', 'conntrack', '--ctstate', 'RELATED,ESTABLISHED', '-j', CHAIN.DIVERT]);
          b.add('both', 'mangle', CHAIN.INBOUND, ['-p', 'tcp', '--dport', p, '-j', CHAIN.TPROXY]);
        } else {
          b.add('both', 'nat', CHAIN.INBOUND, ['-p', 'tcp', '--dport', p, '-j', CHAIN.IN_REDIRECT]);
        }
      }
    }
  }

  // Outbound: everything locally generated walks ISTIO_OUTPUT; UDP is only touched for DNS.
  b.add('both', 'nat', 'OUTPUT', ['-j', CHAIN.OUTPUT]);
  if (cfg.outboundPortsExclude.length > 0) {
    for (const m of portMatches(cfg.outboundPortsExclude)) {
      b.add('both', 'nat', CHAIN.OUTPUT, ['-p', 'tcp', ...m, '-j', 'RETURN']);
      b.add('both', 'nat', CHAIN.OUTPUT, ['-p', 'udp', ...m, '-j', 'RETURN']);
    }
  }
  // 127.0.0.6 (::6) is the source the proxy's inbound passthrough binds to: never loop it back.
  b.addVersioned('nat', CHAIN.OUTPUT, '127.0.0.6/32', '::6/128', (src) => ['-o', 'lo', '-s', src, '-j', 'RETURN']);

  const ownerRules = (kind: '--uid-owner' | '--gid-owner', id: string, dnsPorts: boolean): void => {
    // The proxy calling the pod's own address over lo (app -> proxy -> proxy -> app via a service VIP)
    // goes to the inbound listener.
    b.addVersioned('nat', CHAIN.OUTPUT, v4Loop, v6Loop, (lo) => [
      '-o', 'lo', '!', '-d', lo, '-p', 'tcp',
      ...(dnsPorts ? ['-m', 'multiport', '!', '--dports', `53,${cfg.inboundTunnelPort}`] : ['!', '--dport', cfg.inboundTunnelPort]),
      '-m', 'owner', kind, id, '-j', CHAIN.IN_REDIRECT,
    ]);
    // An app talking to itself over lo is left alone (except TCP DNS, which the agent must see).
    if (!includesLoopback) {
      b.add('both', 'nat', CHAIN.OUTPUT, dns
        ? ['-o', 'lo', '-p', 'tcp', '!', '--dport', '53', '-m', 'owner', '!', kind, id, '-j', 'RETURN']
        : ['-o', 'lo', '-m', 'owner', '!', kind, id, '-j', 'RETURN']);
    }
    // The proxy's own traffic is never captured, whatever the protocol or destination.
    b.add('both', 'nat', CHAIN.OUTPUT, ['-m', 'owner', kind, id, '-j', 'RETURN']);
  };
  for (const uid of cfg.proxyUids) ownerRules('--uid-owner', uid, dns);
  for (const gid of cfg.proxyGids) ownerRules('--gid-owner', gid, false);

  if (cfg.ownerGroups.except) {
    for (const g of cfg.ownerGroups.values) b.add('both', 'nat', CHAIN.OUTPUT, ['-m', 'owner', '--gid-owner', g, '-j', 'RETURN']);
  } else {
    const noneOf = cfg.ownerGroups.values.flatMap((g) => ['-m', 'owner', '!', '--gid-owner', g]);
    b.add('both', 'nat', CHAIN.OUTPUT, [...noneOf, '-j', 'RETURN']);
  }

  if (dns) dnsRules(b, cfg);

  // Explicit localhost traffic (proxy-aware apps, container to container) is not captured.
  b.addVersioned('nat', CHAIN.OUTPUT, v4Loop, v6Loop, (lo) => ['-d', lo, '-j', 'RETURN']);
  for (const c of cfg.outboundRangesExclude) b.add(c.family, 'nat', CHAIN.OUTPUT, ['-d', c.text, '-j', 'RETURN']);
  for (const p of cfg.outboundPortsInclude) b.add('both', 'nat', CHAIN.OUTPUT, ['-p', 'tcp', '--dport', p, '-j', CHAIN.REDIRECT]);

  for (const [family, cidrs] of [[4, includeV4], [6, includeV6]] as const) {
    if (include.all) {
      b.add(family, 'nat', CHAIN.OUTPUT, ['-j', CHAIN.REDIRECT]);
      for (const nic of cfg.kubeVirtInterfaces) b.add(family, 'nat', 'PREROUTING', ['-i', nic, '-j', CHAIN.REDIRECT], 1);
    } else {
      for (const c of cidrs) {
        for (const nic of cfg.kubeVirtInterfaces) b.add(family, 'nat', 'PREROUTING', ['-i', nic, '-d', c.text, '-j', CHAIN.REDIRECT], 1);
        b.add(family, 'nat', CHAIN.OUTPUT, ['-d', c.text, '-j', CHAIN.REDIRECT]);
      }
    }
  }

  if (tproxy) {
    // Keep the mark the proxy's original_src filter sets, across the connection.
    b.add('both', 'mangle', 'PREROUTING', ['-p', 'tcp', '-m', 'mark', '--mark', cfg.tproxyMark, '-j', 'CONNMARK', '--save-mark']);
    b.add('both', 'mangle', 'OUTPUT', ['-p', 'tcp', '-o', 'lo', '-m', 'mark', '--mark', cfg.tproxyMark, '-j', 'RETURN']);
    // Proxy -> app over lo by pod IP gets its own mark so it is not captured again on the way in.
    for (const [kind, ids] of [['--uid-owner', cfg.proxyUids], ['--gid-owner', cfg.proxyGids]] as const) {
      for (const id of ids) {
        b.addVersioned('mangle', 'OUTPUT', v4Loop, v6Loop, (lo) => [
          '!', '-d', lo, '-p', 'tcp', '-o', 'lo', '-m', 'owner', kind, id, '-j', 'MARK', '--set-mark', OUTBOUND_MARK,
        ]);
      }
    }
    b.add('both', 'mangle', 'OUTPUT', ['-p', 'tcp', '-m', 'connmark', '--mark', cfg.tproxyMark, '-j', 'CONNMARK', '--restore-mark']);
    b.add('both', 'mangle', CHAIN.INBOUND, ['-p', 'tcp', '-m', 'mark', '--mark', cfg.tproxyMark, '-j', 'RETURN'], 1);
    b.add(4, 'mangle', CHAIN.INBOUND, ['-p', 'tcp', '-s', '127.0.0.6/32', '-i', 'lo', '-j', 'RETURN'], 2);
    b.add(6, 'mangle', CHAIN.INBOUND, ['-p', 'tcp', '-s', '::6/128', '-i', 'lo', '-j', 'RETURN'], 2);
    b.add('both', 'mangle', CHAIN.INBOUND, ['-p', 'tcp', '-i', 'lo', '-m', 'mark', '!', '--mark', OUTBOUND_MARK, '-j', 'RETURN'], 3);
  }

  return { v4: b.v4, v6: b.v6 };
}

/** DNS to the agent on 15053, and conntrack zones that keep the two UDP legs apart. */
function dnsRules(b: Builder, cfg: CaptureConfig): void {
  const all = cfg.captureAllDns;
  const v4 = cfg.dnsServersV4;
  const v6 = cfg.dnsServersV6;
  b.add('both', 'raw', 'OUTPUT', ['-j', CHAIN.OUTPUT_DNS]);
  if (all || v4.length > 0) b.add(4, 'nat', CHAIN.OUTPUT, ['-j', CHAIN.OUTPUT_DNS]);
  if (all || v6.length > 0) b.add(6, 'nat', CHAIN.OUTPUT, ['-j', CHAIN.OUTPUT_DNS]);

  // Only the resolv.conf servers (unless capture-all), so a local resolver chain cannot loop.
  if (all) {
    b.add('both', 'nat', CHAIN.OUTPUT_DNS, ['-p', 'tcp', '--dport', '53', '-j', 'REDIRECT', '--to-ports', DNS_AGENT_PORT]);
  } else {
    for (const s of v4) b.add(4, 'nat', CHAIN.OUTPUT_DNS, ['-p', 'tcp', '--dport', '53', '-d', `${s}/32`, '-j', 'REDIRECT', '--to-ports', DNS_AGENT_PORT]);
    for (const s of v6) b.add(6, 'nat', CHAIN.OUTPUT_DNS, ['-p', 'tcp', '--dport', '53', '-d', `${s}/128`, '-j', 'REDIRECT', '--to-ports', DNS_AGENT_PORT]);
  }
  if (all) {
    b.add('both', 'nat', CHAIN.OUTPUT_DNS, ['-p', 'udp', '--dport', '53', '-j', 'REDIRECT', '--to-port', DNS_AGENT_PORT]);
  } else {
    for (const s of v4) b.add(4, 'nat', CHAIN.OUTPUT_DNS, ['-p', 'udp', '--dport', '53', '-d', `${s}/32`, '-j', 'REDIRECT', '--to-port', DNS_AGENT_PORT]);
    for (const s of v6) b.add(6, 'nat', CHAIN.OUTPUT_DNS, ['-p', 'udp', '--dport', '53', '-d', `${s}/128`, '-j', 'REDIRECT', '--to-port', DNS_AGENT_PORT]);
  }

  // Zone 1: the proxy <-> upstream resolvers; zone 2: apps <-> the proxy's DNS listener.
  for (const [kind, ids] of [['--uid-owner', cfg.proxyUids], ['--gid-owner', cfg.proxyGids]] as const) {
    for (const id of ids) {
      b.add('both', 'raw', CHAIN.OUTPUT_DNS, ['-p', 'udp', '--dport', '53', '-m', 'owner', kind, id, '-j', 'CT', '--zone', '1']);
      b.add('both', 'raw', CHAIN.OUTPUT_DNS, ['-p', 'udp', '--sport', DNS_AGENT_PORT, '-m', 'owner', kind, id, '-j', 'CT', '--zone', '2']);
    }
  }
  if (all) {
    b.add('both', 'raw', 'PREROUTING', ['-j', CHAIN.INBOUND]);
    b.add('both', 'raw', CHAIN.OUTPUT_DNS, ['-p', 'udp', '--dport', '53', '-j', 'CT', '--zone', '2']);
    b.add('both', 'raw', CHAIN.INBOUND, ['-p', 'udp', '--sport', '53', '-j', 'CT', '--zone', '1']);
    return;
  }
  for (const [family, servers, len] of [[4, v4, '32'], [6, v6, '128']] as const) {
    if (servers.length > 0) b.add(family, 'raw', 'PREROUTING', ['-j', CHAIN.INBOUND]);
    for (const s of servers) {
      b.add(family, 'raw', CHAIN.OUTPUT_DNS, ['-p', 'udp', '--dport', '53', '-d', `${s}/${len}`, '-j', 'CT', '--zone', '2']);
      b.add(family, 'raw', CHAIN.INBOUND, ['-p', 'udp', '--sport', '53', '-s', `${s}/${len}`, '-j', 'CT', '--zone', '1']);
    }
  }
}
