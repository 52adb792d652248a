import { Option, type Command } from 'commander';

/** `tandem validate`: registered here, its modules imported only when it runs. */
export function register(program: Command): void {
  const collect = (v: string, prev: string[]): string[] => [...prev, v];
  program
    .command('validate')
    .description('validate Istio config offline (CRD schema, CEL rules and Istio\'s semantic rules), like istioctl validate; exit 1 if anything is invalid')
    .addOption(new Option('-f, --filename <file>', 'file or directory (recursed), "-" for stdin (repeatable)').argParser(collect).default([], 'none'))
    .addOption(new Option('-o, --output <format>', 'output format').choices(['text', 'json']).default('text'))
    .action(async (opts: { filename: string[]; output: 'text' | 'json' }) => {
      const [{ readSources, validateSources, problemLines, skippedLines, summaryLine, warningLines }, { UserError, EXIT_USER }] = await Promise.all([
        import('./validation/files.js'),
        import('../common/errors.js'),
      ]);
      if (opts.filename.length === 0) throw new UserError('validate: no input; pass -f FILE (or -f - for stdin)');
      const { readStdin } = await import('../common/documents.js');
      const report = validateSources(await readSources(opts.filename, readStdin));
      for (const line of [...skippedLines(report), ...warningLines(report)]) process.stderr.write(`tandem: ${line}\n`);
      if (opts.output === 'json') {
        process.stdout.write(JSON.stringify({ valid: report.valid, documents: report.documents }, null, 2) + '\n');
      } else {
        for (const line of problemLines(report)) process.stderr.write(line + '\n');
        process.stdout.write(summaryLine(report) + '\n');
      }
      if (!report.valid) process.exitCode = EXIT_USER;
    });
}
