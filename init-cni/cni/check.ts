import { type SavedTable, jumpTarget } from '../restore.js';
import { BUILTIN_CHAINS, type Rule, type Table } from '../rules.js';

/**
 * CHECK's verdict, pure: does a table dump (iptables-save, parsed) still hold the capture? Every
 * chain the rules create must exist, and every jump from a built-in chain into one of them must be
 * there. Rule bodies are not compared: iptables-save prints its own normal form (`-m tcp`, masks),
 * and a chain plus its entry jump is what a rewrite by another tool removes.
 */
export function missingCapture(rules: readonly Rule[], saved: ReadonlyMap<Table, SavedTable>): string[] {
  const missing: string[] = [];
  const seen = new Set<string>();
  const once = (what: string): void => {
    if (!seen.has(what)) missing.push(what);
    seen.add(what);
  };
  for (const r of rules) {
    const table = saved.get(r.table);
    if (!BUILTIN_CHAINS.has(r.chain) && !table?.chains.has(r.chain)) once(`chain ${r.chain} in table ${r.table}`);
    const target = jumpTarget(r.spec);
    if (!BUILTIN_CHAINS.has(r.chain) || !target || BUILTIN_CHAINS.has(target) || !/^[A-Z_]+$/.test(target) || !target.startsWith('ISTIO_')) continue;
    const present = table?.rules.some((line) => line.startsWith(`-A ${r.chain} `) && line.endsWith(`-j ${target}`));
    if (!present) once(`jump ${r.chain} -> ${target} in table ${r.table}`);
  }
  return missing;
}
