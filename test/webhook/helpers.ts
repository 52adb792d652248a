import https from 'node:https';
import type { TLSSocket } from 'node:tls';
import jsonPatch, { type Operation } from 'fast-json-patch';

export const SERVICE_DNS = 'tandem-webhook.tandem-system.svc';

export interface CallResult {
  status: number;
  body: string;
  json: unknown;
  /** serial number of the certificate the server presented on this connection */
  peerSerial: string;
}

export interface CallOptions {
  ca: string | Buffer;
  method?: string;
  contentType?: string | null;
  servername?: string;
  agent?: https.Agent | false;
}

/** Calls the webhook as the apiserver does: HTTPS, only the caBundle trusted, the Service DNS name verified. */
export function call(url: string, path: string, body: string | undefined, opts: CallOptions): Promise<CallResult> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = {};
    if (opts.contentType !== null) headers['content-type'] = opts.contentType ?? 'application/json';
    const req = https.request(new URL(path, url), {
      method: opts.method ?? (body === undefined ? 'GET' : 'POST'),
      ca: opts.ca,
      servername: opts.servername ?? SERVICE_DNS,
      agent: opts.agent ?? false,
      headers,
    }, (res) => {
      const socket = res.socket as TLSSocket;
      const peerSerial = socket.getPeerCertificate().serialNumber;
      let data = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (data += c));
      res.on('end', () => {
        let json: unknown;
        try {
          json = JSON.parse(data);
        } catch {
          json = undefined;
        }
        resolve({ status: res.statusCode ?? 0, body: data, json, peerSerial });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

export interface ReviewOptions {
  apiVersion?: string;
  uid?: string;
  namespace?: string;
  kind?: { group: string; version: string; kind: string };
}

export function review(object: unknown, opts: ReviewOptions = {}): Record<string, unknown> {
  return {
    apiVersion: opts.apiVersion ?? 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: opts.uid ?? 'b6f1c7e2-5a3d-4c7e-9d8f-0a1b2c3d4e5f',
      kind: opts.kind ?? { group: '', version: 'v1', kind: 'Pod' },
      resource: { group: '', version: 'v1', resource: 'pods' },
      requestKind: opts.kind ?? { group: '', version: 'v1', kind: 'Pod' },
      requestResource: { group: '', version: 'v1', resource: 'pods' },
      namespace: opts.namespace ?? 'bookinfo',
      operation: 'CREATE',
      userInfo: { username: 'system:serviceaccount:kube-system:replicaset-controller', groups: ['system:serviceaccounts', 'system:authenticated'] },
      object,
      oldObject: null,
      dryRun: false,
      options: { kind: 'CreateOptions', apiVersion: 'meta.k8s.io/v1' },
    },
  };
}

/**
 * Applies an RFC 6902 patch in place with fast-json-patch (independent of tandem's own diff in
 * webhook/patch.ts), validating every operation against the document; returns the errors, [] when
 * every operation applied.
 */
export function applyJsonPatch(doc: object, ops: unknown): string[] {
  try {
    jsonPatch.applyPatch(doc, ops as Operation[], true, true);
    return [];
  } catch (err) {
    return [String(err)];
  }
}
