import { readFileSync } from 'node:fs';
import { request as httpsRequest, type Agent } from 'node:https';
import { join } from 'node:path';
import tls from 'node:tls';
import { repo } from './processes.js';

/** The server name `tandem certs init --local` issues for, as the apiserver would verify it. */
export const SERVER_NAME = 'tandem-webhook.tandem-system.svc';

type Json = Record<string, unknown>;

/** The repository's sample AdmissionReview (a Deployment's pod in `default`), parsed afresh each call. */
export function sampleReview(): Json & { request: Json & { uid: string; object: Json } } {
  return JSON.parse(readFileSync(join(repo, 'test/fixtures/admission-review.json'), 'utf8')) as Json & { request: Json & { uid: string; object: Json } };
}

/** The sample review with its own uid and pod name, so each call is a distinct pod (no answer-cache hit). */
export function distinctReview(uid: string): string {
  const r = sampleReview();
  r.request.uid = uid;
  const meta = r.request.object['metadata'] as Json;
  meta['name'] = `hello-${uid}`;
  return JSON.stringify(r);
}

export interface Reply {
  status: number;
  body: string;
  headers: Record<string, string | string[] | undefined>;
}

export interface PostOptions {
  contentType?: string | null;
  agent?: Agent | false;
  path?: string;
  extraHeaders?: Record<string, string>;
}

/** POST over HTTPS, trusting only `ca` and verifying the Service name, as the apiserver calls a webhook. */
export function post(port: number, ca: Buffer, body: string | Buffer, opts: PostOptions = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { ...opts.extraHeaders };
    if (opts.contentType !== null) headers['content-type'] = opts.contentType ?? 'application/json';
    const req = httpsRequest(
      { host: '127.0.0.1', port, path: opts.path ?? '/inject', method: 'POST', ca, servername: SERVER_NAME, agent: opts.agent ?? false, headers },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (d: Buffer) => chunks.push(d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), headers: res.headers }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** Opens a TLS connection to the webhook, verified like `post`. */
export function connectTls(port: number, ca: Buffer, extra: tls.ConnectionOptions = {}): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, ca, servername: SERVER_NAME, ...extra }, () => resolve(socket));
    socket.once('error', reject);
  });
}

/** An HTTP/1.1 POST /inject request as raw bytes. */
export function rawPost(body: string, path = '/inject'): string {
  return `POST ${path} HTTP/1.1\r\nHost: tandem-webhook\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
}

/** Reads from `socket` until it closes or `done(text)` says enough; resolves with all text read. */
export function readUntil(socket: tls.TLSSocket, done: (text: string) => boolean, timeoutMs = 10_000): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`no complete answer within ${timeoutMs} ms; read so far: ${text.slice(0, 300)}`));
    }, timeoutMs);
    const onData = (d: Buffer): void => {
      text += d.toString('utf8');
      if (done(text)) {
        cleanup();
        resolve(text);
      }
    };
    const onEnd = (): void => {
      cleanup();
      resolve(text);
    };
    const cleanup = (): void => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('close', onEnd);
    };
    socket.on('data', onData);
    socket.on('close', onEnd);
  });
}

/** Splits a stream of HTTP/1.1 responses with Content-Length bodies (what the webhook sends) into status and body. */
export function parseResponses(text: string): Array<{ status: number; head: string; body: string }> {
  const out: Array<{ status: number; head: string; body: string }> = [];
  let rest = Buffer.from(text, 'utf8');
  while (rest.length > 0) {
    const end = rest.indexOf('\r\n\r\n');
    if (end < 0) break;
    const head = rest.subarray(0, end).toString('latin1');
    const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? NaN);
    const len = Number(/\r\ncontent-length: (\d+)/i.exec(head)?.[1] ?? NaN);
    if (!Number.isFinite(len) || rest.length < end + 4 + len) break;
    out.push({ status, head, body: rest.subarray(end + 4, end + 4 + len).toString('utf8') });
    rest = rest.subarray(end + 4 + len);
  }
  return out;
}
