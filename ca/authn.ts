import { readFile } from 'node:fs/promises';
import type { KubeConfig } from '@kubernetes/client-node';
import { createLocalJWKSet, jwtVerify, type JSONWebKeySet, type JWTPayload } from 'jose';
import { UserError } from '../common/errors.js';
import { isObject } from '../common/objects.js';
import { parseServiceAccountUsername } from './spiffe.js';

/** Who called, as the token says (never as the CSR says). */
export interface CallerIdentity {
  namespace: string;
  serviceAccount: string;
}

/** The token was not accepted; `unavailable` when the verifier could not be asked (the caller may retry). */
export class AuthnError extends Error {
  override readonly name = 'AuthnError';
  constructor(message: string, readonly unavailable = false) {
    super(message);
  }
}

export type Authenticator = (token: string) => Promise<CallerIdentity>;

/** The audience Istio's agents request for CA tokens. */
export const CA_AUDIENCE = 'istio-ca';

/**
 * The identity in a Kubernetes service-account token's claims: the `kubernetes.io` claim
 * (namespace, serviceaccount.name) and `sub` (`system:serviceaccount:<ns>:<sa>`); when both are
 * present they must agree.
 */
export function identityFromClaims(claims: JWTPayload): CallerIdentity {
  const fromSub = typeof claims.sub === 'string' ? parseServiceAccountUsername(claims.sub) : undefined;
  const k8s = claims['kubernetes.io'];
  let fromK8s: CallerIdentity | undefined;
  if (isObject(k8s)) {
    const sa = k8s['serviceaccount'];
    if (typeof k8s['namespace'] === 'string' && isObject(sa) && typeof sa['name'] === 'string') fromK8s = { namespace: k8s['namespace'], serviceAccount: sa['name'] };
  }
  if (fromSub && fromK8s && (fromSub.namespace !== fromK8s.namespace || fromSub.serviceAccount !== fromK8s.serviceAccount)) {
    throw new AuthnError('the token\'s sub and kubernetes.io claims name different service accounts');
  }
  const id = fromK8s ?? fromSub;
  if (!id) throw new AuthnError('the token names no service account (no kubernetes.io claim, sub is not system:serviceaccount:<ns>:<sa>)');
  return id;
}

/** Verifies tokens locally against a JWKS and issuer (no cluster: VMs, tests): signature, iss, aud, exp, nbf. */
export function jwksAuthenticator(opts: { jwks: JSONWebKeySet; issuer: string; audience?: string }): Authenticator {
  const keys = createLocalJWKSet(opts.jwks);
  const audience = opts.audience ?? CA_AUDIENCE;
  return async (token) => {
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, keys, { issuer: opts.issuer, audience }));
    } catch (err) {
      throw new AuthnError(`token rejected: ${(err as Error).message}`);
    }
    return identityFromClaims(payload);
  };
}

/** `--ca-jwks FILE --ca-jwt-issuer ISS`: a bad file is a start-up error naming it. */
export async function loadJwksAuthenticator(file: string, issuer: string): Promise<Authenticator> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(file, 'utf8'));
  } catch (err) {
    throw new UserError(`--ca-jwks ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
  }
  if (!isObject(parsed) || !Array.isArray(parsed['keys']) || parsed['keys'].length === 0) throw new UserError(`--ca-jwks ${file}: not a JWK Set (expected {"keys": [...]} with at least one key)`);
  try {
    return jwksAuthenticator({ jwks: parsed as unknown as JSONWebKeySet, issuer });
  } catch (err) {
    throw new UserError(`--ca-jwks ${file}: ${(err as Error).message}`, { cause: err });
  }
}

/**
 * Verifies tokens with the apiserver's TokenReview (audience istio-ca), as istiod does in a cluster.
 * The reviewed audiences must include istio-ca: a token minted for another audience is refused.
 */
export function tokenReviewAuthenticator(kc: KubeConfig, audience = CA_AUDIENCE): Authenticator {
  let api: Promise<import('@kubernetes/client-node').AuthenticationV1Api> | undefined;
  return async (token) => {
    api ??= import('@kubernetes/client-node').then((k) => kc.makeApiClient(k.AuthenticationV1Api));
    let review;
    try {
      review = await (await api).createTokenReview({ body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token, audiences: [audience] } } });
    } catch (err) {
      throw new AuthnError(`TokenReview failed: ${(err as Error).message}`, true);
    }
    const status = review.status;
    if (!status?.authenticated) throw new AuthnError(`token rejected by TokenReview${status?.error ? `: ${status.error}` : ''}`);
    if (status.audiences && !status.audiences.includes(audience)) throw new AuthnError(`token is not for audience ${audience}`);
    const id = parseServiceAccountUsername(status.user?.username ?? '');
    if (!id) throw new AuthnError(`TokenReview user ${status.user?.username ?? '(none)'} is not a service account`);
    return id;
  };
}
