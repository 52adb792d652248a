import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger as PinoLogger } from 'pino';
import { DEFAULT_NAMESPACE, DEFAULT_SERVICE } from '../certs/names.js';
import { UserError } from '../common/errors.js';
import { createLogger } from '../common/logger.js';
import { getMetrics } from '../common/metrics.js';
import { DEFAULT_MONITORING_PORT, ReadinessGate, startMonitoringServer, type DebugHandler } from '../common/monitoring.js';
import { createRegistry, kubernetesConfigured } from '../control-plane/registry/index.js';
import { startControlPlane } from '../control-plane/server.js';
import { openIstioConfig } from '../control-plane/istio-config.js';
import { loadInjector } from '../inject/injector.js';
import { oneLine } from '../webhook/replies.js';
import { openRetryingRegistry } from './retrying-registry.js';
import { DEFAULT_WEBHOOK_PORT, startWebhookServer, type WebhookServer } from '../webhook/server.js';
import type { ControlPlane } from '../control-plane/server.js';

/**
 * `tandem serve`: the webhook, the xDS server and the monitoring endpoints in one
 * process, like istiod. With no cluster configured it runs on embedded defaults:
 * a self-signed CA and serving certificate in the state directory (valid for
 * localhost) and a file registry there, so `npm start` works on a bare machine.
 */

/**
 * Where the webhook's certificate comes from:
 * - `local`: created in the state directory (embedded default, no cluster);
 * - `secret`: self-managed in a cluster: kept in a Secret, renewed, caBundle patched;
 * - `files`: read from `certDir` (a Secret mounted by cert-manager or the admin), reloaded on change.
 */
export type CertMode = 'local' | 'secret' | 'files';
export const CERT_MODES: readonly CertMode[] = ['local', 'secret', 'files'];

export interface ServeOptions {
  /** where state lives (certificates, the local registry file) */
  stateDir: string;
  /** listen address for all servers; loopback in embedded mode, all interfaces in a cluster */
  host?: string;
  webhookPort?: number;
  xdsPort?: number;
  /** xDS and Istio's CA API over TLS (default 15012; 0 picks a free port) */
  securePort?: number;
  monitoringPort?: number;
  /** the mesh CA's directory (default without a cluster: <stateDir>/ca; in a cluster the CA Secret unless given) */
  caDir?: string;
  /** verify CA API tokens against a JWKS file instead of TokenReview (`--ca-jwks FILE --ca-jwt-issuer ISS`) */
  caJwks?: { file: string; issuer: string };
  trustDomain?: string;
  /** default: `secret` in a cluster, `local` otherwise; `files` when only certDir is given */
  certMode?: CertMode;
  certDir?: string;
  /** `kubernetes` or `file:PATH`; default: Kubernetes when configured, else the state dir's file */
  registry?: string;
  /** injector config file */
  config?: string;
  /** Istio config: `kubernetes` or `file:PATH`; default: Kubernetes when configured, else the state dir's `config/` */
  istioConfig?: string;
  /** MeshConfig file; default: the tandem-mesh ConfigMap in a cluster, defaults without */
  meshConfig?: string;
  templates?: string;
  service?: string;
  namespace?: string;
  /**
   * On close, how long to keep serving after readiness turns false, so that endpoints and
   * load balancers stop sending before the listeners close (default 0: the manifests'
   * preStop hook already waits before SIGTERM).
   */
  drainDelayMs?: number;
  /** how often self-managed mode re-checks its Secret */
  certSyncMs?: number;
  /** default: createLogger('tandem') */
  logger?: PinoLogger;
}

export interface RunningServe {
  webhook: WebhookServer;
  controlPlane: ControlPlane;
  monitoringPort: number;
  readiness: ReadinessGate;
  /** what to tell a person who just started it */
  banner: string;
  /** readiness goes false, then the webhook drains, xDS streams end, monitoring stops */
  close(): Promise<void>;
}

const SAMPLE_REGISTRY = `# tandem's local service registry (tandem serve --registry file:PATH).
# Edit it while tandem runs: changes are pushed to connected proxies.
services: []
# services:
#   - name: hello
#     namespace: default
#     ports: [{ name: http, port: 8080, protocol: HTTP }]
#     endpoints: [{ address: 127.0.0.1 }]
`;

export function defaultCertMode(opts: Pick<ServeOptions, 'certMode' | 'certDir'>, inCluster: boolean): CertMode {
  if (opts.certMode) return opts.certMode;
  if (opts.certDir) return 'files';
  return inCluster ? 'secret' : 'local';
}

type Closer = { close(): Promise<void> | void };

export async function serve(opts: ServeOptions): Promise<RunningServe> {
  const log = opts.logger ?? createLogger('tandem', { batch: true });
  const inCluster = kubernetesConfigured();
  const host = opts.host ?? (inCluster ? '0.0.0.0' : '127.0.0.1');
  const stateDir = resolve(opts.stateDir);
  const service = opts.service ?? DEFAULT_SERVICE;
  const namespace = opts.namespace ?? DEFAULT_NAMESPACE;
  const certMode = defaultCertMode(opts, inCluster);
  if (certMode === 'files' && !opts.certDir) throw new UserError('--cert-mode files needs --cert-dir DIR (the mounted certificate Secret)');
  const metrics = getMetrics();

  // Loaded once, when something needs the cluster (self-managed certificates, the Kubernetes registry).
  let kubeConfig: KubeConfig | undefined;
  const clusterConfig = async (): Promise<KubeConfig> => (kubeConfig ??= (await import('../common/kubeconfig.js')).loadKubeConfig());

  // Fail on bad config or templates before anything listens. In a cluster, workloadCertificates
  // left unset follows API discovery (inject/pod-certificate-discovery.ts). An apiserver that cannot
  // be asked does not stop the start (serve keeps serving what it can, #14): injection goes on
  // without certificates, said once, loudly, with the way out.
  const podCertificatesServed = async (): Promise<boolean> => {
    try {
      return await (await import('../inject/pod-certificate-discovery.js')).servesPodCertificates(await clusterConfig());
    } catch (err) {
      log.warn({ err: (err as Error).message }, 'workload certificates off (workloadCertificates: none) until a restart can ask the cluster');
      return false;
    }
  };
  const injector = await loadInjector({ configPath: opts.config, templatesDir: opts.templates, controlPlaneNamespace: namespace, ...(inCluster ? { podCertificatesServed } : {}) });

  const readiness = new ReadinessGate(['certificates', 'ca', 'registry']);
  const started: Closer[] = [];
  const stopAll = async (): Promise<void> => {
    for (const part of started.splice(0).reverse()) await part.close();
  };
  try {
    // Monitoring first: the kubelet's liveness probe must answer while certificates and the
    // registry are still being prepared (readiness says what is missing).
    // filled in once the xDS server runs
    const debug: Record<string, DebugHandler> = {};
    const monitoring = await startMonitoringServer({ host, port: opts.monitoringPort ?? DEFAULT_MONITORING_PORT, metrics, ready: readiness.check, debug });
    started.push(monitoring);

    const certDir = resolve(opts.certDir ?? join(stateDir, 'certs'));
    if (certMode === 'local') {
      // Lazily: the X.509 library costs a few hundred ms to load and files mode never needs it.
      const { ensureCerts } = await import('../certs/ensure.js');
      const certs = await ensureCerts({ dir: certDir, service, namespace, local: true });
      log.info({ dir: certDir, issued: certs.issued, reason: certs.reason }, 'webhook certificates ready');
    } else if (certMode === 'secret') {
      const { startSelfManagedCerts } = await import('../certs/sync.js');
      const sync = await startSelfManagedCerts({
        kubeConfig: await clusterConfig(),
        dir: certDir,
        service,
        namespace,
        // Replicas pick up each other's renewals within minutes; renewal itself happens at 2/3 of the lifetime.
        intervalMs: opts.certSyncMs ?? 300_000,
        onSync: (r) => {
          log.info({ action: r.secret.action, reason: r.secret.reason, wroteFiles: r.wroteFiles }, 'webhook certificates synced');
          if (r.validatorCaBundle === 'missing') log.warn({}, 'ValidatingWebhookConfiguration tandem-validator not found: Istio config is not validated at admission');
        },
        onError: (err) => log.error({ err }, 'webhook certificate sync failed; retrying at the next interval'),
      });
      started.push({ close: () => sync.stop() });
    }

    const webhook = await startWebhookServer({ host, port: opts.webhookPort ?? DEFAULT_WEBHOOK_PORT, certDir, injector, log: log.child({ part: 'webhook' }), service, namespace, metrics });
    started.push(webhook);
    readiness.set('certificates', true);

    const localRegistry = join(stateDir, 'registry.yaml');
    const registrySpec = opts.registry ?? (inCluster ? 'kubernetes' : `file:${localRegistry}`);
    if (!opts.registry && !inCluster && !existsSync(localRegistry)) {
      await mkdir(stateDir, { recursive: true });
      await writeFile(localRegistry, SAMPLE_REGISTRY);
    }
    const registryLog = log.child({ part: 'registry' });
    // The Kubernetes API may be down when serve starts (a control-plane upgrade, a network
    // partition): the webhook and xDS serve what they have meanwhile, readiness names what is
    // missing, and the registry keeps trying in the background. A file registry has no such excuse.
    let registryWaiting = false;
    const registry =
      registrySpec === 'kubernetes'
        ? await openRetryingRegistry({
            connect: async () => createRegistry(registrySpec, { log: registryLog, kubeConfig: await clusterConfig() }),
            onWaiting: (err, retryInMs, attempt) => {
              registryWaiting = true;
              readiness.set('registry', false, oneLine(err.message));
              registryLog.warn({ attempt, retryInMs, reason: oneLine(err.message) }, 'Kubernetes API unreachable: serving without its services, retrying');
            },
            onConnected: () => {
              registryWaiting = false;
              readiness.set('registry', true);
              registryLog.info({}, 'Kubernetes registry connected');
            },
          })
        : await createRegistry(registrySpec, { log: registryLog });
    started.push(registry);
    // The mesh CA: its authority signs the 15012 certificate, so it comes before the xDS server.
    const { startMeshCa } = await import('../ca/mesh-ca.js');
    const caDir = resolve(opts.caDir ?? join(stateDir, 'ca'));
    const ca = await startMeshCa({
      // An explicit --ca-dir wins in a cluster too (it was silently ignored there).
      ...(inCluster && !opts.caDir ? { kubeConfig: await clusterConfig() } : { dir: caDir }),
      ...(opts.caJwks ? { jwks: opts.caJwks } : {}),
      ...(opts.trustDomain ? { trustDomain: opts.trustDomain } : {}),
      logger: log.child({ part: 'ca' }),
    });
    started.push({ close: () => ca.stop() });
    const configSpec = opts.istioConfig ?? (inCluster ? 'kubernetes' : `file:${join(stateDir, 'config')}`);
    const istio = await openIstioConfig({ spec: configSpec, meshConfigFile: opts.meshConfig, kubeConfig: clusterConfig, createDir: !opts.istioConfig, log: log.child({ part: 'config' }), metrics });
    started.push(istio);
    const controlPlane = await startControlPlane({
      host,
      port: opts.xdsPort ?? 15010,
      registry,
      ...(istio.store ? { config: istio.store } : {}),
      mesh: istio.mesh,
      ready: istio.synced,
      log: log.child({ part: 'xds' }),
      metrics,
      secure: ca.secureServer(opts.securePort ?? 15012),
    });
    started.push(controlPlane);
    istio.onMesh((m) => controlPlane.setMesh(m));
    debug['/debug/syncz'] = () => controlPlane.proxies();
    debug['/debug/config_dump'] = (q) => controlPlane.configDump(q.get('proxy') ?? '');
    void ca.synced.then(
      () => readiness.set('ca', true),
      (err: unknown) => log.error({ err }, 'mesh CA controllers failed to sync'),
    );
    if (!registryWaiting) readiness.set('registry', true);

    const shown = host === '0.0.0.0' ? '127.0.0.1' : host;
    const banner = [
      `tandem serve: webhook https://${shown}:${webhook.port}/inject, xDS ${shown}:${controlPlane.port} (TLS ${shown}:${controlPlane.securePort}), metrics http://${shown}:${monitoring.port}/metrics`,
      `  certificates: ${certMode} (${certDir})   mesh CA: ${ca.source === 'dir' ? caDir : ca.source}${ca.verifiesCallers ? '' : ' (CA API off)'}   registry: ${registrySpec}   config: ${configSpec}`,
      `  try it:  curl --cacert ${join(certDir, 'ca.crt')} -H 'content-type: application/json' --data @test/fixtures/admission-review.json https://localhost:${webhook.port}/inject`,
      `           node bin/tandem inject -f examples/hello.yaml`,
    ].join('\n');

    let closing: Promise<void> | undefined;
    return {
      webhook,
      controlPlane,
      monitoringPort: monitoring.port,
      readiness,
      banner,
      close() {
        closing ??= (async () => {
          readiness.drain();
          webhook.drain();
          if (opts.drainDelayMs) await new Promise((r) => setTimeout(r, opts.drainDelayMs));
          // Both stop accepting at once; the webhook finishes its in-flight admissions while the
          // xDS streams end. Then the registry and certificate sync stop; monitoring goes last.
          await Promise.all([webhook.close(), controlPlane.close()]);
          started.splice(started.indexOf(webhook), 1);
          started.splice(started.indexOf(controlPlane), 1);
          await stopAll();
        })();
        return closing;
      },
    };
  } catch (err) {
    await stopAll().catch(() => undefined);
    throw err;
  }
}
