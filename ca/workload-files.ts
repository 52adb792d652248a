import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, readlink, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** The workload files of the identity contract (design.md), as Istio's agent writes them. */
export const WORKLOAD_FILES = { chain: 'cert-chain.pem', key: 'key.pem', root: 'root-cert.pem' } as const;

export interface WorkloadPems {
  /** leaf first, then intermediates (no root) */
  chainPem: string;
  keyPem: string;
  rootPem: string;
}

const DATA_LINK = '..data';

/**
 * Writes key, chain and root so that a reader never pairs a key with another key's chain, using
 * the layout kubelet gives projected volumes (and Envoy's SDS `watched_directory` understands):
 * each issue goes into a fresh hidden directory `..<stamp>`; `..data` is a symlink to the current
 * one, swapped by rename(2) (atomic); `cert-chain.pem`, `key.pem` and `root-cert.pem` are symlinks
 * through `..data`. Opening the three names resolves `..data` each time, so a reader that must be
 * exact resolves `..data` once and reads inside that directory ({@link readWorkloadFiles}); the
 * previous directory is removed after the swap, so a reader caught mid-swap gets ENOENT and retries.
 */
export async function writeWorkloadFiles(dir: string, pems: WorkloadPems): Promise<void> {
  await mkdir(dir, { recursive: true });
  const stamp = `..${new Date().toISOString().replace(/[:.]/g, '_')}.${randomBytes(4).toString('hex')}`;
  const version = join(dir, stamp);
  await mkdir(version, { mode: 0o755 });
  await writeFile(join(version, WORKLOAD_FILES.chain), pems.chainPem, { mode: 0o644 });
  await writeFile(join(version, WORKLOAD_FILES.key), pems.keyPem, { mode: 0o600 });
  await writeFile(join(version, WORKLOAD_FILES.root), pems.rootPem, { mode: 0o644 });

  const tmpLink = join(dir, `${DATA_LINK}_tmp.${randomBytes(4).toString('hex')}`);
  await symlink(stamp, tmpLink);
  await rename(tmpLink, join(dir, DATA_LINK));

  // The user-facing names: symlinks through ..data, made once (replacing files of an older layout by rename).
  for (const name of Object.values(WORKLOAD_FILES)) {
    const target = join(DATA_LINK, name);
    if ((await readlink(join(dir, name)).catch(() => undefined)) === target) continue;
    const tmp = join(dir, `.${name}.tmp.${randomBytes(4).toString('hex')}`);
    await symlink(target, tmp);
    await rename(tmp, join(dir, name));
  }
  // Old versions go last, after no name points into them any more (and stray ones of a crashed write too).
  for (const entry of await readdir(dir)) {
    if (entry.startsWith('..') && entry !== DATA_LINK && entry !== stamp && !entry.startsWith(`${DATA_LINK}_tmp`)) {
      await rm(join(dir, entry), { recursive: true, force: true });
    }
  }
}

/** Reads one consistent version (resolving `..data` once), retrying when a swap removed it underneath. */
export async function readWorkloadFiles(dir: string, attempts = 5): Promise<WorkloadPems> {
  for (let i = 0; ; i++) {
    try {
      const version = join(dir, await readlink(join(dir, DATA_LINK)));
      const [chainPem, keyPem, rootPem] = await Promise.all([
        readFile(join(version, WORKLOAD_FILES.chain), 'utf8'),
        readFile(join(version, WORKLOAD_FILES.key), 'utf8'),
        readFile(join(version, WORKLOAD_FILES.root), 'utf8'),
      ]);
      return { chainPem, keyPem, rootPem };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || i + 1 >= attempts) throw err;
    }
  }
}
