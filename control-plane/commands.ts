import { InvalidArgumentError, type Command } from 'commander';
import { millisecondsArg as millis, portArg as port } from '../common/cli-options.js';

function portList(value: string): number[] {
  const list = value.split(',').filter((s) => s.trim() !== '').map((s) => port(s.trim()));
  return list;
}

export interface BootstrapFlags {
  podName?: string;
  podNamespace?: string;
  podIp?: string;
  serviceAccount?: string;
  xdsAddress?: string;
  clusterId?: string;
  meshId?: string;
  appPorts?: number[];
  output?: string;
}

export interface ControlPlaneFlags {
  host: string;
  port: number;
  registry?: string;
  debounceQuiet?: number;
  debounceMax?: number;
}

/** Registers `tandem bootstrap` and `tandem control-plane`. Actions import their modules lazily. */
export function register(program: Command): void {
  program
    .command('bootstrap')
    .description('print the Envoy bootstrap (JSON) for a pod identity; flags default to the downward-API variables')
    .option('--pod-name <name>', 'pod name (default $POD_NAME)')
    .option('--pod-namespace <ns>', 'pod namespace (default $POD_NAMESPACE)')
    .option('--pod-ip <ip>', 'pod IP (default $INSTANCE_IP)')
    .option('--service-account <sa>', 'service account (default $SERVICE_ACCOUNT)')
    .option('--xds-address <host:port>', 'tandem xDS server (default $XDS_ADDRESS or tandem-xds.tandem-system.svc:15010)')
    .option('--cluster-id <id>', 'cluster id for node metadata')
    .option('--mesh-id <id>', 'mesh id for node metadata')
    .option('--app-ports <list>', 'comma-separated app container ports', portList)
    .option('-o, --output <file>', 'write to FILE instead of stdout')
    .action(async (flags: BootstrapFlags) => {
      const { runBootstrap } = await import('./cli.js');
      await runBootstrap(flags);
    });

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
