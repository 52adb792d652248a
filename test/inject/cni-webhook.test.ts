import t from 'tap';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Operation } from 'fast-json-patch';
import type { V1Pod } from '@kubernetes/client-node';
import { ensureCerts } from '../../certs/ensure.js';
import { captureArgs } from '../../init-cni/cni/capture.js';
import { decideCapture, podInfoFromObject } from '../../init-cni/cni/pod.js';
import { loadInjector } from '../../inject/injector.js';
import { restrictedViolations } from '../../inject/pod-security.js';
import { startWebhookServer, type WebhookServer } from '../../webhook/server.js';
import { applyJsonPatch, call, review } from '../webhook/helpers.js';
import { podProblems } from './helpers.js';

/**
 * One pod through the real admission path with the injector in CNI mode: HTTPS with only the
 * generated CA trusted, the patch applied by fast-json-patch, the result checked against the strict
 * pod schema, the restricted profile, and read back by the CNI plugin's own pod logic.
 */

let server: WebhookServer;
let ca: string;
let certDir: string;

t.before(async () => {
  certDir = await mkdtemp(join(tmpdir(), 'tandem-cni-webhook-'));
  await ensureCerts({ dir: certDir });
  ca = await readFile(join(certDir, 'ca.crt'), 'utf8');
  server = await startWebhookServer({ host: '127.0.0.1', port: 0, certDir, injector: await loadInjector({ config: { cni: true } }) });
});
t.teardown(async () => {
  await server.close();
  await rm(certDir, { recursive: true, force: true });
});

t.test('a restricted-compliant pod admitted in CNI mode stays compliant and is captured by the plugin', async (t) => {
  const pod: V1Pod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'shop-1', namespace: 'shop', labels: { app: 'shop' }, annotations: { 'traffic.sidecar.istio.io/excludeOutboundIPRanges': '10.96.0.1/32' } },
    spec: {
      securityContext: { runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } },
      containers: [{
        name: 'shop', image: 'shop:1', ports: [{ containerPort: 8080 }],
        securityContext: { allowPrivilegeEscalation: false, runAsUser: 1000, capabilities: { drop: ['ALL'] } },
      }],
    },
  };
  t.same(restrictedViolations(pod), [], 'the app pod is compliant');
  const res = await call(server.url, '/inject', JSON.stringify(review(pod, { uid: 'cni-1', namespace: 'shop' })), { ca });
  t.equal(res.status, 200);
  const answer = res.json as { response: { uid: string; allowed: boolean; patch?: string } };
  t.equal(answer.response.uid, 'cni-1');
  t.equal(answer.response.allowed, true);
  t.ok(answer.response.patch, 'a patch');
  const result = structuredClone(pod);
  const ops = JSON.parse(Buffer.from(answer.response.patch ?? '', 'base64').toString('utf8')) as Operation[];
  t.same(applyJsonPatch(result, ops), [], 'fast-json-patch applies every operation');
  t.same(podProblems(result), [], 'strict schema and kubernetes-models accept the injected pod');

  t.same(result.spec?.initContainers?.map((c) => c.name), ['istio-validation', 'istio-proxy'], 'no istio-init; validation before the native proxy');
  t.same(restrictedViolations(result), [], 'the injected pod passes Pod Security restricted');
  const info = podInfoFromObject(result);
  t.same(decideCapture(info, { excludeNamespaces: ['kube-system'] }), { capture: true }, 'the plugin captures it');
  const args = captureArgs(info);
  const flag = (f: string) => args[args.indexOf(f) + 1];
  t.equal(flag('-x'), '10.96.0.1/32', "the pod's own exclusion reaches the plugin");
  t.equal(flag('-m'), 'REDIRECT');
  t.equal(flag('-u'), '1337');
});
