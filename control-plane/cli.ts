import { pino } from 'pino';
import { UserError } from '../common/errors.js';
import type { ControlPlaneFlags } from './commands.js';
import { createRegistry, kubernetesConfigured } from './registry/index.js';
import { startControlPlane } from './server.js';

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
