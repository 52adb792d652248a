import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { fileURLToPath } from 'node:url';

/** A real gRPC Echo server on 127.0.0.1 (ephemeral port) answering with its own name. */
export interface EchoServer {
  port: number;
  name: string;
  close(): Promise<void>;
}

export interface EchoReply {
  message: string;
  server: string;
}

type EchoClientCtor = new (target: string, creds: grpc.ChannelCredentials, options?: grpc.ChannelOptions) => grpc.Client & {
  Say(req: { message: string }, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res?: EchoReply) => void): grpc.ClientUnaryCall;
  Say(req: { message: string }, md: grpc.Metadata, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res?: EchoReply) => void): grpc.ClientUnaryCall;
};

export function loadEcho(): { service: grpc.ServiceDefinition; Client: EchoClientCtor } {
  const def = protoLoader.loadSync(fileURLToPath(new URL('./fixtures/echo.proto', import.meta.url)), { keepCase: true });
  const pkg = grpc.loadPackageDefinition(def) as unknown as { tandem: { test: { Echo: EchoClientCtor & { service: grpc.ServiceDefinition } } } };
  return { service: pkg.tandem.test.Echo.service, Client: pkg.tandem.test.Echo };
}

/** Adds the Echo service, answering as `name`, to a server. */
export function addEcho(server: grpc.Server, name: string): void {
  server.addService(loadEcho().service, {
    Say: (call: grpc.ServerUnaryCall<{ message: string }, EchoReply>, cb: grpc.sendUnaryData<EchoReply>) => cb(null, { message: call.request.message, server: name }),
  });
}

export async function startEcho(name: string): Promise<EchoServer> {
  const server = new grpc.Server();
  addEcho(server, name);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  return {
    port,
    name,
    close: () => new Promise<void>((resolve) => server.tryShutdown(() => resolve())),
  };
}

export function echoClient(target: string, creds: grpc.ChannelCredentials = grpc.credentials.createInsecure(), options?: grpc.ChannelOptions): InstanceType<EchoClientCtor> {
  const { Client } = loadEcho();
  return new Client(target, creds, options);
}

export function say(client: InstanceType<EchoClientCtor>, message: string, timeoutMs = 2000, metadata: grpc.Metadata = new grpc.Metadata()): Promise<EchoReply> {
  return new Promise((resolve, reject) => {
    client.Say({ message }, metadata, { deadline: Date.now() + timeoutMs }, (err, res) => (err ? reject(err) : res ? resolve(res) : reject(new Error('empty reply'))));
  });
}

/** Polls `probe` until it returns true or `timeoutMs` passes. */
export async function eventually(probe: () => Promise<boolean>, timeoutMs = 10_000, stepMs = 50): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await probe().catch(() => false)) return true;
    await new Promise((r) => setTimeout(r, stepMs));
  }
  return false;
}
