import type { Command } from 'commander';
import { portArg as port } from '../common/cli-options.js';

interface WebhookFlags {
  port: number;
  host: string;
  certDir: string;
  config?: string;
  templates?: string;
  service: string;
  namespace: string;
  monitoringPort: number;
}

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
    .option('--service <name>', 'webhook Service name the certificate should carry', 'tandem-webhook')
    .option('--namespace <ns>', 'webhook Service namespace', 'tandem-system')
    .option('--monitoring-port <port>', 'plain-HTTP /metrics, /healthz, /readyz', port, 15014)
    .action(async (flags: WebhookFlags) => {
      const [{ loadInjector }, { startWebhookServer }, { getMetrics }, { ReadinessGate, startMonitoringServer }, { default: closeWithGrace }] = await Promise.all([
        import('../inject/injector.js'),
        import('./server.js'),
        import('../common/metrics.js'),
        import('../common/monitoring.js'),
        import('close-with-grace'),
      ]);

      const injector = await loadInjector({
        ...(flags.config !== undefined ? { configPath: flags.config } : {}),
        ...(flags.templates !== undefined ? { templatesDir: flags.templates } : {}),
      });
      const server = await startWebhookServer({
        host: flags.host,
        port: flags.port,
        certDir: flags.certDir,
        injector,
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
      process.stderr.write(`${JSON.stringify({ level: 30, time: Date.now(), url: `http://${flags.host}:${monitoring.port}`, msg: 'monitoring listening' })}\n`);
      // Keep the process alive until a signal; close-with-grace drains in-flight admissions.
      await new Promise<void>((resolve) => {
        closeWithGrace({ delay: 10_000 }, async ({ err }) => {
          if (err) process.stderr.write(`tandem: ${err.message}\n`);
          readiness.drain();
          await server.close();
          await monitoring.close();
          resolve();
        });
      });
    });
}
