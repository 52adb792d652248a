import { mkdir, rename, writeFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { UserError } from '../common/errors.js';
import { reconcileBundle, type BundleOptions, type CertBundle, type Issued } from './bundle.js';
import type { ServingCert } from './inspect.js';
import { CERT_FILES } from './names.js';
import { readOptional } from './load.js';

export type { Issued } from './bundle.js';

export interface EnsureCertsOptions extends BundleOptions {
  dir: string;
}

export interface CertFiles {
  ca: string;
  caKey: string;
  cert: string;
  key: string;
}

export interface EnsureCertsResult {
  /** true when files were written */
  created: boolean;
  issued: Issued;
  /** why files were (or were not) written, for logs and the CLI */
  reason: string;
  dir: string;
  files: CertFiles;
  caPem: string;
  serving: ServingCert;
}

export function certFiles(dir: string): CertFiles {
  return { ca: join(dir, CERT_FILES.ca), caKey: join(dir, CERT_FILES.caKey), cert: join(dir, CERT_FILES.cert), key: join(dir, CERT_FILES.key) };
}

/** Writes through a temporary file and a rename, so a watcher never reads half a file. */
export async function writeFileAtomic(file: string, data: string, mode: number): Promise<void> {
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    await writeFile(tmp, data, { mode });
    await rename(tmp, file);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw new UserError(`cannot write ${file} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, { cause: err });
  }
}

/**
 * Writes a bundle into `dir` (keys 0600). Keys go first: a watcher reading between the
 * renames sees a key/cert mismatch and keeps the old pair until the last rename lands.
 */
export async function writeCertFiles(dir: string, bundle: CertBundle, which: 'all' | 'serving' = 'all'): Promise<CertFiles> {
  const files = certFiles(dir);
  await mkdir(dir, { recursive: true, mode: 0o755 }).catch((err: NodeJS.ErrnoException) => {
    throw new UserError(`cannot create ${dir} (${err.code ?? err.message})`, { cause: err });
  });
  if (which === 'all') {
    if (bundle.caKeyPem !== undefined) await writeFileAtomic(files.caKey, bundle.caKeyPem, 0o600);
    await writeFileAtomic(files.ca, bundle.caPem, 0o644);
  }
  await writeFileAtomic(files.key, bundle.keyPem, 0o600);
  await writeFileAtomic(files.cert, bundle.certPem, 0o644);
  return files;
}

/**
 * Makes `dir` hold a CA (ca.crt, ca.key) and a serving pair (tls.crt, tls.key) valid for the
 * webhook Service. Idempotent: see reconcileBundle for what is kept and what is re-issued.
 */
export async function ensureCerts(opts: EnsureCertsOptions): Promise<EnsureCertsResult> {
  const files = certFiles(opts.dir);
  const [ca, caKey, cert, key] = await Promise.all([files.ca, files.caKey, files.cert, files.key].map(readOptional));
  const r = await reconcileBundle({ ca, caKey, cert, key }, files, opts);
  if (r.issued !== 'none') await writeCertFiles(opts.dir, r.bundle, r.issued === 'serving' ? 'serving' : 'all');
  return { created: r.issued !== 'none', issued: r.issued, reason: r.reason, dir: opts.dir, files, caPem: r.bundle.caPem, serving: r.serving };
}
