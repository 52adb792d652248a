import { type SpawnSyncReturns, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const repo = fileURLToPath(new URL('../../', import.meta.url));

/**
 * Runs `node bin/tandem iptables ARGS` with a clean environment (only PATH and `env`). Going
 * through `env -i` keeps tap's coverage hooks (injected into child processes via NODE_OPTIONS)
 * out of the child: they cannot load the extension-less ESM bin script.
 */
export function tandemIptables(args: readonly string[], env: Record<string, string> = {}, prefix: readonly string[] = []): SpawnSyncReturns<string> {
  const vars = Object.entries({ PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', ...env }).map(([k, v]) => `${k}=${v}`);
  return spawnSync('env', ['-i', ...vars, ...prefix, process.execPath, 'bin/tandem', 'iptables', ...args], { cwd: repo, encoding: 'utf8' });
}
