import { writeFile } from 'node:fs/promises';
import { pino } from 'pino';
import { UserError } from '../common/errors.js';
import { DEFAULT_XDS_ADDRESS, renderBootstrap, type SidecarBootstrapParams } from './bootstrap.js';
import type { BootstrapFlags, ControlPlaneFlags } from './commands.js';
import { createRegistry, kubernetesConfigured } from './registry/index.js';
import { startControlPlane } from './server.js';

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
  return p;
}

export async function runBootstrap(flags: BootstrapFlags, env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const text = JSON.stringify(renderBootstrap(bootstrapParams(flags, env)), null, 2) + '\n';
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

export interface RunOptions {
  /** stops the server when aborted (tests); SIGINT/SIGTERM always do */
  signal?: AbortSignal;
  /** receives the one-line JSON announcement, default stdout */
  announce?: (line: string) => void;
}

export async function runControlPlane(flags: ControlPlaneFlags, run: RunOptions = {}): Promise<void> {
  const log = pino({ name: 'tandem-xds' }, pino.destination(2));
  const spec = flags.registry ?? (kubernetesConfigured() ? 'kubernetes' : undefined);
  if (!spec) throw new UserError('control-plane: no Kubernetes configuration found; pass --registry file:PATH');
  const registry = await createRegistry(spec, { log });
  const cp = await startControlPlane({
    host: flags.host,
    port: flags.port,
    registry,
    log,
    debounce: {
      ...(flags.debounceQuiet !== undefined ? { quietMs: flags.debounceQuiet } : {}),
      ...(flags.debounceMax !== undefined ? { maxDelayMs: flags.debounceMax } : {}),
    },
  });
  (run.announce ?? ((l: string) => process.stdout.write(l)))(JSON.stringify({ xds: `${flags.host}:${cp.port}`, registry: spec }) + '\n');
  await new Promise<void>((resolve) => {
    const stop = (): void => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      run.signal?.removeEventListener('abort', stop);
      resolve();
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    if (run.signal?.aborted) stop();
    else run.signal?.addEventListener('abort', stop);
  });
  log.info({}, 'shutting down');
  await cp.close();
  await registry.close();
}
