import {
  AdmissionregistrationV1Api,
  ApiException,
  CoreV1Api,
  type KubeConfig,
  type V1MutatingWebhookConfiguration,
  type V1ValidatingWebhookConfiguration,
  type V1Secret,
} from '@kubernetes/client-node';
import { X509Certificate } from 'node:crypto';
import { UserError } from '../common/errors.js';
import { reconcileBundle, type BundleNames, type BundleOptions, type CertBundle, type Issued } from './bundle.js';
import type { ServingCert } from './inspect.js';
import { CERT_FILES, DEFAULT_NAMESPACE } from './names.js';

/**
 * Self-managed mode: the CA and serving pair live in a Secret that every replica reads; the
 * first replica to start creates it, whoever notices the serving certificate is due renews it,
 * and the CA goes into the caBundle of the webhook configuration. All writes are conditional
 * on resourceVersion (create fails if it exists, replace fails if it changed), and a replica
 * that loses a race re-reads and adopts the winner's result instead of overwriting it.
 */

export const DEFAULT_SECRET_NAME = 'tandem-webhook-certs';
/** The CA replaced by the last CA rotation, trusted alongside the new one for a grace period. */
export const PREVIOUS_CA_KEY = 'ca-previous.crt';
export const PREVIOUS_CA_UNTIL_ANNOTATION = 'tandem.io/previous-ca-trusted-until';
const DEFAULT_PREVIOUS_CA_GRACE_MS = 24 * 3_600_000;
export const DEFAULT_WEBHOOK_CONFIG_NAME = 'tandem-sidecar-injector';
const MANAGED_BY = { 'app.kubernetes.io/managed-by': 'tandem' };

export function statusOf(err: unknown): number | undefined {
  return err instanceof ApiException ? err.code : undefined;
}

function decode(data: Record<string, string> | undefined, key: string): string | undefined {
  const v = data?.[key];
  return v === undefined ? undefined : Buffer.from(v, 'base64').toString('utf8');
}

function encode(bundle: CertBundle): Record<string, string> {
  const b64 = (s: string): string => Buffer.from(s).toString('base64');
  return {
    [CERT_FILES.ca]: b64(bundle.caPem),
    ...(bundle.caKeyPem !== undefined ? { [CERT_FILES.caKey]: b64(bundle.caKeyPem) } : {}),
    [CERT_FILES.cert]: b64(bundle.certPem),
    [CERT_FILES.key]: b64(bundle.keyPem),
  };
}

export interface SecretCertsOptions extends BundleOptions {
  kubeConfig: KubeConfig;
  /** namespace of the Secret (default: `namespace`, else tandem-system) */
  secretNamespace?: string;
  secretName?: string;
  /** conflicts tolerated before giving up (default 5) */
  maxAttempts?: number;
  /** after a CA rotation, how long the old CA stays in the caBundle (default 24 h; 0: drop at once) */
  previousCaGraceMs?: number;
}

export interface SecretCertsResult {
  /** created: no Secret existed; renewed: this replica wrote new material; kept: valid as found (possibly written by another replica) */
  action: 'created' | 'renewed' | 'kept';
  issued: Issued;
  reason: string;
  bundle: CertBundle;
  serving: ServingCert;
  resourceVersion?: string;
  /** optimistic-concurrency conflicts met on the way (another replica won a race) */
  conflicts: number;
  /**
   * What the caBundle should trust: the CA, plus, for a grace period after a CA rotation, the
   * previous CA, so that replicas still serving a certificate of the old CA stay reachable
   * until their next sync installs the new pair.
   */
  trustPem: string;
}

function stillValid(pem: string, now: Date): boolean {
  try {
    return new Date(new X509Certificate(pem).validTo).getTime() > now.getTime();
  } catch {
    return false;
  }
}

/** Reads, and when needed creates or renews, the Secret holding the webhook's CA and serving pair. */
export async function ensureSecretCerts(opts: SecretCertsOptions): Promise<SecretCertsResult> {
  const core = opts.kubeConfig.makeApiClient(CoreV1Api);
  const namespace = opts.secretNamespace ?? opts.namespace ?? DEFAULT_NAMESPACE;
  const name = opts.secretName ?? DEFAULT_SECRET_NAME;
  const at = (key: string): string => `Secret ${namespace}/${name} ${key}`;
  const names: BundleNames = { ca: at(CERT_FILES.ca), caKey: at(CERT_FILES.caKey), cert: at(CERT_FILES.cert), key: at(CERT_FILES.key) };
  const maxAttempts = opts.maxAttempts ?? 5;
  let conflicts = 0;

  for (let attempt = 0; attempt < maxAttempts; attempt++) {
    let secret: V1Secret | undefined;
    try {
      secret = await core.readNamespacedSecret({ name, namespace });
    } catch (err) {
      if (statusOf(err) !== 404) throw err;
    }
    const data = secret?.data;
    const now = opts.now ?? new Date();
    const r = await reconcileBundle(
      { ca: decode(data, CERT_FILES.ca), caKey: decode(data, CERT_FILES.caKey), cert: decode(data, CERT_FILES.cert), key: decode(data, CERT_FILES.key) },
      names,
      // forcing applies once: after a conflict, whatever the winner wrote is fresh
      { ...opts, force: opts.force === true && conflicts === 0 },
    );
    const oldCa = decode(data, CERT_FILES.ca);
    let previous = decode(data, PREVIOUS_CA_KEY);
    let until = secret?.metadata?.annotations?.[PREVIOUS_CA_UNTIL_ANNOTATION];
    if (r.issued === 'ca-and-serving' && oldCa !== undefined && oldCa !== r.bundle.caPem) {
      // A CA rotation: the outgoing CA stays trusted for the grace period.
      previous = oldCa;
      until = new Date(now.getTime() + (opts.previousCaGraceMs ?? DEFAULT_PREVIOUS_CA_GRACE_MS)).toISOString();
    }
    const trusted = previous !== undefined && until !== undefined && now.getTime() < Date.parse(until) && stillValid(previous, now);
    const trustPem = trusted ? `${r.bundle.caPem.trimEnd()}\n${previous!.trimEnd()}\n` : r.bundle.caPem;
    const base = { issued: r.issued, reason: r.reason, bundle: r.bundle, serving: r.serving, conflicts, trustPem };
    if (r.issued === 'none' && secret) return { ...base, action: 'kept', resourceVersion: secret.metadata?.resourceVersion };

    const { [PREVIOUS_CA_KEY]: _dropped, ...otherData } = secret?.data ?? {};
    const newData = { ...otherData, ...encode(r.bundle), ...(trusted ? { [PREVIOUS_CA_KEY]: Buffer.from(previous!).toString('base64') } : {}) };
    const { [PREVIOUS_CA_UNTIL_ANNOTATION]: _old, ...otherAnnotations } = secret?.metadata?.annotations ?? {};
    const annotations = { ...otherAnnotations, ...(trusted ? { [PREVIOUS_CA_UNTIL_ANNOTATION]: until! } : {}) };
    try {
      if (!secret) {
        const created = await core.createNamespacedSecret({
          namespace,
          body: { apiVersion: 'v1', kind: 'Secret', type: 'kubernetes.io/tls', metadata: { name, namespace, labels: MANAGED_BY, annotations }, data: newData },
        });
        return { ...base, action: 'created', resourceVersion: created.metadata?.resourceVersion };
      }
      // resourceVersion makes this a compare-and-swap: a concurrent writer turns it into a 409.
      const replaced = await core.replaceNamespacedSecret({
        name,
        namespace,
        body: { ...secret, metadata: { ...secret.metadata, annotations }, type: secret.type ?? 'kubernetes.io/tls', data: newData },
      });
      return { ...base, action: 'renewed', resourceVersion: replaced.metadata?.resourceVersion };
    } catch (err) {
      if (statusOf(err) !== 409) throw err;
      conflicts++;
    }
  }
  throw new Error(`Secret ${namespace}/${name}: still conflicting after ${maxAttempts} attempts`);
}

export interface PatchCaBundleOptions {
  kubeConfig: KubeConfig;
  /** which configuration kind (default mutating: the injector) */
  kind?: WebhookConfigKind;
  /** configuration name (default tandem-sidecar-injector, or tandem-validator for `validating`) */
  name?: string;
  caPem: string;
  maxAttempts?: number;
}

export interface PatchCaBundleResult {
  changed: boolean;
  /** names of the webhooks whose caBundle was set */
  webhooks: string[];
  resourceVersion?: string;
  conflicts: number;
}

export type WebhookConfigKind = 'mutating' | 'validating';

/** The ValidatingWebhookConfiguration of `/validate` (manifests/base/validatingwebhookconfiguration.yaml). */
export const DEFAULT_VALIDATOR_CONFIG_NAME = 'tandem-validator';

interface WebhookConfig {
  metadata?: { resourceVersion?: string };
  webhooks?: Array<{ name: string; clientConfig: { caBundle?: string } }>;
}

/** The two configuration kinds differ only in their API calls; the caBundle logic is the same. */
function webhookConfigApi(kubeConfig: KubeConfig, kind: WebhookConfigKind) {
  const api = kubeConfig.makeApiClient(AdmissionregistrationV1Api);
  return kind === 'mutating'
    ? {
        title: 'MutatingWebhookConfiguration',
        read: (name: string): Promise<WebhookConfig> => api.readMutatingWebhookConfiguration({ name }),
        replace: (name: string, body: WebhookConfig): Promise<WebhookConfig> =>
          api.replaceMutatingWebhookConfiguration({ name, body: body as V1MutatingWebhookConfiguration }),
      }
    : {
        title: 'ValidatingWebhookConfiguration',
        read: (name: string): Promise<WebhookConfig> => api.readValidatingWebhookConfiguration({ name }),
        replace: (name: string, body: WebhookConfig): Promise<WebhookConfig> =>
          api.replaceValidatingWebhookConfiguration({ name, body: body as V1ValidatingWebhookConfiguration }),
      };
}

/** Sets `clientConfig.caBundle` of every webhook in the configuration, by conditional replace. */
export async function patchWebhookCaBundle(opts: PatchCaBundleOptions): Promise<PatchCaBundleResult> {
  const kind = opts.kind ?? 'mutating';
  const api = webhookConfigApi(opts.kubeConfig, kind);
  const name = opts.name ?? (kind === 'mutating' ? DEFAULT_WEBHOOK_CONFIG_NAME : DEFAULT_VALIDATOR_CONFIG_NAME);
  if (!opts.caPem.includes('-----BEGIN CERTIFICATE-----')) throw new UserError(`caBundle for ${name}: no PEM certificate given`);
  const caBundle = Buffer.from(opts.caPem).toString('base64');
  const maxAttempts = opts.maxAttempts ?? 5;
  let conflicts = 0;
  for (let attempt = 0; attempt < maxAttempts; attempt++) {
    let config: WebhookConfig;
    try {
      config = await api.read(name);
    } catch (err) {
      if (statusOf(err) === 404) throw new UserError(`${api.title} ${name} not found`, { cause: err });
      throw err;
    }
    const webhooks = config.webhooks ?? [];
    if (webhooks.length === 0) throw new UserError(`${api.title} ${name} has no webhooks to give a caBundle`);
    const names = webhooks.map((w) => w.name);
    if (webhooks.every((w) => w.clientConfig.caBundle === caBundle)) {
      return { changed: false, webhooks: names, resourceVersion: config.metadata?.resourceVersion, conflicts };
    }
    const body: WebhookConfig = {
      ...config,
      webhooks: webhooks.map((w) => ({ ...w, clientConfig: { ...w.clientConfig, caBundle } })),
    };
    try {
      const updated = await api.replace(name, body);
      return { changed: true, webhooks: names, resourceVersion: updated.metadata?.resourceVersion, conflicts };
    } catch (err) {
      if (statusOf(err) !== 409) throw err;
      conflicts++;
    }
  }
  throw new Error(`${api.title} ${name}: still conflicting after ${maxAttempts} attempts`);
}
