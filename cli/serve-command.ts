import type { Command } from 'commander';

export function register(program: Command): void {
  program
    .command('serve')
    .description('run the control plane: admission webhook (:15017) and xDS (:15010) in one process')
    .action(async () => {
      process.stderr.write('tandem serve: not implemented yet\n');
      process.exitCode = 2;
    });
}
