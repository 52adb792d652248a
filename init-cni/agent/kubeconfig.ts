/**
 * The kubeconfig the plugin reads pods with, pure: the agent's ServiceAccount token and the
 * cluster CA. Written as JSON (valid YAML, so kubectl reads it too) because the plugin parses it
 * without a YAML library (init-cni/cni/kube.ts).
 */
export interface KubeconfigInput {
  readonly server: string;
  readonly token: string;
  /** PEM of the cluster CA; without it the connection is not verified. */
  readonly caPem?: string;
}

export function pluginKubeconfig(i: KubeconfigInput): string {
  const cluster: Record<string, unknown> = { server: i.server };
  if (i.caPem) cluster['certificate-authority-data'] = Buffer.from(i.caPem).toString('base64');
  else cluster['insecure-skip-tls-verify'] = true;
  return (
    JSON.stringify(
      {
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [{ name: 'local', cluster }],
        users: [{ name: 'tandem-cni', user: { token: i.token } }],
        contexts: [{ name: 'tandem-cni-context', context: { cluster: 'local', user: 'tandem-cni' } }],
        'current-context': 'tandem-cni-context',
      },
      null,
      2,
    ) + '\n'
  );
}

/** The in-cluster apiserver URL from the environment the kubelet gives every pod. */
export function inClusterServer(env: Readonly<Record<string, string | undefined>>): string | undefined {
  const host = env.KUBERNETES_SERVICE_HOST;
  const port = env.KUBERNETES_SERVICE_PORT;
  if (!host || !port) return undefined;
  return `https://${host.includes(':') ? `[${host}]` : host}:${port}`;
}
