import t from 'tap';
import { decodeToJson } from '../../../control-plane/proto/decode.js';
import { checkProtoJson, encodeProtoJson, ProtoJsonError } from '../../../control-plane/proto/json.js';

const CLUSTER = 'envoy.config.cluster.v3.Cluster';

const good = {
  name: 'c1',
  type: 'STATIC',
  connect_timeout: '1.5s',
  per_connection_buffer_limit_bytes: 32768,
  load_assignment: {
    cluster_name: 'c1',
    endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: '10.0.0.1', port_value: 80 } } } }] }],
  },
  metadata: { filter_metadata: { tandem: { owner: 'test', n: 1, nested: { ok: true }, list: [1, 'a', null] } } },
};

t.test('a valid cluster has no issues and survives encode -> decode unchanged', async (t) => {
  t.same(checkProtoJson(CLUSTER, good), []);
  const bytes = encodeProtoJson(CLUSTER, good);
  t.same(decodeToJson(CLUSTER, bytes), good, 'round trip through Envoy protobuf binary');
});

t.test('lowerCamel JSON names are accepted as Envoy does', async (t) => {
  t.same(checkProtoJson(CLUSTER, { name: 'c', connectTimeout: '1s' }), []);
});

function messages(json: unknown, type = CLUSTER): string[] {
  return checkProtoJson(type, json).map((i) => `${i.path}: ${i.message}`);
}

t.test('unknown fields are errors, at any depth', async (t) => {
  t.match(messages({ ...good, bogus: 1 }), [/^bogus: unknown field in envoy.config.cluster.v3.Cluster$/]);
  const deep = structuredClone(good) as Record<string, any>;
  deep.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address.portValue2 = 1;
  t.match(messages(deep), [/socket_address\.portValue2: unknown field in envoy.config.core.v3.SocketAddress/]);
});

t.test('removed (reserved) fields are named as such', async (t) => {
  t.match(messages({ name: 'c', hosts: [] }), [/hosts: field is reserved/]);
});

t.test('wrong scalar types, enums, durations and wrappers are errors', async (t) => {
  t.match(messages({ name: 5 }), [/name: expected string/]);
  t.match(messages({ name: 'c', type: 'NOPE' }), [/type: "NOPE" is not a value of enum envoy.config.cluster.v3.Cluster.DiscoveryType/]);
  t.match(messages({ name: 'c', connect_timeout: 5 }), [/connect_timeout: Duration must be a string/]);
  t.match(messages({ name: 'c', connect_timeout: '5m' }), [/connect_timeout: invalid Duration/]);
  t.match(messages({ name: 'c', per_connection_buffer_limit_bytes: { value: 1 } }), [/UInt32Value is written as a bare uint32/]);
  t.match(messages({ name: 'c', per_connection_buffer_limit_bytes: -1 }), [/uint32 out of range: -1/]);
  t.match(messages({ name: 'c', per_connection_buffer_limit_bytes: 1.5 }), [/expected integer/]);
  t.match(messages({ name: 'c', respect_dns_ttl: 'yes' }), [/respect_dns_ttl: expected boolean/]);
  t.match(messages({ name: 'c', metadata: { filter_metadata: [] } }), [/filter_metadata: map must be a JSON object/]);
  t.match(messages({ name: 'c', transport_socket_matches: {} }), [/transport_socket_matches: expected array/]);
});

t.test('two members of one oneof are an error', async (t) => {
  t.match(messages({ name: 'c', type: 'EDS', cluster_type: { name: 'x' } }), [/cluster_type: oneof cluster_discovery_type already set by type/]);
});

t.test('protoc-gen-validate rules Envoy enforces', async (t) => {
  t.match(messages({}), [/^name: string shorter than 1$/], 'Cluster.name min_len 1');
  t.match(messages({ name: 'c', load_assignment: {} }), [/load_assignment.cluster_name: string shorter than 1/]);
  t.match(
    messages({ name: 'c', load_assignment: { cluster_name: 'c', endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: 'a', port_value: 70000 } } } }] }] } }),
    [/port_value: must be <= 65535/],
  );
  t.match(messages({}, 'envoy.config.core.v3.Address'), [/^address: one of socket_address\|pipe\|envoy_internal_address is required$/]);
  t.match(messages({}, 'envoy.config.route.v3.Route'), [/match: required field missing/]);
});

t.test('deprecated fields are reported', async (t) => {
  t.match(messages({ name: 'c', http2_protocol_options: {} }), [/http2_protocol_options: deprecated field/]);
});

t.test('Any payloads are resolved by @type and checked too', async (t) => {
  const F = 'envoy.config.listener.v3.Filter';
  const tcp = 'type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy';
  t.same(messages({ name: 'f', typed_config: { '@type': tcp, stat_prefix: 's', cluster: 'c' } }, F), []);
  t.match(messages({ name: 'f', typed_config: { '@type': tcp, stat_prefix: 's', cluster: 'c', nope: 1 } }, F), [/typed_config.nope: unknown field in envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy/]);
  t.match(messages({ name: 'f', typed_config: { '@type': 'type.googleapis.com/no.such.Type' } }, F), [/is not a known message type/]);
  t.match(messages({ name: 'f', typed_config: { stat_prefix: 's' } }, F), [/Any without "@type"/]);
  t.match(messages({ name: 'f', typed_config: { '@type': tcp, cluster: 'c' } }, F), [/stat_prefix: string shorter than 1/], 'rules inside the Any payload');
  const bytes = encodeProtoJson(F, { name: 'f', typed_config: { '@type': tcp, stat_prefix: 's', cluster: 'c' } });
  t.same(decodeToJson(F, bytes), { name: 'f', typed_config: { '@type': tcp, stat_prefix: 's', cluster: 'c' } }, 'Any round trip');
});

t.test('encodeProtoJson refuses what the checker rejects', async (t) => {
  t.throws(() => encodeProtoJson(CLUSTER, { name: 'c', bogus: true }), ProtoJsonError);
  try {
    encodeProtoJson(CLUSTER, { name: 'c', bogus: true });
  } catch (err) {
    t.match((err as Error).message, /invalid envoy.config.cluster.v3.Cluster: bogus: unknown field/);
  }
});
