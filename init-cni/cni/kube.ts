import { isObject } from '../../common/objects.js';
import { CNI_ERROR, CniError, TANDEM_ERROR } from './spec.js';

/**
 * Reading one pod from the apiserver with the kubeconfig the node agent writes. Hand-written over
 * node:https rather than @kubernetes/client-node: the plugin starts on every pod creation, and the
 * client library took 1.4-1.9 s to import against 0.14-0.22 s for `node -e 0` (3 runs each of
 * `time node -e "import('@kubernetes/client-node')"` on the shared 2-core dev machine), for a
 * one-request need. The kubeconfig is the subset the agent writes (JSON, which is also YAML):
 * server, certificate-authority-data or insecure-skip-tls-verify, and a bearer token.
 */

export interface PluginKubeconfig {
  readonly server: string;
  readonly ca?: string;
  readonly insecure: boolean;
  readonly token: string;
}

function named(list: unknown, name: unknown, key: string): Record<string, unknown> | undefined {
  if (!Array.isArray(list)) return undefined;
  const entry = list.find((e) => isObject(e) && (name === undefined || e.name === name)) as Record<string, unknown> | undefined;
  return entry && isObject(entry[key]) ? (entry[key] as Record<string, unknown>) : undefined;
}

/** Parses the agent's kubeconfig; `where` names the file in errors. */
export function parseKubeconfig(text: string, where: string): PluginKubeconfig {
  const bad = (why: string): CniError => new CniError(CNI_ERROR.INVALID_CONFIG, `kubeconfig ${where}: ${why}`);
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw bad('not JSON (the node agent writes it as JSON)');
  }
  if (!isObject(raw)) throw bad('not an object');
  const ctxName = typeof raw['current-context'] === 'string' ? raw['current-context'] : undefined;
  const ctx = named(raw.contexts, ctxName, 'context');
  const cluster = named(raw.clusters, ctx?.cluster, 'cluster');
  const user = named(raw.users, ctx?.user, 'user');
  if (!cluster || typeof cluster.server !== 'string' || !/^https?:\/\//.test(cluster.server)) throw bad('no cluster server URL');
  if (!user || typeof user.token !== 'string' || user.token === '') throw bad('no user token');
  const caData = cluster['certificate-authority-data'];
  return {
    server: cluster.server.replace(/\/+$/, ''),
    ...(typeof caData === 'string' ? { ca: Buffer.from(caData, 'base64').toString('utf8') } : {}),
    insecure: cluster['insecure-skip-tls-verify'] === true,
    token: user.token,
  };
}

/** GET /api/v1/namespaces/NS/pods/NAME; the whole request is bounded by `timeoutMs`. */
export async function getPod(kc: PluginKubeconfig, namespace: string, name: string, timeoutMs: number): Promise<unknown> {
  const url = new URL(`${kc.server}/api/v1/namespaces/${encodeURIComponent(namespace)}/pods/${encodeURIComponent(name)}`);
  const mod = url.protocol === 'https:' ? await import('node:https') : await import('node:http');
  const where = `pod ${namespace}/${name}`;
  return new Promise((resolve, reject) => {
    const req = mod.request(
      url,
      {
        method: 'GET',
        headers: { authorization: `Bearer ${kc.token}`, accept: 'application/json' },
        ...(kc.ca ? { ca: kc.ca } : {}),
        rejectUnauthorized: !kc.insecure,
        timeout: timeoutMs,
        signal: AbortSignal.timeout(timeoutMs),
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => {
          if (res.statusCode === 200) {
            try {
              resolve(JSON.parse(body));
            } catch {
              reject(new CniError(TANDEM_ERROR.POD_UNKNOWN, `reading ${where}: the apiserver's answer is not JSON`));
            }
            return;
          }
          let message = body.slice(0, 200);
          try {
            const s: unknown = JSON.parse(body);
            if (isObject(s) && typeof s.message === 'string') message = s.message;
          } catch {
            // keep the raw text
          }
          // The pod may not be visible yet (informer lag on an HA apiserver): the runtime may retry.
          const code = res.statusCode === 404 || (res.statusCode ?? 500) >= 500 ? CNI_ERROR.TRY_AGAIN_LATER : TANDEM_ERROR.POD_UNKNOWN;
          reject(new CniError(code, `reading ${where}: apiserver answered ${res.statusCode}: ${message}`));
        });
        res.on('error', (err) => reject(new CniError(CNI_ERROR.TRY_AGAIN_LATER, `reading ${where}: ${err.message}`)));
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', (err) => reject(new CniError(CNI_ERROR.TRY_AGAIN_LATER, `reading ${where} from ${kc.server}: ${err.message}`)));
    req.end();
  });
}
