// TokenReview runs against the EMULATED apiserver (test/control-plane/k8s-emulator.ts, a virtual
// `tokenreviews` collection answering as kube-apiserver's authenticator does: status.authenticated,
// user.username, audiences, error); no kube-apiserver runs here.
import t from 'tap';
import { KubeConfig } from '@kubernetes/client-node';
import { AuthnError, tokenReviewAuthenticator } from '../../ca/authn.js';
import { EmulatedApiServer } from '../control-plane/k8s-emulator.js';

type Obj = Record<string, any>;

const TOKENS: Record<string, { username: string; audiences: string[] }> = {
  'good': { username: 'system:serviceaccount:demo:echo', audiences: ['istio-ca'] },
  'for-kubernetes': { username: 'system:serviceaccount:demo:echo', audiences: ['https://kubernetes.default.svc'] },
  'a-user': { username: 'alice', audiences: ['istio-ca'] },
};

function kc(server: string): KubeConfig {
  const k = new KubeConfig();
  k.loadFromOptions({ clusters: [{ name: 'e', server, skipTLSVerify: true }], users: [{ name: 'u' }], contexts: [{ name: 'c', cluster: 'e', user: 'u' }], currentContext: 'c' });
  return k;
}

t.test('TokenReview authenticator', async (t) => {
  const api = new EmulatedApiServer();
  const seen: Obj[] = [];
  api.addCollection('/apis/authentication.k8s.io/v1/tokenreviews', 'TokenReview', 'authentication.k8s.io/v1', {
    plural: 'tokenreviews',
    namespaced: false,
    review: (body) => {
      seen.push(body);
      const known = TOKENS[body['spec']?.token as string];
      const wanted = (body['spec']?.audiences ?? []) as string[];
      // The apiserver authenticates only when the token is valid for one of the requested audiences, and echoes the intersection.
      const audiences = known ? known.audiences.filter((a) => wanted.includes(a)) : [];
      const ok = known !== undefined && audiences.length > 0;
      return { ...body, status: ok ? { authenticated: true, user: { username: known.username, uid: 'u1', groups: ['system:serviceaccounts'] }, audiences } : { authenticated: false, error: known ? 'token audiences do not match' : 'invalid bearer token' } };
    },
  });
  const port = await api.start();
  t.teardown(() => api.close());
  const authenticate = tokenReviewAuthenticator(kc(`http://127.0.0.1:${port}`));

  t.same(await authenticate('good'), { namespace: 'demo', serviceAccount: 'echo' });
  t.same(seen[0]?.['spec'], { token: 'good', audiences: ['istio-ca'] }, 'asks for audience istio-ca');
  t.equal(seen[0]?.['kind'], 'TokenReview');
  await t.rejects(authenticate('for-kubernetes'), { name: 'AuthnError', message: 'token rejected by TokenReview: token audiences do not match' });
  await t.rejects(authenticate('garbage'), { name: 'AuthnError', message: 'token rejected by TokenReview: invalid bearer token' });
  await t.rejects(authenticate('a-user'), { name: 'AuthnError', message: 'TokenReview user alice is not a service account' });

  const down = tokenReviewAuthenticator(kc('http://127.0.0.1:1'));
  const err = await down('good').then(() => undefined, (e: unknown) => e);
  t.ok(err instanceof AuthnError && err.unavailable, 'an unreachable apiserver is "unavailable" (UNAVAILABLE to the caller, who retries), not a rejection');
});
