import type { ProxyStatus, TypeStatus } from './xds/server/context.js';
import type { XdsType } from './xds/translate/common.js';

/**
 * `tandem proxy-status`: /debug/syncz as a table, in the shape of `istioctl proxy-status` — one row
 * per connected proxy, per type SYNCED (the last version sent is ACKed), STALE (sent, not ACKed
 * yet), NACKED (the proxy refused it; the error is in /debug/syncz) or NOT SENT.
 */

const COLUMNS: ReadonlyArray<[string, XdsType]> = [
  ['CDS', 'cluster'],
  ['LDS', 'listener'],
  ['EDS', 'endpoint'],
  ['RDS', 'route'],
];

export function typeState(s: TypeStatus | undefined): string {
  if (!s || s.sentVersion === '') return 'NOT SENT';
  if (s.lastError !== undefined && s.ackedVersion !== s.sentVersion) return 'NACKED';
  return s.ackedVersion === s.sentVersion ? 'SYNCED' : 'STALE';
}

/** Pure: the table text (columns padded to their widest cell), rows sorted by proxy id. */
export function formatProxyStatus(proxies: readonly ProxyStatus[]): string {
  const rows = [['NAME', ...COLUMNS.map(([c]) => c), 'PROTOCOL', 'VERSION']];
  for (const p of [...proxies].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))) {
    const version = Object.values(p.types).map((t) => t?.sentVersion ?? '').filter((v) => v !== '').sort().at(-1) ?? '';
    rows.push([p.id, ...COLUMNS.map(([, type]) => typeState(p.types[type])), p.protocol, version]);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]! + 3))).join('')).join('\n') + '\n';
}
