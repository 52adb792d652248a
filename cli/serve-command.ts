import type { Command } from 'commander';
import { UserError } from '../common/errors.js';
import type { CertMode } from './serve.js';

function port(value: string, flag: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n > 65535) throw new UserError(`${flag}: "${value}" is not a port (0-65535)`);
  return n;
}

function milliseconds(value: string, flag: string): number {
  if (!/^\d+$/.test(value)) throw new UserError(`${flag}: "${value}" is not a number of milliseconds`);
  return Number(value);
}

export function register(program: Command): void {
  program
    .command('serve')
    .description('run the control plane: admission webhook (:15017), xDS (:15010) and monitoring (:15014) in one process')
    .option('--state-dir <dir>', 'embedded-mode state: generated certificates and the local registry file', process.env['TANDEM_STATE_DIR'] ?? '.tandem')
    .option('--host <addr>', 'listen address (default 127.0.0.1 without a cluster, 0.0.0.0 in one)')
    .option('--webhook-port <port>', 'admission webhook HTTPS port', '15017')
    .option('--xds-port <port>', 'xDS gRPC port', '15010')
    .option('--monitoring-port <port>', 'metrics and health port', '15014')
    .option('--cert-mode <mode>', 'local (generate in the state dir) | secret (self-managed in a cluster) | files (read --cert-dir); default: secret in a cluster, local otherwise')
    .option('--cert-dir <dir>', 'where the serving certificate files are read (and, in local/secret mode, written); reloaded on change')
    .option('--registry <spec>', 'service registry: kubernetes | file:PATH')
    .option('--config <file>', 'injector config (YAML)')
    .option('--templates <dir>', 'directory overriding the injection templates')
    .option('--service <name>', 'the webhook Service name the certificate is for', 'tandem-webhook')
    .option('--namespace <ns>', "tandem's namespace", process.env['POD_NAMESPACE'] ?? 'tandem-system')
    .option('--drain-delay <ms>', 'after SIGTERM, keep serving this long with readiness false before closing', '0')
    .option('--grace <ms>', 'how long a SIGTERM waits for in-flight work before exiting', '20000')
    .action(async (o: Record<string, string | undefined>) => {
      const { serve, CERT_MODES } = await import('./serve.js');
      const { default: closeWithGrace } = await import('close-with-grace');
      const mode = o['certMode'];
      if (mode !== undefined && !(CERT_MODES as readonly string[]).includes(mode)) {
        throw new UserError(`--cert-mode must be one of ${CERT_MODES.join(', ')}, got "${mode}"`);
      }
      const grace = milliseconds(o['grace'] ?? '20000', '--grace');
      const running = await serve({
        certMode: mode as CertMode | undefined,
        stateDir: o['stateDir'] ?? '.tandem',
        host: o['host'],
        webhookPort: port(o['webhookPort'] ?? '15017', '--webhook-port'),
        xdsPort: port(o['xdsPort'] ?? '15010', '--xds-port'),
        monitoringPort: port(o['monitoringPort'] ?? '15014', '--monitoring-port'),
        certDir: o['certDir'],
        registry: o['registry'],
        config: o['config'],
        templates: o['templates'],
        service: o['service'],
        namespace: o['namespace'],
        drainDelayMs: milliseconds(o['drainDelay'] ?? '0', '--drain-delay'),
      });
      process.stderr.write(running.banner + '\n');
      await new Promise<void>((resolve) => {
        closeWithGrace({ delay: grace }, async ({ signal, err }) => {
          if (err) {
            process.stderr.write(`tandem serve: internal error: ${err.stack ?? String(err)}\n`);
            process.exitCode = 2;
          }
          process.stderr.write(`tandem serve: ${signal ?? 'stopping'}, draining\n`);
          await running.close();
          resolve();
        });
      });
    });
}
