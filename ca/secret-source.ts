import { ApiException, CoreV1Api, type KubeConfig, type V1Secret } from '@kubernetes/client-node';
import { UserError } from '../common/errors.js';
import { loadAuthority, PLUGIN_FILES, type Authority, type PluginPems, type PluginWhere } from './authority.js';
import { createSelfSignedRoot } from './root.js';

/**
 * The mesh CA in a cluster, as istiod finds it: Istio's plug-in Secret `cacerts` when an operator
 * provided one (tandem then signs as that intermediate; a broken one is a start-up error, never a
 * silent fallback), else tandem's own self-signed root in Secret `tandem-ca`, created by the first
 * replica to start. Creation is a plain create: a replica that loses the race gets 409
 * AlreadyExists, re-reads and adopts the winner's root, so every replica signs under one root.
 */
export const CA_NAMESPACE = 'tandem-system';
export const PLUGIN_SECRET = 'cacerts';
export const SELF_SIGNED_SECRET = 'tandem-ca';
/** Istio's Secret type for its self-signed CA Secret (istio-ca-secret). */
const SECRET_TYPE = 'istio.io/ca-root';

export interface SecretCaOptions {
  kubeConfig: KubeConfig;
  namespace?: string;
  trustDomain?: string;
  now?: Date;
}

export interface SecretCaResult {
  authority: Authority;
  source: 'cacerts' | 'tandem-ca';
  /** true when this call created tandem-ca */
  created: boolean;
}

function statusOf(err: unknown): number | undefined {
  return err instanceof ApiException ? err.code : undefined;
}

async function readSecret(core: CoreV1Api, namespace: string, name: string): Promise<V1Secret | undefined> {
  try {
    return await core.readNamespacedSecret({ name, namespace });
  } catch (err) {
    if (statusOf(err) === 404) return undefined;
    throw err;
  }
}

function secretWhere(namespace: string, name: string): PluginWhere {
  const at = (key: string): string => `Secret ${namespace}/${name} key ${key}`;
  return { caCert: at(PLUGIN_FILES.caCert), caKey: at(PLUGIN_FILES.caKey), certChain: at(PLUGIN_FILES.certChain), rootCert: at(PLUGIN_FILES.rootCert) };
}

/** The four parts from a Secret's data; a missing key is named. cert-chain.pem may be absent for a root (Istio allows that). */
function pemsFromSecret(secret: V1Secret, where: PluginWhere): PluginPems {
  const data = secret.data ?? {};
  const get = (part: keyof PluginPems, optional = false): string | undefined => {
    const v = data[PLUGIN_FILES[part]];
    if (v === undefined) {
      if (optional) return undefined;
      throw new UserError(`${where[part]}: missing`);
    }
    return Buffer.from(v, 'base64').toString('utf8');
  };
  const caCert = get('caCert')!;
  return { caCert, caKey: get('caKey')!, certChain: get('certChain', true) ?? caCert, rootCert: get('rootCert')! };
}

function encode(pems: PluginPems): Record<string, string> {
  const b64 = (s: string): string => Buffer.from(s).toString('base64');
  return { [PLUGIN_FILES.caCert]: b64(pems.caCert), [PLUGIN_FILES.caKey]: b64(pems.caKey), [PLUGIN_FILES.certChain]: b64(pems.certChain), [PLUGIN_FILES.rootCert]: b64(pems.rootCert) };
}

export async function loadSecretCa(opts: SecretCaOptions): Promise<SecretCaResult> {
  const core = opts.kubeConfig.makeApiClient(CoreV1Api);
  const namespace = opts.namespace ?? CA_NAMESPACE;

  const plugin = await readSecret(core, namespace, PLUGIN_SECRET);
  if (plugin) {
    const where = secretWhere(namespace, PLUGIN_SECRET);
    return { authority: await loadAuthority(pemsFromSecret(plugin, where), where, opts.now), source: 'cacerts', created: false };
  }

  const where = secretWhere(namespace, SELF_SIGNED_SECRET);
  const existing = await readSecret(core, namespace, SELF_SIGNED_SECRET);
  if (existing) return { authority: await loadAuthority(pemsFromSecret(existing, where), where, opts.now), source: 'tandem-ca', created: false };

  const pems = await createSelfSignedRoot({ trustDomain: opts.trustDomain, now: opts.now });
  try {
    await core.createNamespacedSecret({
      namespace,
      body: { apiVersion: 'v1', kind: 'Secret', type: SECRET_TYPE, metadata: { name: SELF_SIGNED_SECRET, namespace, labels: { 'app.kubernetes.io/managed-by': 'tandem' } }, data: encode(pems) },
    });
  } catch (err) {
    if (statusOf(err) !== 409) throw err;
    // Another replica created it first: sign under its root, not ours.
    const winner = await readSecret(core, namespace, SELF_SIGNED_SECRET);
    if (!winner) throw new Error(`Secret ${namespace}/${SELF_SIGNED_SECRET}: create conflicted but the Secret cannot be read`, { cause: err });
    return { authority: await loadAuthority(pemsFromSecret(winner, where), where, opts.now), source: 'tandem-ca', created: false };
  }
  return { authority: await loadAuthority(pems, where, opts.now), source: 'tandem-ca', created: true };
}
