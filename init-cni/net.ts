import { isPort } from '../common/names.js';
/**
 * Address, CIDR, port and name validation for the capture flags. Pure; no node:net import so the
 * `tandem iptables` start-up stays small.
 */

export type Family = 4 | 6;

export interface Cidr {
  /** Canonical text as iptables will be given it, e.g. `10.0.0.0/8`, `2001:db8::/32`. */
  readonly text: string;
  readonly family: Family;
  /** Inside 127.0.0.0/8 or equal to ::1 — Istio then keeps loopback traffic capturable. */
  readonly loopback: boolean;
}

const V4_OCTET = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;

export function parseIPv4(text: string): number[] | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  const out: number[] = [];
  for (const p of parts) {
    if (!V4_OCTET.test(p)) return undefined;
    out.push(Number(p));
  }
  return out;
}

/** Returns the eight 16-bit groups, or undefined when `text` is not an IPv6 address. */
export function parseIPv6(text: string): number[] | undefined {
  if (text.length === 0 || text.length > 45 || text.includes('%')) return undefined;
  let head = text;
  let tailV4: number[] | undefined;
  const lastColon = text.lastIndexOf(':');
  if (lastColon >= 0 && text.slice(lastColon + 1).includes('.')) {
    tailV4 = parseIPv4(text.slice(lastColon + 1));
    if (!tailV4) return undefined;
    head = text.slice(0, lastColon + 1) + '0:0';
  }
  const halves = head.split('::');
  if (halves.length > 2) return undefined;
  const parseGroups = (s: string): number[] | undefined => {
    if (s === '') return [];
    const groups: number[] = [];
    for (const g of s.split(':')) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return undefined;
      groups.push(parseInt(g, 16));
    }
    return groups;
  };
  const left = parseGroups(halves[0] ?? '');
  const right = halves.length === 2 ? parseGroups(halves[1] ?? '') : [];
  if (!left || !right) return undefined;
  let groups: number[];
  if (halves.length === 2) {
    const missing = 8 - left.length - right.length;
    if (missing < 1) return undefined;
    groups = [...left, ...new Array<number>(missing).fill(0), ...right];
  } else {
    groups = left;
  }
  if (groups.length !== 8) return undefined;
  if (tailV4) {
    groups[6] = ((tailV4[0] ?? 0) << 8) | (tailV4[1] ?? 0);
    groups[7] = ((tailV4[2] ?? 0) << 8) | (tailV4[3] ?? 0);
  }
  return groups;
}

/**
 * RFC 5952 text for an IPv6 address, which is what Go's netip prints (Istio formats CIDRs with it),
 * including Go's `::ffff:a.b.c.d` form for IPv4-mapped addresses.
 */
export function formatIPv6(groups: readonly number[]): string {
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    const a = groups[6] ?? 0;
    const b = groups[7] ?? 0;
    return `::ffff:${a >> 8}.${a & 255}.${b >> 8}.${b & 255}`;
  }
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
}

/** Canonical form of an IP address, or undefined when it is not one. */
export function canonicalIP(text: string): { text: string; family: Family } | undefined {
  if (parseIPv4(text)) return { text, family: 4 };
  const g = parseIPv6(text);
  if (!g) return undefined;
  return { text: formatIPv6(g), family: 6 };
}

/** Parses `addr/len`; a bare address is refused, as Go's netip.ParsePrefix refuses it. */
export function parseCidr(text: string): Cidr | undefined {
  const slash = text.indexOf('/');
  if (slash <= 0) return undefined;
  const addr = canonicalIP(text.slice(0, slash));
  const lenText = text.slice(slash + 1);
  if (!addr || !/^(0|[1-9]\d{0,2})$/.test(lenText)) return undefined;
  const len = Number(lenText);
  if (len > (addr.family === 4 ? 32 : 128)) return undefined;
  let loopback: boolean;
  if (addr.family === 4) {
    loopback = parseIPv4(addr.text)?.[0] === 127;
  } else {
    const g = parseIPv6(addr.text) ?? [];
    loopback = g.slice(0, 7).every((x) => x === 0) && g[7] === 1;
  }
  return { text: `${addr.text}/${len}`, family: addr.family, loopback };
}

export { isPort };

/** A port or an iptables port range `low:high`. */
export function isPortOrRange(text: string): boolean {
  const parts = text.split(':');
  if (parts.length === 1) return isPort(text);
  if (parts.length !== 2) return false;
  const [lo, hi] = parts as [string, string];
  return isPort(lo) && isPort(hi) && Number(lo) <= Number(hi);
}

/** A numeric id (uid, gid, mark, table) that fits in 32 bits. */
export function isUint32(text: string): boolean {
  return /^(0|[1-9]\d{0,9})$/.test(text) && Number(text) <= 0xffffffff;
}

/** A numeric uid/gid, or a user/group name as iptables' owner match resolves it. */
export function isOwnerId(text: string): boolean {
  return (isUint32(text) && Number(text) < 0xffffffff) || /^[A-Za-z_][A-Za-z0-9_.-]{0,31}\$?$/.test(text);
}

/** A Linux interface name (at most 15 bytes, no slash, colon-free, no whitespace). */
export function isInterfaceName(text: string): boolean {
  return /^[A-Za-z0-9_.@+-]{1,15}$/.test(text) && text !== '.' && text !== '..';
}
