import { InvalidArgumentError, type Command } from 'commander';

function outputFormat(value: string): string {
  if (value !== 'text' && value !== 'json') throw new InvalidArgumentError(`expected text or json, got "${value}"`);
  return value;
}

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError(`expected a positive whole number of days, got "${value}"`);
  return n;
}

interface InitFlags {
  dir: string;
  service: string;
  namespace: string;
  days?: number;
  local?: boolean;
  rsa?: boolean;
  force?: boolean;
  output: string;
}

interface PatchFlags {
  name: string;
  ca: string;
  kubeconfig?: string;
  context?: string;
}

interface CheckFlags {
  dir: string;
  service: string;
  namespace: string;
  output: string;
}

/** Registers `tandem certs init|check|patch-webhook`. Actions import their modules lazily. */
export function register(program: Command): void {
  const certs = program.command('certs').description('create, check and install the webhook TLS certificates');

  certs
    .command('init')
    .description('create a CA and a serving certificate for the webhook Service (kept when still valid)')
    .requiredOption('--dir <dir>', 'directory for ca.crt, ca.key, tls.crt, tls.key')
    .option('--service <name>', 'webhook Service name', 'tandem-webhook')
    .option('--namespace <ns>', 'webhook Service namespace', 'tandem-system')
    .option('--days <n>', 'serving certificate lifetime in days (default 365)', positiveInt)
    .option('--local', 'also valid for localhost and 127.0.0.1')
    .option('--rsa', 'RSA 2048 keys instead of ECDSA P-256')
    .option('--force', 'renew even when the existing files are valid')
    .option('-o, --output <format>', 'text or json', outputFormat, 'text')
    .action(async (flags: InitFlags) => {
      const { ensureCerts } = await import('./ensure.js');
      const r = await ensureCerts({
        dir: flags.dir,
        service: flags.service,
        namespace: flags.namespace,
        ...(flags.days !== undefined ? { days: flags.days } : {}),
        local: flags.local === true,
        force: flags.force === true,
        algorithm: flags.rsa ? 'rsa-2048' : 'ecdsa-p256',
      });
      const info = r.serving.info;
      if (flags.output === 'json') {
        process.stdout.write(JSON.stringify({
          created: r.created, issued: r.issued, reason: r.reason, files: r.files,
          serial: info.serialNumber, notAfter: info.notAfter.toISOString(), dnsNames: info.dnsNames, ips: info.ips,
        }, null, 2) + '\n');
        return;
      }
      const what = r.issued === 'none' ? 'kept the existing certificates' : r.issued === 'serving' ? 'issued a new serving certificate (CA kept)' : 'created a CA and a serving certificate';
      process.stdout.write(`${what} in ${r.dir}${r.issued === 'none' ? '' : ` (${r.reason})`}\n`);
      process.stdout.write(`serving certificate serial ${info.serialNumber}, expires ${info.notAfter.toISOString()}, SANs ${[...info.dnsNames, ...info.ips].join(', ')}\n`);
    });

  certs
    .command('check')
    .description('validate the serving certificate in a directory as the webhook would at start-up')
    .requiredOption('--dir <dir>', 'directory with tls.crt, tls.key (and ca.crt)')
    .option('--service <name>', 'webhook Service name', 'tandem-webhook')
    .option('--namespace <ns>', 'webhook Service namespace', 'tandem-system')
    .option('-o, --output <format>', 'text or json', outputFormat, 'text')
    .action(async (flags: CheckFlags) => {
      const { loadServingCert } = await import('./load.js');
      const cert = await loadServingCert(flags.dir, { service: flags.service, namespace: flags.namespace });
      for (const w of cert.warnings) process.stderr.write(`tandem: warning: ${w}\n`);
      const info = cert.info;
      if (flags.output === 'json') {
        process.stdout.write(JSON.stringify({ ...info, notBefore: info.notBefore.toISOString(), notAfter: info.notAfter.toISOString(), warnings: cert.warnings }, null, 2) + '\n');
        return;
      }
      process.stdout.write(`ok: serial ${info.serialNumber}, valid until ${info.notAfter.toISOString()}, SANs ${[...info.dnsNames, ...info.ips].join(', ')}\n`);
    });

  certs
    .command('patch-webhook')
    .description('write a CA certificate into the caBundle of every webhook of a MutatingWebhookConfiguration')
    .option('--name <name>', 'MutatingWebhookConfiguration name', 'tandem-sidecar-injector')
    .requiredOption('--ca <file>', 'PEM CA certificate (e.g. ca.crt from tandem certs init)')
    .option('--kubeconfig <file>', 'kubeconfig (default: $KUBECONFIG, ~/.kube/config, or in-cluster)')
    .option('--context <name>', 'kubeconfig context')
    .action(async (flags: PatchFlags) => {
      const [{ readFile }, { loadKubeConfig }, { patchWebhookCaBundle }, { UserError }] = await Promise.all([
        import('node:fs/promises'),
        import('../common/kubeconfig.js'),
        import('./self-managed.js'),
        import('../common/errors.js'),
      ]);
      const caPem = await readFile(flags.ca, 'utf8').catch((err: NodeJS.ErrnoException) => {
        throw new UserError(`cannot read ${flags.ca} (${err.code ?? err.message})`);
      });
      const kc = loadKubeConfig(flags.kubeconfig, flags.context);
      const r = await patchWebhookCaBundle({ kubeConfig: kc, name: flags.name, caPem });
      process.stdout.write(r.changed
        ? `caBundle set on ${r.webhooks.length} webhooks of ${flags.name}: ${r.webhooks.join(', ')}\n`
        : `caBundle of ${flags.name} already up to date (${r.webhooks.length} webhooks)\n`);
    });
}
