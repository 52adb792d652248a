import { writeFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { portArg } from '../common/cli-options.js';
import { UserError } from '../common/errors.js';
import { renderGrpcBootstrap } from './grpc.js';
import { DEFAULT_XDS_ADDRESS, renderBootstrap, type SidecarBootstrapParams } from './sidecar.js';

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
  /** a proxyless gRPC xDS bootstrap instead of Envoy's */
  grpc?: boolean;
  /** where the workload certificate is mounted (Envoy secrets / gRPC certificate provider) */
  credentialsDir?: string;
}

function portList(value: string): number[] {
  return value.split(',').filter((s) => s.trim() !== '').map((s) => portArg(s.trim()));
}

/** Registers `tandem bootstrap`. The renderer is pure and small, so it is imported eagerly. */
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
    .option('--grpc', 'print a proxyless gRPC xDS bootstrap (GRPC_XDS_BOOTSTRAP_CONFIG) instead of the Envoy bootstrap')
    .option('--credentials-dir <dir>', 'workload certificate directory (cert-chain.pem, key.pem, root-cert.pem): Envoy secrets default/ROOTCA read it; with --grpc default /var/run/secrets/workload-spiffe-credentials')
    .option('-o, --output <file>', 'write to FILE instead of stdout')
    .action(async (flags: BootstrapFlags) => {
      await runBootstrap(flags);
    });
}

function required(flag: string, value: string | undefined, envName: string): string {
  if (value === undefined || value === '') throw new UserError(`bootstrap: ${flag} is required (or set $${envName})`);
  return value;
}

/** Flags + environment -> bootstrap params (pure). */
export function bootstrapParams(flags: BootstrapFlags, env: NodeJS.ProcessEnv): SidecarBootstrapParams {
  const p: SidecarBootstrapParams = {
    podName: required('--pod-name', flags.podName ?? env['POD_NAME'], 'POD_NAME'),
    podNamespace: required('--pod-namespace', flags.podNamespace ?? env['POD_NAMESPACE'], 'POD_NAMESPACE'),
    podIp: required('--pod-ip', flags.podIp ?? env['INSTANCE_IP'], 'INSTANCE_IP'),
    serviceAccount: required('--service-account', flags.serviceAccount ?? env['SERVICE_ACCOUNT'], 'SERVICE_ACCOUNT'),
    xdsAddress: flags.xdsAddress ?? env['XDS_ADDRESS'] ?? DEFAULT_XDS_ADDRESS,
  };
  if (flags.clusterId) p.clusterId = flags.clusterId;
  if (flags.meshId) p.meshId = flags.meshId;
  if (flags.appPorts) p.appPorts = flags.appPorts;
  if (flags.credentialsDir) p.workloadCredentialsDir = flags.credentialsDir;
  return p;
}

export async function runBootstrap(flags: BootstrapFlags, env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const p = bootstrapParams(flags, env);
  const doc = flags.grpc
    ? renderGrpcBootstrap({ ...p, ...(p.workloadCredentialsDir !== undefined ? { credentialsDir: p.workloadCredentialsDir } : {}) })
    : renderBootstrap(p);
  const text = JSON.stringify(doc, null, 2) + '\n';
  if (flags.output) {
    try {
      await writeFile(flags.output, text);
    } catch (err) {
      throw new UserError(`bootstrap: cannot write ${flags.output}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  } else {
    process.stdout.write(text);
  }
}
