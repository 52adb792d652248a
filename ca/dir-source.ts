import { access } from 'node:fs/promises';
import { join } from 'node:path';
import { loadAuthority, PLUGIN_FILES, type Authority } from './authority.js';
import { readPluginDir, writePluginDir } from './plugin-dir.js';
import { createSelfSignedRoot } from './root.js';

/** The local CA directory of `tandem serve` without a cluster. */
export const DEFAULT_CA_DIR = '.tandem/ca';

/**
 * The mesh CA from a directory in the plug-in layout: created (self-signed) when the directory has
 * no ca-cert.pem yet, else loaded and checked; a broken directory is an error naming the file,
 * never replaced by a fresh root (workloads would silently stop trusting each other).
 */
export async function loadDirCa(dir: string, opts: { trustDomain?: string; now?: Date } = {}): Promise<{ authority: Authority; created: boolean }> {
  const exists = await access(join(dir, PLUGIN_FILES.caCert)).then(() => true, () => false);
  if (!exists) {
    const pems = await createSelfSignedRoot({ trustDomain: opts.trustDomain, now: opts.now });
    const where = await writePluginDir(dir, pems);
    return { authority: await loadAuthority(pems, where, opts.now), created: true };
  }
  const { pems, where } = await readPluginDir(dir);
  return { authority: await loadAuthority(pems, where, opts.now), created: false };
}
