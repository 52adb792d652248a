import { Agent } from 'node:https';
import tls from 'node:tls';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createServer } from 'node:https';
import { applyJsonPatch } from '../webhook/helpers.js';
import t from 'tap';
import { connectTls, distinctReview, parseResponses, post, rawPost, readUntil, SERVER_NAME, type Reply } from './clients.js';
import { malformedBodies, nestedArrays, wrongTypeCases } from './hostile-table.js';
import { rssKiB, sleep, startWebhook, type Webhook } from './processes.js';

/**
 * Hostile input against the real `tandem webhook` process (compiled CLI, real HTTPS, a CA made
 * by `tandem certs init`). Every refusal must be clear (a status and a one-line message), and
 * after the whole barrage the same process must still admit a pod correctly with its memory
 * bounded. The subtests share one process on purpose: that is the point of the last one.
 */

type Json = Record<string, unknown>;

/** The one-line reason of a refusal: Fastify's error body `{statusCode, error, message}`. */
function refusal(r: Reply): string {
  const body = JSON.parse(r.body) as { statusCode?: number; message?: unknown };
  if (body.statusCode !== r.status) throw new Error(`error body does not carry the status ${r.status}: ${r.body}`);
  if (typeof body.message !== 'string' || body.message.length === 0) throw new Error(`no message in ${r.body}`);
  return body.message;
}

/** A sound admission answer: apiVersion/uid echoed, allowed set, any patch applies to the object sent. */
function checkAnswer(r: Reply, sent: { apiVersion: unknown; uid: unknown; object: unknown }): string | undefined {
  let a: { apiVersion?: unknown; kind?: unknown; response?: { uid?: unknown; allowed?: unknown; patch?: unknown; patchType?: unknown; status?: { message?: unknown } } };
  let response: NonNullable<typeof a.response>;
  try {
    a = JSON.parse(r.body) as typeof a;
  } catch {
    return `200 with a body that is not JSON: ${r.body.slice(0, 200)}`;
  }
  if (a.kind !== 'AdmissionReview' || a.apiVersion !== sent.apiVersion) return `answer kind/apiVersion ${String(a.kind)}/${String(a.apiVersion)}`;
  if (a.response === undefined || a.response.uid !== sent.uid) return `answer uid ${String(a.response?.uid)} for ${String(sent.uid)}`;
  response = a.response;
  if (typeof response.allowed !== 'boolean') return 'answer without allowed';
  const message = response.status?.message;
  if (message !== undefined && (typeof message !== 'string' || message.includes('\n'))) return `status.message is not one line: ${String(message)}`;
  if (response.patch !== undefined) {
    if (response.patchType !== 'JSONPatch') return `patch with patchType ${String(response.patchType)}`;
    const ops: unknown = JSON.parse(Buffer.from(String(response.patch), 'base64').toString('utf8'));
    const target = structuredClone(sent.object);
    const errors = applyJsonPatch(target as object, ops);
    if (errors.length > 0) return `the patch does not apply to the object sent: ${errors.join('; ')}`;
  }
  return undefined;
}

let hook: Webhook;
let rssWarm = 0;
const keepAlive = new Agent({ keepAlive: true, maxSockets: 4 });
t.teardown(() => keepAlive.destroy());

t.before(async () => {
  hook = await startWebhook(t);
  // warm-up: the first admissions load the templates' compiled paths, the TLS and JSON machinery
  for (let i = 0; i < 50; i++) {
    const r = await post(hook.port, hook.ca, distinctReview(`warm-${i}`), { agent: keepAlive });
    if (r.status !== 200) throw new Error(`warm-up admission failed: ${r.status} ${r.body}`);
  }
  rssWarm = rssKiB(hook.pid);
});

t.test('bodies that are not (whole) JSON: 400 with a one-line reason', async (t) => {
  for (const c of malformedBodies()) {
    const r = await post(hook.port, hook.ca, c.body, { agent: keepAlive });
    t.equal(r.status, 400, `${c.name}: 400`);
    const message = refusal(r);
    t.notMatch(message, /\n/, `${c.name}: one line`);
    t.match(message, /JSON|AdmissionReview|body|must|poison|prototype|constructor/i, `${c.name}: says what is wrong (${message})`);
  }
  const empty = await post(hook.port, hook.ca, '', { agent: keepAlive });
  t.equal(empty.status, 400);
  t.match(refusal(empty), /empty body/);
  // The server answers every body it cannot take as an AdmissionReview with 400 (design.md).
  const plain = await post(hook.port, hook.ca, JSON.stringify({}), { agent: keepAlive, contentType: 'text/plain' });
  t.equal(plain.status, 400, 'text/plain is not an AdmissionReview');
  t.match(refusal(plain), /unsupported content-type: expected application\/json/);
  const none = await post(hook.port, hook.ca, distinctReview('no-type'), { agent: keepAlive, contentType: null });
  t.equal(none.status, 400, 'no content-type');
  t.match(refusal(none), /content-type/);
});

/**
 * Found by this test and left for the injector's owners (reported): a pod whose `metadata` is not
 * an object gets a patch adding /metadata/labels, which cannot apply. The apiserver decodes pods
 * into typed structs before calling webhooks, so it never sends one; listed so that a fix shows.
 */
const KNOWN_GAPS = ['null', 'boolean', 'number', 'string', 'array'].map((type) => `request.object.metadata → ${type}`);

t.test('every field of the envelope and of the pod, replaced by every wrong JSON type', async (t) => {
  const cases = wrongTypeCases();
  t.ok(cases.length > 300, `${cases.length} generated cases`);
  const failures: string[] = [];
  const seen = new Map<number, number>();
  for (const c of cases) {
    const r = await post(hook.port, hook.ca, c.body, { agent: keepAlive });
    seen.set(r.status, (seen.get(r.status) ?? 0) + 1);
    const sent = JSON.parse(c.body) as Json;
    const req = sent['request'] as Json | undefined;
    if (r.status === 400) {
      const message = refusal(r);
      if (message.includes('\n')) failures.push(`${c.name}: multi-line 400 message`);
      // Schema refusals name the field (Ajv's instance path, e.g. "body/request/uid").
      if (!/body|JSON/.test(message)) failures.push(`${c.name}: 400 without naming where: ${message}`);
    } else if (r.status === 200) {
      const problem = checkAnswer(r, { apiVersion: sent['apiVersion'], uid: req?.['uid'], object: c.object });
      if (problem) failures.push(`${c.name}: ${problem}`);
    } else {
      failures.push(`${c.name}: HTTP ${r.status} ${r.body.slice(0, 200)}`);
    }
  }
  t.same(failures.filter((f) => !KNOWN_GAPS.some((k) => f.startsWith(`${k}: `))), [], 'each answered 400 with a reason naming the field, or a sound AdmissionReview');
  t.same(KNOWN_GAPS.filter((k) => !failures.some((f) => f.startsWith(`${k}: `))), [], 'the known gaps are still there (remove them from KNOWN_GAPS once fixed)');
  t.ok((seen.get(400) ?? 0) > 0 && (seen.get(200) ?? 0) > 0, `both refusals and answers occur: ${JSON.stringify([...seen])}`);
  t.equal(hook.child.exitCode, null, 'the process is still running');
});

t.test('deep nesting: 100k nested arrays as the body and inside the pod', async (t) => {
  const deep = nestedArrays(100_000);
  const top = await post(hook.port, hook.ca, deep, { agent: keepAlive });
  t.equal(top.status, 400, 'a nested array is not an AdmissionReview');
  t.match(refusal(top), /body must be object/);

  for (const where of ['spec', 'labels', 'annotations'] as const) {
    const r = JSON.parse(distinctReview(`deep-${where}`)) as { request: { uid: string; object: { metadata: Json; spec: Json } } };
    const marker = '"__DEEP__"';
    if (where === 'spec') r.request.object.spec['extra'] = '__DEEP__';
    else r.request.object.metadata[where] = { deep: '__DEEP__' };
    const body = JSON.stringify(r).replace(marker, deep);
    const reply = await post(hook.port, hook.ca, body, { agent: keepAlive });
    t.not(reply.status, 500, `deep ${where}: no internal error`);
    if (reply.status === 400) t.notMatch(refusal(reply), /\n/, `deep ${where}: refused in one line`);
    else {
      t.equal(reply.status, 200, `deep ${where}: answered`);
      const a = JSON.parse(reply.body) as { response: { uid: string; allowed: boolean } };
      t.equal(a.response.uid, `deep-${where}`, `deep ${where}: uid echoed`);
    }
  }
});

t.test('bodies over the 8 MiB limit: 413, whether announced or streamed', async (t) => {
  // The configured limit (BODY_LIMIT in the webhook's server module, 8 MiB: room for the largest
  // object etcd stores, ~1.5 MiB, twice over for UPDATE's oldObject). Not imported: black box.
  const limit = 8 * 1024 * 1024;
  // Announced: the server refuses on the Content-Length header, before reading the body.
  const announced = await connectTls(hook.port, hook.ca);
  t.teardown(() => announced.destroy());
  // the server closes once it has answered; writes after that fail with EPIPE, which is the point
  announced.on('error', () => undefined);
  const first = readUntil(announced, (s) => /\r\n\r\n[\s\S]*\}/.test(s), 20_000);
  announced.write(`POST /inject HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${limit + 1}\r\n\r\n`);
  announced.write('x'.repeat(64 * 1024));
  const firstText = await first;
  t.match(firstText, /^HTTP\/1\.1 413 /, 'Content-Length one byte over the limit: 413');
  t.match(parseResponses(firstText)[0]?.body ?? '', /"message":"Request body is too large"/);

  // Chunked: the server learns the size only while reading.
  const socket = await connectTls(hook.port, hook.ca);
  t.teardown(() => socket.destroy());
  socket.on('error', () => undefined);
  socket.write('POST /inject HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n');
  const chunk = 'x'.repeat(1024 * 1024);
  const answer = readUntil(socket, (s) => /\r\n\r\n[\s\S]*\}/.test(s), 20_000);
  // Stop sending once the answer starts: a peer that keeps writing into a closed connection gets
  // a reset, and a reset can overtake the answer in the client's kernel.
  let answered = false;
  socket.once('data', () => (answered = true));
  for (let i = 0; i < 10 && !answered && !socket.destroyed; i++) {
    if (!socket.write(`${chunk.length.toString(16)}\r\n${chunk}\r\n`)) await new Promise((r) => socket.once('drain', r).once('data', r).once('close', r));
  }
  const text = await answer;
  t.match(text, /^HTTP\/1\.1 413 /, `chunked body over the limit: 413 (got ${JSON.stringify(text.slice(0, 80))})`);

  const just = `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","pad":"${'x'.repeat(limit - 200)}"}`;
  const under = await post(hook.port, hook.ca, just);
  t.equal(under.status, 400, 'just under the limit: read, then refused for what it is (no request)');
});

t.test('HTTP/1.1 pipelining: requests in one write are answered in order', async (t) => {
  const socket = await connectTls(hook.port, hook.ca);
  t.teardown(() => socket.destroy());
  socket.write(rawPost(distinctReview('pipe-1')) + rawPost('{"kind":"AdmissionReview"}') + rawPost(distinctReview('pipe-3')) + rawPost(distinctReview('pipe-4')));
  const answers = parseResponses(await readUntil(socket, (s) => parseResponses(s).length >= 4));
  t.same(answers.map((a) => a.status), [200, 400, 200, 200], 'four answers, in order');
  t.equal((JSON.parse(answers[0]!.body) as { response: { uid: string } }).response.uid, 'pipe-1');
  t.match(answers[1]!.body, /must have required property 'apiVersion'/, 'the invalid review in the middle is refused alone');
  t.equal((JSON.parse(answers[2]!.body) as { response: { uid: string } }).response.uid, 'pipe-3');
  t.equal((JSON.parse(answers[3]!.body) as { response: { uid: string } }).response.uid, 'pipe-4');

  // A body that is not JSON leaves the connection's framing in doubt: the server answers it and
  // says it closes (the client retries the unanswered requests on a new connection).
  const second = await connectTls(hook.port, hook.ca);
  t.teardown(() => second.destroy());
  second.write(rawPost(distinctReview('pipe-5')) + rawPost('{"truncated":') + rawPost(distinctReview('pipe-7')));
  const text = await readUntil(second, () => false);
  const got = parseResponses(text);
  t.same(got.map((a) => a.status), [200, 400], 'answered up to the broken body');
  t.match(got[1]!.head, /\r\nconnection: close/i, 'with Connection: close');
  t.ok(second.destroyed || second.readableEnded, 'then the connection is closed');
});

/** Sends `text` one byte per `everyMs` until the server closes; resolves with what it answered and when. */
async function dribble(port: number, ca: Buffer, head: string, text: string, everyMs: number): Promise<{ seconds: number; answer: string; sent: number }> {
  const socket = await connectTls(port, ca);
  socket.on('error', () => undefined);
  const t0 = Date.now();
  socket.write(head);
  let sent = 0;
  const timer = setInterval(() => {
    if (!socket.destroyed && sent < text.length) socket.write(text[sent++]!);
  }, everyMs);
  try {
    const answer = await readUntil(socket, () => false, 60_000);
    return { seconds: (Date.now() - t0) / 1000, answer, sent };
  } finally {
    clearInterval(timer);
    socket.destroy();
  }
}

t.test('slow senders (slowloris) are cut off with 408 within the request timeout', async (t) => {
  // The webhook's REQUEST_TIMEOUT_MS is 10 s, checked every second (see its server module); the
  // apiserver itself gives up on a webhook after timeoutSeconds (10 s in the manifests).
  const [headers, body] = await Promise.all([
    dribble(hook.port, hook.ca, 'POST /inject HTTP/1.1\r\nHost: x\r\n', `X-Slow: ${'a'.repeat(200)}`, 500),
    dribble(hook.port, hook.ca, 'POST /inject HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 5000\r\n\r\n', ' '.repeat(5000), 500),
  ]);
  for (const [what, r] of [['headers', headers], ['body', body]] as const) {
    t.comment(`slow ${what}: closed after ${r.seconds.toFixed(1)} s, ${r.sent} bytes dribbled`);
    t.match(r.answer, /^HTTP\/1\.1 408 Request Timeout\r\n/, `slow ${what}: 408`);
    t.match(parseResponses(r.answer)[0]?.body ?? '', /"message":"Client Timeout"/);
    // A wide window: the point is "bounded by the server's timeout", not a precise time.
    t.ok(r.seconds >= 9 && r.seconds < 30, `slow ${what}: closed after the 10 s timeout, not minutes later (${r.seconds.toFixed(1)} s)`);
  }
});

/** A TLS handshake with the protocol pinned to `version`; resolves with the negotiated protocol or the error code. */
async function handshake(port: number, ca: Buffer, version: tls.SecureVersion): Promise<string> {
  try {
    // SECLEVEL=0: OpenSSL 3 will not even offer TLS 1.0/1.1 otherwise, and then the test would not prove the server refused.
    const s = await connectTls(port, ca, { minVersion: version, maxVersion: version, ciphers: 'DEFAULT@SECLEVEL=0' });
    const p = s.getProtocol() ?? 'unknown';
    s.destroy();
    return p;
  } catch (err) {
    return `refused: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`;
  }
}

t.test('TLS 1.0 and 1.1 clients are refused; 1.2 and 1.3 accepted', async (t) => {
  // The control: the same client settings against a server that allows TLS 1.0 do connect,
  // so a refusal below comes from tandem and not from this machine's OpenSSL.
  const lenient = createServer({
    key: readFileSync(join(hook.certDir, 'tls.key')),
    cert: readFileSync(join(hook.certDir, 'tls.crt')),
    minVersion: 'TLSv1',
    ciphers: 'DEFAULT@SECLEVEL=0',
  });
  await new Promise<void>((r) => lenient.listen(0, '127.0.0.1', r));
  t.teardown(() => lenient.close());
  const lenientPort = (lenient.address() as { port: number }).port;
  for (const v of ['TLSv1', 'TLSv1.1'] as const) {
    t.equal(await handshake(lenientPort, hook.ca, v), v, `control: this client can speak ${v}`);
    t.match(await handshake(hook.port, hook.ca, v), /^refused: ERR_SSL_(TLSV1_ALERT_PROTOCOL_VERSION|UNSUPPORTED_PROTOCOL)/, `${v} refused by the webhook`);
  }
  for (const v of ['TLSv1.2', 'TLSv1.3'] as const) t.equal(await handshake(hook.port, hook.ca, v), v, `${v} accepted`);
  t.equal(SERVER_NAME, 'tandem-webhook.tandem-system.svc');
});

t.test('after the barrage: a valid admission is answered correctly and memory stayed bounded', async (t) => {
  const r = await post(hook.port, hook.ca, distinctReview('after-barrage'));
  t.equal(r.status, 200);
  const a = JSON.parse(r.body) as { response: { uid: string; allowed: boolean; patch: string } };
  t.equal(a.response.uid, 'after-barrage');
  t.equal(a.response.allowed, true);
  const patch = Buffer.from(a.response.patch, 'base64').toString('utf8');
  t.match(patch, /"name":"istio-proxy"/, 'the sidecar is still injected');
  t.match(patch, /"name":"istio-init"/, 'with its init container');
  // Give the collector a moment after the multi-megabyte bodies; the bound is a ratio, generous.
  await sleep(500);
  const rss = rssKiB(hook.pid);
  t.comment(`RSS after warm-up ${rssWarm} KiB, after the barrage ${rss} KiB (×${(rss / rssWarm).toFixed(2)})`);
  t.ok(rss < rssWarm * 3, `RSS ${rss} KiB stays under 3× the warm RSS ${rssWarm} KiB`);
});
