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
  /**
   * A second server over TLS (Istio's 15012) sharing the same xDS streams and caches: ADS, plus
   * whatever `register` adds (the CA API, which must never answer in clear: bearer tokens).
   */
  secure?: { port: number; credentials: grpc.ServerCredentials; register?: (server: grpc.Server) => void };
}

export interface ControlPlane extends Omit<XdsHandle, 'close'> {
  /** the bound port */
  port: number;
  /** the bound TLS port, when `secure` was given */
  securePort?: number;
  /** stops accepting streams, ends the open ones and stops watching the registry (the registry itself stays open) */
  close(): Promise<void>;
}

/** How long open streams get to end before the server is forced down. */
const SHUTDOWN_GRACE_MS = 2000;

export async function startControlPlane(opts: ControlPlaneOptions): Promise<ControlPlane> {
  const log = opts.log ?? silentLogger;
  const serverOptions = { 'grpc.max_send_message_length': -1, 'grpc.max_receive_message_length': 16 * 1024 * 1024 };
  const server = new grpc.Server(serverOptions);
  const secureServer = opts.secure ? new grpc.Server(serverOptions) : undefined;
  const xds = registerXds(secureServer ? [server, secureServer] : server, opts);
  if (secureServer) opts.secure?.register?.(secureServer);
  const host = opts.host ?? '0.0.0.0';
  const addressOf = (p: number): string => (host.includes(':') ? `[${host}]:${p}` : `${host}:${p}`);
  const bind = (srv: grpc.Server, p: number, credentials: grpc.ServerCredentials): Promise<number> =>
    new Promise<number>((resolve, reject) => srv.bindAsync(addressOf(p), credentials, (err, bound) => (err ? reject(err) : resolve(bound))));
  let port: number;
  let securePort: number | undefined;
  try {
    port = await bind(server, opts.port ?? 15010, grpc.ServerCredentials.createInsecure());
    if (secureServer && opts.secure) securePort = await bind(secureServer, opts.secure.port, opts.secure.credentials);
  } catch (err) {
    xds.close();
    server.forceShutdown();
    secureServer?.forceShutdown();
    throw err;
  }
  log.info({ address: `${host}:${port}`, ...(securePort !== undefined ? { secure: `${host}:${securePort}` } : {}) }, 'xDS server listening');

  let closed: Promise<void> | undefined;
  return {
    port,
    ...(securePort !== undefined ? { securePort } : {}),
    push: xds.push,
    setMesh: xds.setMesh,
    ready: xds.ready,
    stats: xds.stats,
    proxies: xds.proxies,
    configDump: xds.configDump,
    close: () => {
      closed ??= (async () => {
        xds.close();
        const shutdown = (srv: grpc.Server): Promise<void> =>
          new Promise<void>((resolve) => {
            const force = setTimeout(() => {
              srv.forceShutdown();
              resolve();
            }, SHUTDOWN_GRACE_MS);
            srv.tryShutdown(() => {
              clearTimeout(force);
              resolve();
            });
          });
        await Promise.all([shutdown(server), ...(secureServer ? [shutdown(secureServer)] : [])]);
      })();
      return closed;
    },
  };
}
