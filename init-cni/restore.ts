import { BUILTIN_CHAINS, CHAIN_PREFIX, type Rule, type Table } from './rules.js';

/**
 * Rule lists <-> iptables-restore / iptables-save text. Pure.
 */

const TABLE_ORDER: readonly Table[] = ['filter', 'mangle', 'nat', 'raw'];

export function ruleLine(r: Rule): string {
  const head = r.op === 'I' ? ['-I', r.chain, String(r.position ?? 1)] : ['-A', r.chain];
  return [...head, ...r.spec].join(' ');
}

/** The chain a rule jumps to, when `-j CHAIN` ends it. */
export function jumpTarget(spec: readonly string[]): string | undefined {
  const j = spec.lastIndexOf('-j');
  return j >= 0 && j === spec.length - 2 ? spec[j + 1] : undefined;
}

/** Per table: the chains to create (`-N`, in first-use order) and the rule lines. */
export function tableBodies(rules: readonly Rule[]): Map<Table, string[]> {
  const chains = new Map<Table, string[]>();
  const addChain = (table: Table, chain: string): void => {
    if (BUILTIN_CHAINS.has(chain)) return;
    const list = chains.get(table) ?? [];
    if (!list.includes(chain)) list.push(chain);
    chains.set(table, list);
  };
  // Chains that hold rules first, then chains only jumped to, as Istio orders its -N lines.
  for (const r of rules) addChain(r.table, r.chain);
  for (const r of rules) {
    const t = jumpTarget(r.spec);
    if (t?.startsWith(CHAIN_PREFIX)) addChain(r.table, t);
  }
  const out = new Map<Table, string[]>();
  for (const table of TABLE_ORDER) {
    const own = rules.filter((r) => r.table === table);
    if (own.length === 0) continue;
    out.set(table, [...(chains.get(table) ?? []).map((c) => `-N ${c}`), ...own.map(ruleLine)]);
  }
  return out;
}

/** The iptables-restore input for one family on a table with no tandem state: what --dry-run prints. */
export function renderRestore(rules: readonly Rule[]): string {
  let text = '';
  for (const [table, lines] of tableBodies(rules)) text += `* ${table}\n${lines.join('\n')}\nCOMMIT\n`;
  return text;
}

/** One table of iptables-save output. */
export interface SavedTable {
  /** Chain name -> policy line (`:NAME POLICY [p:b]`), in save order. */
  readonly chains: Map<string, string>;
  /** `-A ...` lines in save order. */
  readonly rules: string[];
}

export function parseSave(text: string): Map<Table, SavedTable> {
  const tables = new Map<Table, SavedTable>();
  let current: SavedTable | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    if (line.startsWith('*')) {
      current = { chains: new Map(), rules: [] };
      tables.set(line.slice(1).trim() as Table, current);
    } else if (line === 'COMMIT') {
      current = undefined;
    } else if (current && line.startsWith(':')) {
      current.chains.set(line.slice(1).split(/\s+/)[0] as string, line);
    } else if (current && line.startsWith('-A ')) {
      current.rules.push(line);
    }
  }
  return tables;
}

function tokens(line: string): string[] {
  return line.split(/\s+/);
}

/** Whether a saved `-A` line jumps (or goes) to a tandem/Istio chain. */
export function jumpsToOurs(line: string): boolean {
  const t = tokens(line);
  for (let i = 0; i < t.length - 1; i++) {
    if ((t[i] === '-j' || t[i] === '-g' || t[i] === '--jump' || t[i] === '--goto') && t[i + 1]?.startsWith(CHAIN_PREFIX)) return true;
  }
  return false;
}

export function ourChains(t: SavedTable): string[] {
  return [...t.chains.keys()].filter((c) => c.startsWith(CHAIN_PREFIX));
}

/** Does this saved state contain anything of ours (a chain or a jump to one)? */
export function hasOurState(saved: ReadonlyMap<Table, SavedTable>): boolean {
  for (const t of saved.values()) {
    if (ourChains(t).length > 0 || t.rules.some(jumpsToOurs)) return true;
  }
  return false;
}

/**
 * Lines that remove tandem's state from a table inside a restore transaction: the rules outside our
 * chains that jump into them (taken verbatim from iptables-save, so they match), `extraDeletes`
 * (rules of ours in built-in chains that are not jumps, found by the caller), then flush and delete
 * every ISTIO_* chain. Flushing all before deleting any drops the jumps between our own chains.
 */
export function removalLines(t: SavedTable | undefined, extraDeletes: readonly string[] = []): string[] {
  if (!t) return [...extraDeletes];
  const lines: string[] = [];
  for (const r of t.rules) {
    const chain = tokens(r)[1] ?? '';
    if (!chain.startsWith(CHAIN_PREFIX) && jumpsToOurs(r)) lines.push(`-D ${r.slice(3)}`);
  }
  lines.push(...extraDeletes);
  const chains = ourChains(t);
  for (const c of chains) lines.push(`-F ${c}`);
  for (const c of chains) lines.push(`-X ${c}`);
  return lines;
}

/**
 * The restore input that makes the tables hold exactly `rules` (tandem-wise): per table, first
 * remove what a previous run left, then create chains and rules — one transaction per table,
 * so a re-run replaces rather than duplicates. `rules` empty gives a pure cleanup.
 */
export function renderTransaction(
  rules: readonly Rule[],
  saved: ReadonlyMap<Table, SavedTable>,
  extraDeletes: ReadonlyMap<Table, readonly string[]> = new Map(),
): string {
  const bodies = tableBodies(rules);
  let text = '';
  for (const table of TABLE_ORDER) {
    const removal = removalLines(saved.get(table), extraDeletes.get(table) ?? []);
    const body = bodies.get(table) ?? [];
    if (removal.length === 0 && body.length === 0) continue;
    text += `* ${table}\n${[...removal, ...body].join('\n')}\nCOMMIT\n`;
  }
  return text;
}

/** Tables a transaction touches, for rollback. */
export function touchedTables(restoreText: string): Table[] {
  return restoreText
    .split('\n')
    .filter((l) => l.startsWith('* '))
    .map((l) => l.slice(2).trim() as Table);
}

/**
 * The save text restricted to `tables`, to put them back as they were (restored without --noflush,
 * which replaces each listed table whole). A table the save did not list did not exist yet: an
 * empty section flushes it back to nothing.
 */
export function snapshotOf(saveText: string, tables: readonly Table[]): string {
  const sections = new Map<string, string>();
  let current: string | undefined;
  for (const raw of saveText.split('\n')) {
    const line = raw.trim();
    if (line.startsWith('*')) {
      current = line.slice(1).trim();
      sections.set(current, '');
    }
    if (current !== undefined && line !== '' && !line.startsWith('#')) sections.set(current, sections.get(current) + line + '\n');
    if (line === 'COMMIT') current = undefined;
  }
  return tables.map((t) => sections.get(t) ?? `*${t}\nCOMMIT\n`).join('');
}

/** Canonical form of iptables-save output for comparisons: no comments, no counters. */
export function normalizeSave(text: string): string {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) => (l.startsWith(':') ? l.replace(/\s*\[\d+:\d+\]$/, '') : l))
    .join('\n');
}
