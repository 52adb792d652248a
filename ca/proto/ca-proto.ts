/**
 * Istio's CA API as a protobufjs JSON bundle (what @grpc/proto-loader's fromJSON takes), so the
 * runtime needs no .proto file next to the compiled code.
 * Source: istio/api security/v1alpha1/ca.proto, commit b8f8791d9653b2edc77a071d48887e582cfe84bf,
 * Apache License 2.0 (vendored for tests in test/conformance/istio-ca/ca.proto), plus protobufjs'
 * copy of google/protobuf/struct.proto. Generated with protobufjs:
 *   new protobuf.Root().loadSync('test/conformance/istio-ca/ca.proto', { keepCase: true }).toJSON()
 * test/ca/ca-api.test.ts checks it still equals that output.
 */
export const CA_PROTO_JSON = {"nested":{"istio":{"nested":{"v1":{"nested":{"auth":{"options":{"go_package":"istio.io/api/security/v1alpha1"},"nested":{"IstioCertificateRequest":{"fields":{"csr":{"type":"string","id":1},"validity_duration":{"type":"int64","id":3},"metadata":{"type":"google.protobuf.Struct","id":4}}},"IstioCertificateResponse":{"fields":{"cert_chain":{"rule":"repeated","type":"string","id":1}}},"IstioCertificateService":{"methods":{"CreateCertificate":{"requestType":"IstioCertificateRequest","responseType":"IstioCertificateResponse"}}}}}}}}},"google":{"nested":{"protobuf":{"nested":{"Struct":{"fields":{"fields":{"keyType":"string","type":"Value","id":1}}},"Value":{"oneofs":{"kind":{"oneof":["nullValue","numberValue","stringValue","boolValue","structValue","listValue"]}},"fields":{"nullValue":{"type":"NullValue","id":1},"numberValue":{"type":"double","id":2},"stringValue":{"type":"string","id":3},"boolValue":{"type":"bool","id":4},"structValue":{"type":"Struct","id":5},"listValue":{"type":"ListValue","id":6}}},"NullValue":{"values":{"NULL_VALUE":0}},"ListValue":{"fields":{"values":{"rule":"repeated","type":"Value","id":1}}}}}}}}} as const;
