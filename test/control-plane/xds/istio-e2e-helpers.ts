/**
 * Helpers for the end-to-end test of Istio traffic management with a real @grpc/grpc-js-xds client
 * (istio-e2e.test.ts): backends that answer, fail or sleep and count their calls; a client call that
 * carries request metadata and reports its outcome and duration; the file registry and atomic writes
 * into the watched config directory; the binomial bound the weighted split is checked against.
 *
 * The backends are not `startEcho` (../helpers.ts): that one always answers at once, and these must
 * also fail, sleep and count. They serve the same Echo proto (../fixtures/echo.proto), so the reply
 * still names the server that answered.
 */
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { rename, unlink, writeFile } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

interface EchoRequest {
  message: string;
}

interface EchoReply {
  message: string;
  server: string;
}

type SayCallback = (err: grpc.ServiceError | null, res?: EchoReply) => void;

/** The generated Echo client, with the overload that sends request metadata (header routing, hashing). */
export type EchoStub = grpc.Client & {
  Say(req: EchoRequest, metadata: grpc.Metadata, options: grpc.CallOptions, cb: SayCallback): grpc.ClientUnaryCall;
};

type EchoStubCtor = (new (target: string, creds: grpc.ChannelCredentials, options?: grpc.ChannelOptions) => EchoStub) & {
  service: grpc.ServiceDefinition;
};

function loadEcho(): EchoStubCtor {
  const def = protoLoader.loadSync(fileURLToPath(new URL('../fixtures/echo.proto', import.meta.url)), { keepCase: true });
  const pkg = grpc.loadPackageDefinition(def) as unknown as { tandem: { test: { Echo: EchoStubCtor } } };
  return pkg.tandem.test.Echo;
}

/** What a backend does with every call. */
export type Behaviour = { kind: 'answer' } | { kind: 'fail'; code: grpc.status } | { kind: 'sleep'; ms: number };

export interface Backend {
  name: string;
  port: number;
  /** calls this backend has received so far */
  calls(): number;
  close(): Promise<void>;
}

/** A real gRPC Echo server on 127.0.0.1 (ephemeral port) behaving as `behaviour`. */
export async function startBackend(name: string, behaviour: Behaviour): Promise<Backend> {
  const server = new grpc.Server();
  let calls = 0;
  const timers = new Set<NodeJS.Timeout>();
  server.addService(loadEcho().service, {
    Say: (call: grpc.ServerUnaryCall<EchoRequest, EchoReply>, cb: grpc.sendUnaryData<EchoReply>) => {
      calls++;
      const reply = { message: call.request.message, server: name };
      if (behaviour.kind === 'answer') cb(null, reply);
      else if (behaviour.kind === 'fail') cb({ code: behaviour.code, details: `${name} always fails` });
      else {
        const timer = setTimeout(() => {
          timers.delete(timer);
          cb(null, reply);
        }, behaviour.ms);
        timers.add(timer);
      }
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  return {
    name,
    port,
    calls: () => calls,
    close: async () => {
      for (const timer of timers) clearTimeout(timer);
      server.forceShutdown();
    },
  };
}

export function echoStub(target: string): EchoStub {
  const Echo = loadEcho();
  return new Echo(target, grpc.credentials.createInsecure());
}

/** One call's outcome as the client saw it, with its wall time. */
export type Outcome =
  | { ok: true; server: string; ms: number }
  | { ok: false; code: grpc.status; details: string; ms: number };

export interface CallOptions {
  /** request metadata (gRPC's request headers): what header matches and header hashing read */
  headers?: Record<string, string>;
  /** the client's own deadline, default 5 s: longer than any route timeout or fault the test sets */
  deadlineMs?: number;
}

/** One unary call; never rejects: a failure is an outcome with the status code the client saw. */
export function call(client: EchoStub, opts: CallOptions = {}): Promise<Outcome> {
  const metadata = new grpc.Metadata();
  for (const [k, v] of Object.entries(opts.headers ?? {})) metadata.set(k, v);
  const start = performance.now();
  return new Promise((resolve) => {
    client.Say({ message: 'hi' }, metadata, { deadline: Date.now() + (opts.deadlineMs ?? 5000) }, (err, res) => {
      const ms = performance.now() - start;
      if (err) resolve({ ok: false, code: err.code, details: err.details, ms });
      else resolve({ ok: true, server: res?.server ?? '', ms });
    });
  });
}

/** `n` calls, `concurrency` at a time (the split needs hundreds; one at a time would cost seconds). */
export async function callMany(client: EchoStub, n: number, opts: CallOptions = {}, concurrency = 1): Promise<Outcome[]> {
  const out: Outcome[] = [];
  for (let i = 0; i < n; i += concurrency) {
    const batch = Array.from({ length: Math.min(concurrency, n - i) }, () => call(client, opts));
    out.push(...(await Promise.all(batch)));
  }
  return out;
}

/** Which servers answered, with what status codes the rest failed: `{a: 3, b: 2, 'code 14': 1}`. */
export function tally(outcomes: readonly Outcome[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const o of outcomes) {
    const key = o.ok ? o.server : `code ${o.code}`;
    out[key] = (out[key] ?? 0) + 1;
  }
  return out;
}

/** The servers that answered, sorted. */
export function servers(outcomes: readonly Outcome[]): string[] {
  return [...new Set(outcomes.flatMap((o) => (o.ok ? [o.server] : [])))].sort();
}

/**
 * The interval a Binomial(n, p) count falls outside with probability below ~6e-7 at sigmas = 5: the
 * normal approximation, fine for n·p·(1-p) this far above 10. Picks are independent per call
 * (grpc-js-xds draws Math.random() over the total weight), so the count of one subset is binomial.
 */
export function binomialBounds(n: number, p: number, sigmas: number): { low: number; high: number } {
  const mean = n * p;
  const sd = Math.sqrt(n * p * (1 - p));
  return { low: mean - sigmas * sd, high: mean + sigmas * sd };
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** Replaces `file` in one step (write a sibling, rename over it), as a careful editor or kubectl-like tool would. */
export async function writeAtomically(file: string, text: string): Promise<void> {
  await writeFile(`${file}.tmp`, text);
  await rename(`${file}.tmp`, file);
}

export async function remove(file: string): Promise<void> {
  await unlink(file);
}

export interface RegistryService {
  name: string;
  endpoints: { backend: Backend; labels: Record<string, string> }[];
}

/** The file registry (control-plane/registry/file.ts) of gRPC services on port 7070 in namespace `ns`. */
export function registryYaml(ns: string, services: readonly RegistryService[]): string {
  const lines = ['services:'];
  for (const s of services) {
    lines.push(`- name: ${s.name}`, `  namespace: ${ns}`, '  ports: [{name: grpc, port: 7070, protocol: GRPC}]', '  endpoints:');
    for (const e of s.endpoints) lines.push(`  - {address: 127.0.0.1, port: ${e.backend.port}, labels: ${JSON.stringify(e.labels)}}`);
  }
  return `${lines.join('\n')}\n`;
}
