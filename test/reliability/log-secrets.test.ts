import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { distinctReview, post } from './clients.js';
import { certsInit, startWebhook, tempDir } from './processes.js';

/**
 * SECURITY.md promises that the webhook logs no env values, secrets or keys from pod specs or
 * certificates. Pods carrying secret-looking values go through the real process (ordinary
 * admissions, an invalid annotation, and a pod that makes the injector fail, whose error is
 * logged with its stack); then the whole stderr is searched for every one of the values and
 * for the serving key.
 */

const SECRETS = {
  env: 'AKIAZZSECRETENVVALUE0001',
  envPassword: 'hunter2-pw-ZZSECRET-0002',
  pem: '-----BEGIN RSA PRIVATE KEY-----\nMIIZZSECRETKEYMATERIAL0003\n-----END RSA PRIVATE KEY-----',
  args: '--token=ZZSECRETARGTOKEN0004',
  initEnv: 'ZZSECRETINITENV0005',
  brokenEnv: 'ZZSECRETINBROKENPOD0006',
};

type Json = Record<string, unknown>;

function podWithSecrets(uid: string, mutate?: (pod: { metadata: Json; spec: { containers: Json[]; initContainers?: Json[] } }) => void): string {
  const r = JSON.parse(distinctReview(uid)) as { request: { object: { metadata: Json; spec: { containers: Json[]; initContainers?: Json[] } } } };
  const pod = r.request.object;
  const app = pod.spec.containers[0]!;
  app['env'] = [
    { name: 'AWS_ACCESS_KEY_ID', value: SECRETS.env },
    { name: 'DB_PASSWORD', value: SECRETS.envPassword },
    { name: 'TLS_KEY', value: SECRETS.pem },
    { name: 'FROM_SECRET', valueFrom: { secretKeyRef: { name: 'db', key: 'password' } } },
  ];
  app['args'] = [SECRETS.args];
  pod.spec.initContainers = [{ name: 'migrate', image: 'busybox', env: [{ name: 'INIT_SECRET', value: SECRETS.initEnv }] }];
  mutate?.(pod);
  return JSON.stringify(r);
}

t.test('no env value, argument or key from a pod or the certificates reaches the log', async (t) => {
  const hook = await startWebhook(t);
  const replies = [
    await post(hook.port, hook.ca, podWithSecrets('secrets-1')),
    // an annotation the injector refuses: its reason is logged
    await post(hook.port, hook.ca, podWithSecrets('secrets-2', (pod) => (pod.metadata['annotations'] = { 'sidecar.istio.io/proxyCPU': 'not-a-quantity' }))),
    // a pod that makes the injector throw: the error and its stack are logged at error level
    await post(hook.port, hook.ca, podWithSecrets('secrets-3', (pod) => pod.spec.containers.push({ name: 'broken', env: [{ name: 'X', value: SECRETS.brokenEnv }] }, null as unknown as Json))),
  ];
  for (const r of replies) t.equal(r.status, 200, 'answered');
  t.ok(replies.some((r) => r.body.includes('"allowed":true') && r.body.includes('"patch"')), 'at least one pod was injected');

  hook.child.kill('SIGTERM');
  t.equal(await hook.exit, 0);
  const log = hook.stderr();
  // The admissions were logged (so the check below is looking at the right output)…
  t.match(log, /"uid":"secrets-1"/);
  t.match(log, /"uid":"secrets-3"/);
  t.match(log, /"level":50/, 'the injector failure was logged as an error');
  // …and none of the values is in it, whole or as its distinctive part.
  for (const [what, value] of Object.entries(SECRETS)) {
    const marker = /ZZSECRET[A-Z0-9]*/.exec(value)?.[0] ?? value;
    t.notOk(log.includes(marker), `${what} is not logged`);
  }
  const key = readFileSync(join(hook.certDir, 'tls.key'), 'utf8');
  const keyBody = key.split('\n').filter((l) => l && !l.startsWith('-----')).join('');
  t.notOk(log.includes(keyBody.slice(0, 40)), 'the serving key is not logged');
  t.notMatch(log, /PRIVATE KEY/, 'no PEM key block of any kind');
});

t.test('tandem certs init writes private keys readable by their owner only', async (t) => {
  const dir = tempDir(t, 'key-modes');
  certsInit(dir);
  for (const key of ['ca.key', 'tls.key']) t.equal(statSync(join(dir, key)).mode & 0o777, 0o600, `${key} is 0600`);
  for (const cert of ['ca.crt', 'tls.crt']) t.equal(statSync(join(dir, cert)).mode & 0o077 & 0o022, 0, `${cert} is not group/world-writable`);
});
