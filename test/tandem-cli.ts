import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { main } from '../cli/main.js';

/** The repository root (tests spawn `bin/tandem` from here). */
export const REPO = fileURLToPath(new URL('../', import.meta.url));

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * The compiled CLI as users run it: `node bin/tandem ARGS` in its own process. Through `env -i`
 * because tap re-injects its loaders (NODE_OPTIONS) into child processes.
 */
export function spawnTandem(args: readonly string[], stdin?: string): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn('env', ['-i', `PATH=${process.env.PATH ?? ''}`, process.execPath, 'bin/tandem', ...args], { cwd: REPO, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(stdin ?? '');
  });
}

/** The CLI program in this process (cli/main.ts), with stdout and stderr captured. */
export async function runTandemInProcess(args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const out = process.stdout.write.bind(process.stdout);
  const err = process.stderr.write.bind(process.stderr);
  process.stdout.write = ((chunk: string | Uint8Array) => ((stdout += String(chunk)), true)) as typeof process.stdout.write;
  process.stderr.write = ((chunk: string | Uint8Array) => ((stderr += String(chunk)), true)) as typeof process.stderr.write;
  const saved = process.exitCode;
  try {
    const code = await main(['node', 'tandem', ...args]);
    return { code, stdout, stderr };
  } finally {
    process.stdout.write = out;
    process.stderr.write = err;
    process.exitCode = saved;
  }
}
