import type { Command } from 'commander';
import { millisecondsArg as millis, portArg as port } from '../common/cli-options.js';

export interface ControlPlaneFlags {
  host: string;
  port: number;
  registry?: string;
  debounceQuiet?: number;
  debounceMax?: number;
}

/** Registers `tandem control-plane`. Actions import their modules lazily. */
export function register(program: Command): void {
  program
    .command('control-plane')
    .description('run the xDS server alone (ADS, state of the world and incremental)')
    .option('--host <addr>', 'listen address', '0.0.0.0')
    .option('--port <n>', 'xDS gRPC port (0 = any free port)', port, 15010)
    .option('--registry <spec>', 'kubernetes | file:PATH (default: kubernetes when a kubeconfig or in-cluster config exists)')
    .option('--debounce-quiet <ms>', 'push after this much quiet time (default 100)', millis)
    .option('--debounce-max <ms>', 'push at the latest this long after the first change (default 10000)', millis)
    .action(async (flags: ControlPlaneFlags) => {
      const { runControlPlane } = await import('./cli.js');
      await runControlPlane(flags);
    });
}
