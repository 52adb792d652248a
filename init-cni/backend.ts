import { spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { UserError } from '../common/errors.js';
import type { Backend } from './config.js';
import type { Family } from './net.js';

/**
 * The iptables binaries: which backend (nft or legacy), and running save / restore / check
 * with the xtables lock handled. The only module here that starts processes for iptables.
 */

export interface ExecResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export function run(cmd: string, args: readonly string[], input?: string): Promise<ExecResult> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', (err) => resolve({ code: 127, stdout, stderr: stderr + err.message }));
    child.on('close', (code) => resolve({ code: code ?? 1, stdout, stderr }));
    child.stdin.on('error', () => undefined);
    child.stdin.end(input ?? '');
  });
}

function which(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(delimiter)) {
    if (!dir) continue;
    const p = join(dir, name);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      // keep looking
    }
  }
  return undefined;
}

export type BackendName = 'nft' | 'legacy' | 'system';

const SUFFIX: Readonly<Record<BackendName, string>> = { nft: '-nft', legacy: '-legacy', system: '' };

function binary(family: Family, backend: BackendName, tool: '' | '-save' | '-restore'): string {
  return `${family === 4 ? 'iptables' : 'ip6tables'}${SUFFIX[backend]}${tool}`;
}

function installed(family: Family, backend: BackendName): boolean {
  return which(binary(family, backend, '-restore')) !== undefined && which(binary(family, backend, '-save')) !== undefined;
}

/** The iptables binaries of one choice of backend per IP family (Istio decides each family on its own). */
export class Iptables {
  constructor(private readonly backends: Readonly<Record<Family, BackendName>>) {}

  /** The backend used for this family. */
  backend(family: Family): BackendName {
    return this.backends[family];
  }

  private bin(family: Family, tool: '' | '-save' | '-restore'): string {
    return binary(family, this.backends[family], tool);
  }

  describe(family: Family): string {
    return `${this.bin(family, '-restore')} (IPv${family}, ${this.backends[family]})`;
  }

  available(family: Family): boolean {
    return installed(family, this.backends[family]);
  }

  async save(family: Family): Promise<string> {
    const r = await run(this.bin(family, '-save'), []);
    if (r.code !== 0) throw new UserError(`${this.bin(family, '-save')} failed: ${oneLine(r.stderr)}`);
    return r.stdout;
  }

  /** iptables-restore, waiting for the xtables lock and retrying briefly if it is still held (exit 4). */
  async restore(family: Family, text: string, noflush: boolean): Promise<ExecResult> {
    const args = [...(noflush ? ['--noflush'] : []), '-w', '5'];
    let r: ExecResult = { code: 1, stdout: '', stderr: '' };
    for (let attempt = 0; attempt < 4; attempt++) {
      r = await run(this.bin(family, '-restore'), args, text);
      if (r.code !== 4) return r;
      await new Promise((res) => setTimeout(res, 250 * (attempt + 1)));
    }
    return r;
  }

  /** `iptables -C`: whether a rule exists. */
  async exists(family: Family, table: string, chain: string, spec: readonly string[]): Promise<boolean> {
    const r = await run(this.bin(family, ''), ['-w', '5', '-t', table, '-C', chain, ...spec]);
    return r.code === 0;
  }
}

/** iptables' error text on one line, without its "Try --help" advice. */
export function oneLine(stderr: string): string {
  return stderr
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('Try `'))
    .join('; ');
}

function countRules(saveText: string): number {
  return saveText.split('\n').filter((l) => l.startsWith('-A ')).length;
}

/** What detection found for one IP family. */
export interface FamilyProbe {
  /** rules `ip(6)tables-legacy-save` listed; undefined when legacy is not installed or its save failed */
  readonly legacyRules: number | undefined;
  /** the nft variant is installed (and its save ran, when it was run) */
  readonly nft: boolean;
  /** plain `ip(6)tables-restore` / `-save` are installed */
  readonly system: boolean;
}

/**
 * Istio's choice for one IP family (tools/istio-iptables DetectIptablesVersion): legacy when it holds
 * any rule (kube-proxy or the CNI programmed this netns with it), else nft, else the unsuffixed
 * binaries. Legacy with no rules is still used when nothing else is installed: Istio would reach it
 * through the plain `iptables` link, which a legacy-only image may lack. Undefined: nothing usable.
 */
export function chooseBackend(p: FamilyProbe): BackendName | undefined {
  if (p.legacyRules !== undefined && p.legacyRules > 0) return 'legacy';
  if (p.nft) return 'nft';
  if (p.system) return 'system';
  if (p.legacyRules !== undefined) return 'legacy';
  return undefined;
}

interface FamilyDetection {
  readonly backend: BackendName | undefined;
  /** the chosen backend's iptables-save output, when detection read it */
  readonly save?: string;
}

/**
 * Probes one family as Istio does: legacy's rules are read whenever legacy is installed (they decide).
 * nft's save is run for IPv4 only, where apply reuses its text; elsewhere being installed is enough.
 */
async function detectFamily(family: Family): Promise<FamilyDetection> {
  const haveLegacy = installed(family, 'legacy');
  const haveNft = installed(family, 'nft');
  const system = installed(family, 'system');
  const [l, n] = await Promise.all([
    haveLegacy ? run(binary(family, 'legacy', '-save'), []) : undefined,
    haveNft && family === 4 ? run(binary(family, 'nft', '-save'), []) : undefined,
  ]);
  const backend = chooseBackend({
    legacyRules: l !== undefined && l.code === 0 ? countRules(l.stdout) : undefined,
    nft: haveNft && (n === undefined || n.code === 0),
    system,
  });
  const save = backend === 'legacy' ? l?.stdout : backend === 'nft' ? n?.stdout : undefined;
  return save === undefined ? { backend } : { backend, save };
}

export interface Detected {
  readonly iptables: Iptables;
  /** The IPv4 iptables-save output read while detecting, when there was one: saves a process. */
  readonly v4Save?: string;
}

/**
 * Chooses the backend as Istio does: forced by flag/env for both families; otherwise per IP family
 * (see chooseBackend), so a node whose kube-proxy programs IPv4 with legacy and IPv6 with nft gets
 * each family's rules where the rest of its rules are.
 */
export async function detectBackend(requested: Backend): Promise<Detected> {
  if (requested !== 'auto') {
    const ipt = new Iptables({ 4: requested, 6: requested });
    if (!ipt.available(4)) throw new UserError(`--iptables-backend ${requested}: iptables-${requested}-restore / -save not found in PATH`);
    return { iptables: ipt };
  }
  const [v4, v6] = await Promise.all([detectFamily(4), detectFamily(6)]);
  if (v4.backend === undefined) throw new UserError('iptables-restore / iptables-save not found in PATH (install iptables)');
  // No IPv6 binaries at all: name IPv4's choice, so that "not installed" errors name a real variant.
  const iptables = new Iptables({ 4: v4.backend, 6: v6.backend ?? v4.backend });
  return v4.save === undefined ? { iptables } : { iptables, v4Save: v4.save };
}
