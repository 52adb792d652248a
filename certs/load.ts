import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { UserError } from '../common/errors.js';
import { inspectServingCert, type ServingCert } from './inspect.js';
import { CERT_FILES, DEFAULT_NAMESPACE, DEFAULT_SERVICE, serviceDnsNames } from './names.js';

export interface LoadServingCertOptions {
  /** service/namespace whose `<svc>.<ns>.svc` name the certificate should carry (a warning otherwise) */
  service?: string;
  namespace?: string;
  now?: Date;
}

async function readRequired(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    throw new UserError(`cannot read ${file} (${code})`, { cause: err });
  }
}

async function readOptional(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new UserError(`cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, { cause: err });
  }
}

/** Reads and validates `tls.crt`/`tls.key` (and `ca.crt` when present) from a cert dir. */
export async function loadServingCert(dir: string, opts: LoadServingCertOptions = {}): Promise<ServingCert> {
  const certFile = join(dir, CERT_FILES.cert);
  const keyFile = join(dir, CERT_FILES.key);
  const caFile = join(dir, CERT_FILES.ca);
  const [certPem, keyPem, caPem] = await Promise.all([readRequired(certFile), readRequired(keyFile), readOptional(caFile)]);
  const expect = serviceDnsNames(opts.service ?? DEFAULT_SERVICE, opts.namespace ?? DEFAULT_NAMESPACE).slice(0, 1);
  return inspectServingCert(
    { certPem, keyPem, certFile, keyFile, ...(caPem !== undefined ? { caPem, caFile } : {}) },
    { expectDnsNames: expect, ...(opts.now ? { now: opts.now } : {}) },
  );
}
