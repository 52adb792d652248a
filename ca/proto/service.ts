import { loadPackageDefinition, type GrpcObject, type ServiceClientConstructor, type ServiceDefinition } from '@grpc/grpc-js';
import { fromJSON } from '@grpc/proto-loader';
import { CA_PROTO_JSON } from './ca-proto.js';

export const CA_SERVICE_NAME = 'istio.v1.auth.IstioCertificateService';

/** The wire messages as proto-loader presents them (keepCase, int64 as Number). */
export interface IstioCertificateRequest {
  csr: string;
  validity_duration: number;
  metadata?: { fields?: Record<string, { kind?: string; stringValue?: string } | undefined> } | null;
}
export interface IstioCertificateResponse {
  cert_chain: string[];
}

/** Options shared by the server and test clients, so both read the messages alike. */
export const LOADER_OPTIONS = { keepCase: true, longs: Number, defaults: true, oneofs: true } as const;

/** The client constructor of IstioCertificateService (tests, bench, tooling). */
export function certificateServiceClient(): ServiceClientConstructor {
  const pkg = loadPackageDefinition(fromJSON(structuredClone(CA_PROTO_JSON) as Parameters<typeof fromJSON>[0], LOADER_OPTIONS));
  const auth = ((pkg['istio'] as GrpcObject)['v1'] as GrpcObject)['auth'] as GrpcObject;
  return auth['IstioCertificateService'] as ServiceClientConstructor;
}

export function certificateServiceDefinition(): ServiceDefinition {
  return certificateServiceClient().service;
}
