import { spawn } from 'node:child_process';
import { accessSync, constants, realpathSync } from 'node:fs';
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

export class Iptables {
  constructor(
    readonly backend: BackendName,
    private readonly suffix: string,
  ) {}

  private bin(family: Family, tool: '' | '-save' | '-restore'): string {
    return `${family === 4 ? 'iptables' : 'ip6tables'}${this.suffix}${tool}`;
  }

  describe(family: Family): string {
    return `${this.bin(family, '-restore')} (IPv${family}, ${this.backend})`;
  }

  available(family: Family): boolean {
    return which(this.bin(family, '-restore')) !== undefined && which(this.bin(family, '-save')) !== undefined;
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

export interface Detected {
  readonly iptables: Iptables;
  /** The IPv4 iptables-save output read while detecting, when there was one: saves a process. */
  readonly v4Save?: string;
}

/**
 * Chooses the backend as Istio does: forced by flag/env; otherwise the one that already holds rules
 * (the node's kube-proxy/CNI picked it); when neither or both do equally, the system default
 * (`iptables` as the distribution links it), else whichever variant is installed.
 */
export async function detectBackend(requested: Backend): Promise<Detected> {
  if (requested !== 'auto') {
    const ipt = new Iptables(requested, `-${requested}`);
    if (!ipt.available(4)) throw new UserError(`--iptables-backend ${requested}: iptables-${requested}-restore / -save not found in PATH`);
    return { iptables: ipt };
  }
  const nft = new Iptables('nft', '-nft');
  const legacy = new Iptables('legacy', '-legacy');
  const haveNft = nft.available(4);
  const haveLegacy = legacy.available(4);
  if (haveNft && haveLegacy) {
    const [n, l] = await Promise.all([run('iptables-nft-save', []), run('iptables-legacy-save', [])]);
    const nRules = n.code === 0 ? countRules(n.stdout) : -1;
    const lRules = l.code === 0 ? countRules(l.stdout) : -1;
    if (lRules > nRules) return { iptables: legacy, v4Save: l.stdout };
    if (nRules > lRules) return { iptables: nft, v4Save: n.stdout };
    const def = systemDefault();
    if (def === 'legacy') return { iptables: legacy, v4Save: l.stdout };
    return { iptables: nft, v4Save: n.stdout };
  }
  if (haveNft) return { iptables: nft };
  if (haveLegacy) return { iptables: legacy };
  const system = new Iptables('system', '');
  if (!system.available(4)) throw new UserError('iptables-restore / iptables-save not found in PATH (install iptables)');
  return { iptables: system };
}

/** What plain `iptables` is on this machine, from where its link points. */
function systemDefault(): 'nft' | 'legacy' | undefined {
  const p = which('iptables-restore');
  if (!p) return undefined;
  try {
    const real = realpathSync(p);
    if (real.includes('legacy')) return 'legacy';
    if (real.includes('nft')) return 'nft';
  } catch {
    // unresolvable link: no opinion
  }
  return undefined;
}
