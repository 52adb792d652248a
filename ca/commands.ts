import { InvalidArgumentError, type Command } from 'commander';

/** `24h`, `90m`, `3600s`, `7d` -> milliseconds. */
export function durationArg(value: string): number {
  const m = /^([1-9][0-9]*)(s|m|h|d)$/.exec(value);
  if (!m) throw new InvalidArgumentError(`expected a duration such as 24h, 90m, 3600s or 7d, got "${value}"`);
  return Number(m[1]) * { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] as 's' | 'm' | 'h' | 'd'];
}

function outputFormat(value: string): string {
  if (value !== 'text' && value !== 'json') throw new InvalidArgumentError(`expected text or json, got "${value}"`);
  return value;
}

interface IssueFlags {
  dir: string;
  namespace: string;
  serviceAccount: string;
  trustDomain: string;
  ttl: number;
  out: string;
  output: string;
}

/** Registers `tandem ca init|issue|check`. Actions import their modules lazily. */
export function register(program: Command): void {
  const ca = program.command('ca').description('the mesh CA (Istio plug-in layout) and workload certificates');

  ca.command('init')
    .description("create a fresh self-signed mesh root in Istio's plug-in layout (ca-cert.pem, ca-key.pem, cert-chain.pem, root-cert.pem)")
    .requiredOption('--dir <dir>', 'directory to write (existing files are replaced)')
    .option('--trust-domain <domain>', 'trust domain named in the root', 'cluster.local')
    .option('-o, --output <format>', 'text or json', outputFormat, 'text')
    .action(async (flags: { dir: string; trustDomain: string; output: string }) => {
      const [{ createSelfSignedRoot }, { writePluginDir }, { loadAuthority }] = await Promise.all([import('./root.js'), import('./plugin-dir.js'), import('./authority.js')]);
      const pems = await createSelfSignedRoot({ trustDomain: flags.trustDomain });
      const where = await writePluginDir(flags.dir, pems);
      const authority = await loadAuthority(pems, where);
      const root = authority.caCert;
      if (flags.output === 'json') {
        process.stdout.write(JSON.stringify({ dir: flags.dir, files: where, subject: root.subject, serial: root.serialNumber, notAfter: new Date(root.validTo).toISOString() }, null, 2) + '\n');
        return;
      }
      process.stdout.write(`created a mesh root in ${flags.dir}: serial ${root.serialNumber}, expires ${new Date(root.validTo).toISOString()}\n`);
    });

  ca.command('issue')
    .description('issue a workload certificate (SPIFFE ID spiffe://<trust domain>/ns/<ns>/sa/<sa>) into a directory')
    .requiredOption('--dir <dir>', 'CA directory in the plug-in layout')
    .requiredOption('--namespace <ns>', 'workload namespace')
    .requiredOption('--service-account <sa>', 'workload service account')
    .option('--trust-domain <domain>', 'trust domain', 'cluster.local')
    .option('--ttl <duration>', 'lifetime, e.g. 24h (capped at the CA certificate\'s expiry)', durationArg, 24 * 3_600_000)
    .requiredOption('--out <dir>', 'output directory for cert-chain.pem, key.pem, root-cert.pem (replaced atomically)')
    .option('-o, --output <format>', 'text or json', outputFormat, 'text')
    .action(async (flags: IssueFlags) => {
      const [{ readPluginDir }, { loadAuthority }, { issueWithNewKey }, { writeWorkloadFiles }, { identityProblem }, { UserError }] = await Promise.all([
        import('./plugin-dir.js'), import('./authority.js'), import('./issue-local.js'), import('./workload-files.js'), import('./spiffe.js'), import('../common/errors.js'),
      ]);
      const identity = { trustDomain: flags.trustDomain, namespace: flags.namespace, serviceAccount: flags.serviceAccount };
      const problem = identityProblem(identity);
      if (problem) throw new UserError(`cannot issue: ${problem}`);
      const { pems, where } = await readPluginDir(flags.dir);
      const authority = await loadAuthority(pems, where);
      const { issued, pems: files } = await issueWithNewKey(authority, identity, flags.ttl);
      await writeWorkloadFiles(flags.out, files);
      if (flags.output === 'json') {
        process.stdout.write(JSON.stringify({ out: flags.out, spiffeId: issued.spiffeId, serial: issued.serialNumber, notBefore: issued.notBefore.toISOString(), notAfter: issued.notAfter.toISOString() }, null, 2) + '\n');
        return;
      }
      process.stdout.write(`issued ${issued.spiffeId} into ${flags.out}: serial ${issued.serialNumber}, expires ${issued.notAfter.toISOString()}\n`);
    });

  ca.command('check')
    .description('validate a CA directory (plug-in layout) as the CA would at start-up')
    .requiredOption('--dir <dir>', 'CA directory')
    .option('-o, --output <format>', 'text or json', outputFormat, 'text')
    .action(async (flags: { dir: string; output: string }) => {
      const [{ readPluginDir }, { loadAuthority }] = await Promise.all([import('./plugin-dir.js'), import('./authority.js')]);
      const { pems, where } = await readPluginDir(flags.dir);
      const a = await loadAuthority(pems, where);
      const summary = {
        subject: a.caCert.subject,
        serial: a.caCert.serialNumber,
        notAfter: new Date(a.caCert.validTo).toISOString(),
        mode: a.intermediate ? 'intermediate' : 'self-signed root',
        chainLength: a.chainPems.length,
      };
      if (flags.output === 'json') {
        process.stdout.write(JSON.stringify(summary, null, 2) + '\n');
        return;
      }
      process.stdout.write(`ok: ${summary.mode}, serial ${summary.serial}, valid until ${summary.notAfter}, chain of ${summary.chainLength} to the root\n`);
    });
}
