import { writeFile } from 'node:fs/promises';
import { UserError } from '../common/errors.js';
import { DEFAULT_XDS_ADDRESS, renderBootstrap, type SidecarBootstrapParams } from './bootstrap.js';
import type { BootstrapFlags } from './commands.js';

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
