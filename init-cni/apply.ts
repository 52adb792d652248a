import { UserError } from '../common/errors.js';
import { type Detected, type Iptables, detectBackend, oneLine, run } from './backend.js';
import type { Backend, CaptureConfig } from './config.js';
import type { Family } from './net.js';
import { type SavedTable, hasOurState, parseSave, renderTransaction, jumpTarget, snapshotOf, touchedTables } from './restore.js';
import { CHAIN_PREFIX, generateRules, type Rule, type RuleSet, type Table } from './rules.js';

/**
 * Applying and removing the capture rules. Per family one `iptables-restore --noflush` whose
 * tables each remove what an earlier run left and write the new rules, so re-running converges;
 * if any table or family fails, every table already changed is put back from the snapshot taken
 * just before, so a failed run leaves the tables as they were.
 */

type Log = (line: string) => void;

interface Plan {
  readonly family: Family;
  readonly saveText: string;
  readonly restoreText: string;
}

/**
 * Our rules that sit in chains we do not own and are not jumps into ours (interface exclusions,
 * TPROXY marks): iptables-save prints them in its own normal form, so ask iptables whether each
 * exists (`-C`) and delete it by our spelling.
 */
async function leftoverDeletes(ipt: Iptables, family: Family, rules: readonly Rule[]): Promise<Map<Table, string[]>> {
  const candidates = rules.filter((r) => !r.chain.startsWith(CHAIN_PREFIX) && !jumpTarget(r.spec)?.startsWith(CHAIN_PREFIX));
  const seen = new Set<string>();
  const unique = candidates.filter((r) => {
    const key = `${r.table} ${r.chain} ${r.spec.join(' ')}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
  const found = await Promise.all(unique.map((r) => ipt.exists(family, r.table, r.chain, r.spec)));
  const out = new Map<Table, string[]>();
  unique.forEach((r, i) => {
    if (!found[i]) return;
    const list = out.get(r.table) ?? [];
    list.push(`-D ${r.chain} ${r.spec.join(' ')}`);
    out.set(r.table, list);
  });
  return out;
}

async function plan(detected: Detected, family: Family, rules: readonly Rule[], leftoverRules: readonly Rule[]): Promise<Plan> {
  const ipt = detected.iptables;
  const saveText = family === 4 && detected.v4Save !== undefined ? detected.v4Save : await ipt.save(family);
  const saved: Map<Table, SavedTable> = parseSave(saveText);
  const extra = hasOurState(saved) ? await leftoverDeletes(ipt, family, leftoverRules) : new Map<Table, string[]>();
  return { family, saveText, restoreText: renderTransaction(rules, saved, extra) };
}

async function execute(ipt: Iptables, plans: readonly Plan[], log: Log, verb: string): Promise<void> {
  const done: Plan[] = [];
  for (const p of plans) {
    if (p.restoreText === '') continue;
    const r = await ipt.restore(p.family, p.restoreText, true);
    if (r.code === 0) {
      done.push(p);
      continue;
    }
    // Tables commit one by one inside a restore, so an earlier table of this family may be changed too.
    const problems: string[] = [];
    for (const q of [...done, p].reverse()) {
      const snapshot = snapshotOf(q.saveText, touchedTables(q.restoreText));
      if (snapshot === '') continue;
      const back = await ipt.restore(q.family, snapshot, false);
      if (back.code !== 0) problems.push(`rollback of IPv${q.family} failed too: ${oneLine(back.stderr)}`);
    }
    const msg = `${ipt.describe(p.family)} failed (exit ${r.code}): ${oneLine(r.stderr) || 'no message'}`;
    throw new UserError([msg, ...problems].join('; '));
  }
  for (const p of done) log(`${verb} with ${ipt.describe(p.family)}`);
}

/** Writes the capture rules (IPv4, and IPv6 when enabled). */
export async function apply(cfg: CaptureConfig, rules: RuleSet, backend: Backend, log: Log): Promise<void> {
  const detected = await detectBackend(backend);
  const families: Family[] = cfg.ipv6 ? [4, 6] : [4];
  if (cfg.ipv6 && !detected.iptables.available(6)) throw new UserError(`IPv6 is enabled but ${detected.iptables.describe(6)} is not installed`);
  const plans = await Promise.all(families.map((f) => plan(detected, f, f === 4 ? rules.v4 : rules.v6, f === 4 ? rules.v4 : rules.v6)));
  await execute(detected.iptables, plans, log, 'applied');
  if (cfg.ipv6) await addIPv6PassthroughAddress(log);
  if (cfg.mode === 'TPROXY') await configureTproxyRoutes(cfg, families);
}

/**
 * Removes every ISTIO_* chain and the rules pointing at them, plus this configuration's other rules.
 * With `print`, only reads the tables and prints the removal it would run (cleanup's dry run).
 */
export async function cleanup(cfg: CaptureConfig, backend: Backend, log: Log, print?: (text: string) => void): Promise<void> {
  const detected = await detectBackend(backend);
  const all = generateRules({ ...cfg, ipv6: true });
  const v4 = await plan(detected, 4, [], all.v4);
  // IPv6 is cleaned when the machine has it; a kernel or image without ip6tables has nothing to clean.
  const v6 = detected.iptables.available(6) ? await plan(detected, 6, [], all.v6).catch(() => undefined) : undefined;
  const plans = v6 ? [v4, v6] : [v4];
  if (print) {
    for (const p of plans) print(`# ${p.family === 4 ? 'iptables' : 'ip6tables'}-restore --noflush input (IPv${p.family})\n${p.restoreText}`);
    return;
  }
  if (cfg.mode === 'TPROXY') await removeTproxyRoutes(cfg);
  if (plans.every((p) => p.restoreText === '')) {
    log('nothing to clean up');
    return;
  }
  await execute(detected.iptables, plans, log, 'cleaned up');
}

/** Best effort: the policy rule and route table TPROXY mode added (absent ones are fine). */
async function removeTproxyRoutes(cfg: CaptureConfig): Promise<void> {
  for (const fam of ['inet', 'inet6']) {
    await run('ip', ['-f', fam, 'rule', 'del', 'fwmark', cfg.tproxyMark, 'lookup', cfg.tproxyRouteTable]);
    await run('ip', ['-f', fam, 'route', 'flush', 'table', cfg.tproxyRouteTable]);
  }
}

/** Istio's IPv6 inbound passthrough binds ::6, which lo does not have by default. */
async function addIPv6PassthroughAddress(log: Log): Promise<void> {
  const r = await run('ip', ['-6', 'addr', 'replace', '::6/128', 'dev', 'lo']);
  if (r.code !== 0) log(`warning: could not add ::6/128 to lo: ${oneLine(r.stderr)}`);
}

/** TPROXY delivers marked packets locally through policy routing: mark -> table -> local default via lo. */
async function configureTproxyRoutes(cfg: CaptureConfig, families: readonly Family[]): Promise<void> {
  for (const f of families) {
    const fam = f === 4 ? 'inet' : 'inet6';
    // `ip rule add` duplicates on re-runs; delete first (absent is fine).
    await run('ip', ['-f', fam, 'rule', 'del', 'fwmark', cfg.tproxyMark, 'lookup', cfg.tproxyRouteTable]);
    for (const args of [
      ['-f', fam, 'rule', 'add', 'fwmark', cfg.tproxyMark, 'lookup', cfg.tproxyRouteTable],
      ['-f', fam, 'route', 'replace', 'local', 'default', 'dev', 'lo', 'table', cfg.tproxyRouteTable],
    ]) {
      const r = await run('ip', args);
      if (r.code !== 0) throw new UserError(`ip ${args.join(' ')} failed: ${oneLine(r.stderr)}`);
    }
  }
}
