import { Option, type Command } from 'commander';

/** Registers this area's subcommands. Actions import their modules lazily. */
export function register(program: Command): void {
  const collect = (v: string, prev: string[]): string[] => [...prev, v];
  const files = () => new Option('-f, --filename <file>', 'input file, "-" for stdin (repeatable)').argParser(collect).default([], 'none');

  program
    .command('inject')
    .description('inject the sidecar into every pod template of multi-document YAML (Pod, Deployment, StatefulSet, DaemonSet, ReplicaSet, ReplicationController, Job, CronJob, List); other kinds pass through')
    .addOption(files())
    .addOption(new Option('-o, --output <format>', 'output format').choices(['yaml', 'json']).default('yaml'))
    .option('--config <file>', 'injector config YAML (default: embedded defaults)')
    .option('--templates <dir>', 'directory overriding the shipped templates')
    .action(async (opts: { filename: string[]; output: 'yaml' | 'json'; config?: string; templates?: string }) => {
      const [{ loadInjector }, { injectFiles }] = await Promise.all([import('../injector.js'), import('./files.js')]);
      const injector = await loadInjector({ configPath: opts.config, templatesDir: opts.templates });
      const { output, warnings } = await injectFiles(opts.filename, injector, opts.output);
      for (const w of warnings) process.stderr.write(`tandem: warning: ${w}\n`);
      process.stdout.write(output);
    });

  program
    .command('check-inject')
    .description('explain, per workload, whether the webhook would inject it in a namespace with the given labels, and which rule decided')
    .addOption(files())
    .addOption(new Option('--namespace-labels <labels>', 'labels of the target namespace, k=v,k2=v2').default('', 'none, an unlabelled namespace'))
    .addOption(new Option('-o, --output <format>', 'output format').choices(['text', 'json']).default('text'))
    .option('--config <file>', 'injector config YAML (default: embedded defaults)')
    .option('--templates <dir>', 'directory overriding the shipped templates')
    .action(async (opts: { filename: string[]; namespaceLabels: string; output: 'text' | 'json'; config?: string; templates?: string }) => {
      const [{ loadInjector }, { checkFiles, formatCheckResults, parseLabelList }] = await Promise.all([import('../injector.js'), import('./files.js')]);
      const labels = parseLabelList(opts.namespaceLabels);
      const injector = await loadInjector({ configPath: opts.config, templatesDir: opts.templates });
      const results = await checkFiles(opts.filename, injector, labels);
      process.stdout.write(formatCheckResults(results, opts.output));
    });
}
