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

/** The file's text, or undefined when it does not exist; any other failure is a UserError naming it. */
export async function readOptional(file: string): Promise<string | undefined> {
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
  // Read in parallel, but report problems in a fixed order (certificate, then key): with
  // Promise.all the first read to fail would win, and the message would vary from run to run.
  const [cert, key, ca] = await Promise.allSettled([readRequired(certFile), readRequired(keyFile), readOptional(caFile)]);
  for (const r of [cert, key, ca]) if (r.status === 'rejected') throw r.reason;
  const certPem = (cert as PromiseFulfilledResult<string>).value;
  const keyPem = (key as PromiseFulfilledResult<string>).value;
  const caPem = (ca as PromiseFulfilledResult<string | undefined>).value;
  const expect = serviceDnsNames(opts.service ?? DEFAULT_SERVICE, opts.namespace ?? DEFAULT_NAMESPACE).slice(0, 1);
  return inspectServingCert(
    { certPem, keyPem, certFile, keyFile, ...(caPem !== undefined ? { caPem, caFile } : {}) },
    { expectDnsNames: expect, ...(opts.now ? { now: opts.now } : {}) },
  );
}
