import * as grpc from '@grpc/grpc-js';
import { silentLogger } from '../common/logger.js';
import { registerXds, type XdsHandle, type XdsOptions } from './xds/server/register.js';

/**
 * `startControlPlane`: a convenience that creates a gRPC server, registers xDS on it
 * (xds/server/register.ts) and binds it; what `tandem control-plane` and `tandem
 * serve` run. Embedders that share the port with other services call `registerXds`
 * on their own server.
 */

export interface ControlPlaneOptions extends XdsOptions {
  /** listen address, default 0.0.0.0 */
  host?: string;
  /** default 15010; 0 picks a free port */
  port?: number;
}

export interface ControlPlane extends Omit<XdsHandle, 'close'> {
  /** the bound port */
  port: number;
  /** stops accepting streams, ends the open ones and stops watching the registry (the registry itself stays open) */
  close(): Promise<void>;
}

/** How long open streams get to end before the server is forced down. */
const SHUTDOWN_GRACE_MS = 2000;

export async function startControlPlane(opts: ControlPlaneOptions): Promise<ControlPlane> {
  const log = opts.log ?? silentLogger;
  const server = new grpc.Server({ 'grpc.max_send_message_length': -1, 'grpc.max_receive_message_length': 16 * 1024 * 1024 });
  const xds = registerXds(server, opts);
  const host = opts.host ?? '0.0.0.0';
  const address = host.includes(':') ? `[${host}]:${opts.port ?? 15010}` : `${host}:${opts.port ?? 15010}`;
  let port: number;
  try {
    port = await new Promise<number>((resolve, reject) => {
      server.bindAsync(address, grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p)));
    });
  } catch (err) {
    xds.close();
    server.forceShutdown();
    throw err;
  }
  log.info({ address: `${host}:${port}` }, 'xDS server listening');

  let closed: Promise<void> | undefined;
  return {
    port,
    push: xds.push,
    setMesh: xds.setMesh,
    ready: xds.ready,
    stats: xds.stats,
    proxies: xds.proxies,
    configDump: xds.configDump,
    close: () => {
      closed ??= (async () => {
        xds.close();
        await new Promise<void>((resolve) => {
          const force = setTimeout(() => {
            server.forceShutdown();
            resolve();
          }, SHUTDOWN_GRACE_MS);
          server.tryShutdown(() => {
            clearTimeout(force);
            resolve();
          });
        });
      })();
      return closed;
    },
  };
}
