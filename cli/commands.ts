import type { Command } from 'commander';
import { DEFAULT_NAMESPACE, DEFAULT_SERVICE } from '../certs/names.js';
import { millisecondsArg, portArg } from '../common/cli-options.js';
import { UserError } from '../common/errors.js';
import type { CertMode } from './serve.js';

interface ServeFlags {
  stateDir: string;
  host?: string;
  webhookPort: number;
  xdsPort: number;
  securePort: number;
  monitoringPort: number;
  caDir?: string;
  caJwks?: string;
  caJwtIssuer?: string;
  trustDomain?: string;
  certMode?: string;
  certDir?: string;
  registry?: string;
  /** Istio config: kubernetes | file:PATH */
  config?: string;
  meshConfig?: string;
  injectorConfig?: string;
  templates?: string;
  service: string;
  namespace: string;
  drainDelay: number;
  grace: number;
}

export function register(program: Command): void {
  program
    .command('serve')
    .description('run the control plane: admission webhook (:15017), xDS (:15010) and monitoring (:15014) in one process')
    .option('--state-dir <dir>', 'embedded-mode state: generated certificates and the local registry file', process.env['TANDEM_STATE_DIR'] ?? '.tandem')
    .option('--host <addr>', 'listen address (default 127.0.0.1 without a cluster, 0.0.0.0 in one)')
    .option('--webhook-port <port>', 'admission webhook HTTPS port', portArg, 15017)
    .option('--xds-port <port>', 'xDS gRPC port', portArg, 15010)
    .option('--secure-port <port>', "xDS and Istio's CA API over TLS (mesh CA certificate)", portArg, 15012)
    .option('--monitoring-port <port>', 'metrics and health port', portArg, 15014)
    .option('--ca-dir <dir>', "without a cluster: the mesh CA's directory (Istio's plug-in layout; default <state-dir>/ca)")
    .option('--ca-jwks <file>', 'verify CA API tokens against this JWKS file instead of TokenReview (needs --ca-jwt-issuer)')
    .option('--ca-jwt-issuer <iss>', 'the issuer CA API tokens must carry (with --ca-jwks)')
    .option('--trust-domain <domain>', 'SPIFFE trust domain of workload certificates', 'cluster.local')
    .option('--cert-mode <mode>', 'local (generate in the state dir) | secret (self-managed in a cluster) | files (read --cert-dir); default: secret in a cluster, local otherwise')
    .option('--cert-dir <dir>', 'where the serving certificate files are read (and, in local/secret mode, written); reloaded on change')
    .option('--registry <spec>', 'service registry: kubernetes | file:PATH')
    .option('--config <spec>', 'Istio config: kubernetes | file:PATH (default: kubernetes in a cluster, file:<state-dir>/config without)')
    .option('--mesh-config <file>', "Istio MeshConfig YAML (default: the tandem-mesh ConfigMap in a cluster, Istio's defaults without)")
    .option('--injector-config <file>', 'injector config (YAML)')
    .option('--templates <dir>', 'directory overriding the injection templates')
    .option('--service <name>', 'the webhook Service name the certificate is for', DEFAULT_SERVICE)
    .option('--namespace <ns>', "tandem's namespace", process.env['POD_NAMESPACE'] ?? DEFAULT_NAMESPACE)
    .option('--drain-delay <ms>', 'after SIGTERM, keep serving this long with readiness false before closing', millisecondsArg, 0)
    .option('--grace <ms>', 'how long a SIGTERM waits for in-flight work before exiting', millisecondsArg, 20000)
    .action(async (o: ServeFlags) => {
      const [{ serve, CERT_MODES }, { createLogger }, { default: closeWithGrace }] = await Promise.all([
        import('./serve.js'),
        import('../common/logger.js'),
        import('close-with-grace'),
      ]);
      const mode = o.certMode;
      if (mode !== undefined && !(CERT_MODES as readonly string[]).includes(mode)) {
        throw new UserError(`--cert-mode must be one of ${CERT_MODES.join(', ')}, got "${mode}"`);
      }
      if ((o.caJwks === undefined) !== (o.caJwtIssuer === undefined)) throw new UserError('--ca-jwks and --ca-jwt-issuer go together');
      const log = createLogger('tandem', { batch: true });
      const running = await serve({
        logger: log,
        certMode: mode as CertMode | undefined,
        stateDir: o.stateDir,
        host: o.host,
        webhookPort: o.webhookPort,
        xdsPort: o.xdsPort,
        securePort: o.securePort,
        monitoringPort: o.monitoringPort,
        caDir: o.caDir,
        ...(o.caJwks !== undefined && o.caJwtIssuer !== undefined ? { caJwks: { file: o.caJwks, issuer: o.caJwtIssuer } } : {}),
        ...(o.trustDomain ? { trustDomain: o.trustDomain } : {}),
        certDir: o.certDir,
        registry: o.registry,
        config: o.injectorConfig,
        istioConfig: o.config,
        meshConfig: o.meshConfig,
        templates: o.templates,
        service: o.service,
        namespace: o.namespace,
        drainDelayMs: o.drainDelay,
      });
      process.stderr.write(running.banner + '\n');
      await new Promise<void>((resolve) => {
        closeWithGrace({ delay: o.grace, logger: log }, async ({ signal, err }) => {
          if (err) {
            log.error({ err }, 'internal error, stopping');
            process.exitCode = 2;
          } else {
            log.info({ signal }, `${signal ?? 'stop'}, draining`);
          }
          await running.close();
          resolve();
        });
      });
    });
}
