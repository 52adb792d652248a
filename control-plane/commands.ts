import type { Command } from 'commander';
import { millisecondsArg as millis, portArg as port } from '../common/cli-options.js';
import { UserError } from '../common/errors.js';
import type { ProxyStatus } from './xds/server/context.js';

export interface ControlPlaneFlags {
  host: string;
  port: number;
  registry?: string;
  /** Istio config: kubernetes | file:PATH */
  config?: string;
  meshConfig?: string;
  debounceQuiet?: number;
  debounceMax?: number;
  /** ADS and Istio's CA API over TLS; with --ca-dir (or in a cluster) */
  securePort?: number;
  caDir?: string;
  caJwks?: string;
  caJwtIssuer?: string;
}

/** Registers `tandem control-plane`. Actions import their modules lazily. */
export function register(program: Command): void {
  program
    .command('control-plane')
    .description('run the xDS server alone (ADS, state of the world and incremental)')
    .option('--host <addr>', 'listen address', '0.0.0.0')
    .option('--port <n>', 'xDS gRPC port (0 = any free port)', port, 15010)
    .option('--registry <spec>', 'kubernetes | file:PATH (default: kubernetes when a kubeconfig or in-cluster config exists)')
    .option('--config <spec>', 'Istio config: kubernetes | file:PATH (default: kubernetes with a cluster, none without)')
    .option('--mesh-config <file>', "Istio MeshConfig YAML (default: the tandem-mesh ConfigMap in a cluster, Istio's defaults without)")
    .option('--debounce-quiet <ms>', 'push after this much quiet time (default 100)', millis)
    .option('--debounce-max <ms>', 'push at the latest this long after the first change (default 10000)', millis)
    .option('--secure-port <n>', "with a mesh CA: xDS and Istio's CA API over TLS on this port (0 = any free port)", port)
    .option('--ca-dir <dir>', "the mesh CA's directory (Istio's plug-in layout, created on first start); in a cluster the CA comes from the Secrets cacerts / tandem-ca")
    .option('--ca-jwks <file>', 'verify CA API tokens against this JWKS file instead of TokenReview (needs --ca-jwt-issuer)')
    .option('--ca-jwt-issuer <iss>', 'the issuer CA API tokens must carry (with --ca-jwks)')
    .action(async (flags: ControlPlaneFlags) => {
      await runControlPlane(flags);
    });
  program
    .command('proxy-status')
    .description('connected proxies and what they were sent, ACKed or NACKed (from /debug/syncz on the monitoring port)')
    .option('--monitoring-address <host:port>', "the control plane's monitoring address", '127.0.0.1:15014')
    .option('-o, --output <format>', 'table | json', 'table')
    .action(async (o: { monitoringAddress: string; output: string }) => {
      if (o.output !== 'table' && o.output !== 'json') throw new UserError(`--output must be table or json, got "${o.output}"`);
      const url = `http://${o.monitoringAddress}/debug/syncz`;
      let res: Response;
      try {
        res = await fetch(url);
      } catch (err) {
        throw new UserError(`proxy-status: cannot reach ${url}: ${(err as Error).cause instanceof Error ? ((err as Error).cause as Error).message : (err as Error).message}`);
      }
      if (!res.ok) throw new UserError(`proxy-status: ${url} answered ${res.status}`);
      const body: unknown = await res.json();
      if (!Array.isArray(body)) throw new UserError(`proxy-status: ${url} did not answer a list of proxies`);
      const { formatProxyStatus } = await import('./proxy-status.js');
      process.stdout.write(o.output === 'json' ? JSON.stringify(body, null, 2) + '\n' : formatProxyStatus(body as ProxyStatus[]));
    });
}

export interface RunOptions {
  /** stops the server when aborted (tests); SIGINT/SIGTERM always do, through close-with-grace */
  signal?: AbortSignal;
  /** receives the one-line JSON announcement, default stdout */
  announce?: (line: string) => void;
}

/** How long a signal waits for the streams to end and the registry to close before the process exits anyway. */
const GRACE_MS = 10_000;

/** `tandem control-plane`: the xDS server alone, until a signal (or `run.signal`). */
export async function runControlPlane(flags: ControlPlaneFlags, run: RunOptions = {}): Promise<void> {
  // the heavy modules (gRPC, protobufjs and the Envoy protos, the Kubernetes client) load only for this command
  const [{ createLogger }, { createRegistry, kubernetesConfigured }, { startControlPlane }, { default: closeWithGrace }, { openIstioConfig }] = await Promise.all([
    import('../common/logger.js'),
    import('./registry/index.js'),
    import('./server.js'),
    import('close-with-grace'),
    import('./istio-config.js'),
  ]);
  const spec = flags.registry ?? (kubernetesConfigured() ? 'kubernetes' : undefined);
  if (!spec) throw new UserError('control-plane: no Kubernetes configuration found; pass --registry file:PATH');
  if ((flags.caJwks === undefined) !== (flags.caJwtIssuer === undefined)) throw new UserError('--ca-jwks and --ca-jwt-issuer go together');
  const log = createLogger('tandem-xds');
  const registry = await createRegistry(spec, { log });
  const configSpec = flags.config ?? (kubernetesConfigured() ? 'kubernetes' : undefined);
  const kubeConfig = async (): Promise<import('@kubernetes/client-node').KubeConfig> => (await import('../common/kubeconfig.js')).loadKubeConfig();
  const istio = configSpec || flags.meshConfig ? await openIstioConfig({ spec: configSpec, meshConfigFile: flags.meshConfig, kubeConfig, log }) : undefined;
  // The mesh CA, when asked for (a CA directory or a secure port): it signs the 15012 certificate.
  const inCluster = kubernetesConfigured();
  const ca =
    flags.caDir !== undefined || flags.securePort !== undefined
      ? await (await import('../ca/mesh-ca.js')).startMeshCa({
          ...(inCluster && flags.caDir === undefined ? { kubeConfig: await kubeConfig() } : { dir: flags.caDir ?? '.tandem/ca' }),
          ...(flags.caJwks !== undefined && flags.caJwtIssuer !== undefined ? { jwks: { file: flags.caJwks, issuer: flags.caJwtIssuer } } : {}),
          logger: log,
        })
      : undefined;
  const cp = await startControlPlane({
    host: flags.host,
    port: flags.port,
    registry,
    ...(ca ? { secure: ca.secureServer(flags.securePort ?? 15012) } : {}),
    ...(istio ? { ...(istio.store ? { config: istio.store } : {}), mesh: istio.mesh, ready: istio.synced } : {}),
    log,
    debounce: {
      ...(flags.debounceQuiet !== undefined ? { quietMs: flags.debounceQuiet } : {}),
      ...(flags.debounceMax !== undefined ? { maxDelayMs: flags.debounceMax } : {}),
    },
  });
  const unwatchMesh = istio?.onMesh((m) => cp.setMesh(m));
  (run.announce ?? ((l: string) => process.stdout.write(l)))(JSON.stringify({ xds: `${flags.host}:${cp.port}`, ...(cp.securePort !== undefined ? { secure: `${flags.host}:${cp.securePort}`, caApi: ca?.verifiesCallers === true } : {}), registry: spec, ...(configSpec ? { config: configSpec } : {}) }) + '\n');
  const shutdown = async (): Promise<void> => {
    log.info({}, 'shutting down');
    unwatchMesh?.();
    await cp.close();
    await istio?.close();
    await ca?.stop();
    await registry.close();
  };
  await new Promise<void>((resolve, reject) => {
    const grace = closeWithGrace({ delay: GRACE_MS, logger: { error: (m: unknown) => log.error({ err: String(m) }, 'shutdown') } }, async ({ err, signal }) => {
      if (err) log.error({ err: err.stack ?? String(err) }, 'internal error; shutting down');
      else log.info({ signal }, 'signal received');
      await shutdown();
      resolve();
    });
    // the embedding path (tests): stop without exiting the process
    const onAbort = (): void => {
      grace.uninstall();
      shutdown().then(resolve, reject);
    };
    if (run.signal?.aborted) onAbort();
    else run.signal?.addEventListener('abort', onAbort, { once: true });
  });
}
