import type { ProxyStatus, TypeStatus } from './xds/server/context.js';
import type { XdsType } from './xds/translate/common.js';

/**
 * `tandem proxy-status`: /debug/syncz as a table, in the shape of `istioctl proxy-status` — one row
 * per connected proxy, per type SYNCED (the last version sent is ACKed), STALE (sent, not ACKed
 * yet), NACKED (the proxy refused it; the nonce and the error follow the table) or NOT SENT. Responses
 * are told apart by their nonces when /debug/syncz has them, by versions otherwise.
 */

const COLUMNS: ReadonlyArray<[string, XdsType]> = [
  ['CDS', 'cluster'],
  ['LDS', 'listener'],
  ['EDS', 'endpoint'],
  ['RDS', 'route'],
];

export function typeState(s: TypeStatus | undefined): string {
  if (s?.sentNonce !== undefined) {
    // nonces name responses exactly (a version can be sent twice, e.g. partial EDS and RDS pushes;
    // after a NACK the state-of-the-world stream reports the version the proxy kept)
    if (s.sentNonce === '') return 'NOT SENT';
    if (s.nackedNonce === s.sentNonce) return 'NACKED';
    return s.ackedNonce === s.sentNonce ? 'SYNCED' : 'STALE';
  }
  if (!s || s.sentVersion === '') return 'NOT SENT';
  if (s.lastError !== undefined && s.ackedVersion !== s.sentVersion) return 'NACKED';
  return s.ackedVersion === s.sentVersion ? 'SYNCED' : 'STALE';
}

const byId = (a: ProxyStatus, b: ProxyStatus): number => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

/**
 * Pure: the table text (columns padded to their widest cell), rows sorted by proxy id; then, for each
 * type a proxy is NACKing now (its last response refused), one line naming the response and the error.
 */
export function formatProxyStatus(proxies: readonly ProxyStatus[]): string {
  const rows = [['NAME', ...COLUMNS.map(([c]) => c), 'PROTOCOL', 'VERSION']];
  const nacks: string[] = [];
  for (const p of [...proxies].sort(byId)) {
    const version = Object.values(p.types).map((t) => t?.sentVersion ?? '').filter((v) => v !== '').sort().at(-1) ?? '';
    rows.push([p.id, ...COLUMNS.map(([, type]) => typeState(p.types[type])), p.protocol, version]);
    for (const [column, type] of COLUMNS) {
      const t = p.types[type];
      if (t?.nackedNonce !== undefined && typeState(t) === 'NACKED') nacks.push(`${p.id} ${column} NACKED version ${t.nackedVersion ?? ''} nonce ${t.nackedNonce}: ${t.lastError ?? ''}`);
    }
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const table = rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]! + 3))).join('')).join('\n') + '\n';
  return nacks.length === 0 ? table : `${table}\n${nacks.join('\n')}\n`;
}
