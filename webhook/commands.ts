import type { Command } from 'commander';
import { DEFAULT_NAMESPACE, DEFAULT_SERVICE } from '../certs/names.js';
import { millisecondsArg, portArg as port } from '../common/cli-options.js';

interface WebhookFlags {
  port: number;
  host: string;
  certDir: string;
  config?: string;
  templates?: string;
  service: string;
  namespace: string;
  monitoringPort: number;
  drainDelay: number;
}

/** How long SIGTERM waits for in-flight admissions, after the drain delay, before the process exits anyway. */
const GRACE_MS = 10_000;

/** Registers `tandem webhook`. Actions import their modules lazily. */
export function register(program: Command): void {
  program
    .command('webhook')
    .description('run the sidecar-injection admission webhook alone (HTTPS, POST /inject)')
    .option('--port <port>', 'HTTPS port', port, 15017)
    .option('--host <addr>', 'listen address', '0.0.0.0')
    .requiredOption('--cert-dir <dir>', 'directory with tls.crt and tls.key; watched, rotated files are picked up live')
    .option('--config <file>', 'injector config (YAML)')
    .option('--templates <dir>', 'directory overriding the shipped injection templates')
    .option('--service <name>', 'webhook Service name the certificate should carry', DEFAULT_SERVICE)
    .option('--namespace <ns>', "tandem's namespace: the webhook Service's, and never injected", process.env['POD_NAMESPACE'] ?? DEFAULT_NAMESPACE)
    .option('--monitoring-port <port>', 'plain-HTTP /metrics, /healthz, /readyz', port, 15014)
    .option('--drain-delay <ms>', 'after SIGTERM, keep serving this long with readiness false before closing', millisecondsArg, 0)
    .action(async (flags: WebhookFlags) => {
      const [{ loadInjector }, { startWebhookServer }, { getMetrics }, { ReadinessGate, startMonitoringServer }, { createLogger }, { default: closeWithGrace }] = await Promise.all([
        import('../inject/injector.js'),
        import('./server.js'),
        import('../common/metrics.js'),
        import('../common/monitoring.js'),
        import('../common/logger.js'),
        import('close-with-grace'),
      ]);
      const log = createLogger('tandem-webhook', { batch: true });

      const injector = await loadInjector({
        ...(flags.config !== undefined ? { configPath: flags.config } : {}),
        ...(flags.templates !== undefined ? { templatesDir: flags.templates } : {}),
        controlPlaneNamespace: flags.namespace,
      });
      const server = await startWebhookServer({
        host: flags.host,
        port: flags.port,
        certDir: flags.certDir,
        injector,
        log,
        service: flags.service,
        namespace: flags.namespace,
        metrics: getMetrics(),
      });
      // After the webhook: its certificates are loaded (a bad directory exits before anything listens).
      const readiness = new ReadinessGate([]);
      const monitoring = await startMonitoringServer({ host: flags.host, port: flags.monitoringPort, ready: readiness.check, metrics: getMetrics() }).catch(async (err: unknown) => {
        await server.close();
        throw err;
      });
      log.info({ url: `http://${flags.host}:${monitoring.port}` }, 'monitoring listening');
      // Keep the process alive until a signal; close-with-grace drains in-flight admissions.
      await new Promise<void>((resolve) => {
        closeWithGrace({ delay: flags.drainDelay + GRACE_MS, logger: log }, async ({ signal, err }) => {
          if (err) {
            log.error({ err }, 'internal error, stopping');
            process.exitCode = 2;
          } else {
            log.info({ signal }, `${signal ?? 'stop'}, draining`);
          }
          // As `tandem serve` drains: readiness false first, so that endpoints stop sending here;
          // still serving for the drain delay (kept-alive clients told to reconnect), then closing.
          readiness.drain();
          server.drain();
          if (flags.drainDelay > 0) await new Promise((r) => setTimeout(r, flags.drainDelay));
          await server.close();
          await monitoring.close();
          resolve();
        });
      });
    });
}
