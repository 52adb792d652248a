import { Command, CommanderError } from 'commander';
import { EXIT_USER, reportError } from '../common/errors.js';

/**
 * The `tandem` program. Each area registers its own subcommands; their actions
 * import the heavy modules lazily so that one command never pays for another's
 * dependencies at start-up.
 */
export async function main(argv: string[]): Promise<number> {
  const program = new Command('tandem')
    .description('Injection-first service mesh: Istio-compatible sidecar injection, traffic capture, xDS')
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) })
    .showHelpAfterError(false);

  const registrations = await Promise.all([
    import('./commands.js'),
    import('../inject/offline/commands.js'),
    import('../webhook/commands.js'),
    import('../certs/commands.js'),
    import('../ca/commands.js'),
    import('../control-plane/commands.js'),
    import('../bootstrap/commands.js'),
    import('../config/commands.js'),
    import('../init-cni/commands.js'),
  ]);
  for (const r of registrations) r.register(program);
  // `iptables` is dispatched by bin/tandem before this program loads; listed for --help.
  program.command('iptables').description('generate and apply the pod capture rules (istio-iptables compatible flags)').allowUnknownOption().helpOption(false).action(async () => {
    const { main: iptablesMain } = await import('../init-cni/cli.js');
    process.exitCode = await iptablesMain(argv.slice(3));
  });

  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      // commander already printed its message (or the help text).
      return err.exitCode === 0 ? 0 : EXIT_USER;
    }
    return reportError(err);
  }
}
