import { readFile } from 'node:fs/promises';
import { UserError } from '../common/errors.js';
import { certFiles, writeCertFiles } from './ensure.js';
import { ensureSecretCerts, patchWebhookCaBundle, statusOf, type PatchCaBundleResult, type SecretCertsOptions, type SecretCertsResult } from './self-managed.js';

export interface SelfManagedSyncOptions extends SecretCertsOptions {
  /** local directory the webhook serves from (and watches) */
  dir: string;
  /** MutatingWebhookConfiguration to give the CA (default tandem-sidecar-injector); false to leave it alone */
  webhookConfigName?: string | false;
  /** ValidatingWebhookConfiguration of `/validate` (default tandem-validator); false to leave it alone */
  validatorConfigName?: string | false;
}

export interface SelfManagedSyncResult {
  secret: SecretCertsResult;
  /** true when the local files changed (the webhook's reloader picks them up) */
  wroteFiles: boolean;
  caBundle?: PatchCaBundleResult;
  /** the validator's caBundle, or `missing` when that configuration is not installed */
  validatorCaBundle?: PatchCaBundleResult | 'missing';
}

async function same(file: string, content: string): Promise<boolean> {
  try {
    return (await readFile(file, 'utf8')) === content;
  } catch {
    return false;
  }
}

/**
 * One reconciliation of self-managed mode: the Secret (created or renewed when due), the
 * local cert dir (ca.crt, tls.crt, tls.key; the CA key stays in the Secret), and the caBundle
 * (the CA, plus the previous CA for a while after a CA rotation).
 */
export async function syncSelfManagedCerts(opts: SelfManagedSyncOptions): Promise<SelfManagedSyncResult> {
  const secret = await ensureSecretCerts(opts);
  const files = certFiles(opts.dir);
  const { caPem, certPem, keyPem } = secret.bundle;
  const current = (await Promise.all([same(files.ca, caPem), same(files.cert, certPem), same(files.key, keyPem)])).every(Boolean);
  if (!current) await writeCertFiles(opts.dir, { caPem, certPem, keyPem });
  const caBundle = opts.webhookConfigName === false
    ? undefined
    : await patchWebhookCaBundle({ kubeConfig: opts.kubeConfig, caPem: secret.trustPem, ...(opts.webhookConfigName ? { name: opts.webhookConfigName } : {}) });
  const validatorCaBundle = opts.validatorConfigName === false ? undefined : await patchValidator(opts, secret.trustPem);
  return { secret, wroteFiles: !current, ...(caBundle ? { caBundle } : {}), ...(validatorCaBundle ? { validatorCaBundle } : {}) };
}

/**
 * The validating webhook is optional in a cluster (an admin may leave `tandem-validator` out, and
 * installs from before it existed lack it): its absence is reported, not fatal, while any other
 * failure is. Its failurePolicy is Fail, so a configuration without our CA would refuse every Istio
 * config write: that is why the same CA goes into it on every sync.
 */
async function patchValidator(opts: SelfManagedSyncOptions, caPem: string): Promise<PatchCaBundleResult | 'missing'> {
  try {
    return await patchWebhookCaBundle({ kubeConfig: opts.kubeConfig, kind: 'validating', caPem, ...(opts.validatorConfigName ? { name: opts.validatorConfigName } : {}) });
  } catch (err) {
    // patchWebhookCaBundle turns the apiserver's 404 into a UserError caused by it
    if (err instanceof UserError && statusOf(err.cause) === 404) return 'missing';
    throw err;
  }
}

export interface SelfManagedLoopOptions extends SelfManagedSyncOptions {
  /** how often to re-check the Secret (default 1 h; renewal happens at 2/3 of the lifetime) */
  intervalMs?: number;
  onSync?: (r: SelfManagedSyncResult) => void;
  onError?: (err: Error) => void;
}

/**
 * Runs syncSelfManagedCerts now (the returned promise rejects if that first run fails, so a
 * replica without certificates does not start serving) and then every `intervalMs`; later
 * failures go to onError and are retried at the next tick.
 */
export async function startSelfManagedCerts(opts: SelfManagedLoopOptions): Promise<{ first: SelfManagedSyncResult; stop(): void }> {
  let first: SelfManagedSyncResult;
  try {
    first = await syncSelfManagedCerts(opts);
  } catch (err) {
    // An unreachable API server is the operator's to fix (kubeconfig, network), not a crash:
    // one line naming the server instead of an internal error with a stack.
    if (err instanceof UserError) throw err;
    const server = opts.kubeConfig.getCurrentCluster()?.server ?? 'the API server';
    throw new UserError(`webhook certificates (secret mode): cannot sync the Secret through ${server}: ${(err as Error).message ?? String(err)}`, { cause: err });
  }
  opts.onSync?.(first);
  let busy = false;
  const timer = setInterval(() => {
    if (busy) return;
    busy = true;
    syncSelfManagedCerts(opts)
      .then((r) => opts.onSync?.(r), (err: unknown) => opts.onError?.(err instanceof Error ? err : new Error(String(err))))
      .finally(() => (busy = false));
  }, opts.intervalMs ?? 3_600_000);
  timer.unref();
  return { first, stop: () => clearInterval(timer) };
}
