import { readFileSync } from 'node:fs';
import protobuf from 'protobufjs';
import t from 'tap';
import { decodeToJson } from '../../../control-plane/proto/decode.js';
import { BUNDLE_FILE, generateBundle } from '../../../control-plane/proto/generate.js';
import { checkProtoJson, encodeProtoJson } from '../../../control-plane/proto/json.js';
import { envoyRoot, messageType } from '../../../control-plane/proto/root.js';
import { FIELDS, fieldOfKey, LENGTH_DELIMITED, lengthDelimitedKey } from '../../../control-plane/proto/wire.js';

t.test('the committed Envoy protos bundle is what the generator makes from @grpc/grpc-js-xds (npm run gen:envoy-protos)', async (t) => {
  const committed = readFileSync(BUNDLE_FILE, 'utf8');
  t.ok(committed === generateBundle(), 'control-plane/proto/envoy-protos.json is up to date');
  t.ok(committed.length > 100_000 && committed.length < 400_000, `a bundle of the types tandem uses, not all of Envoy (${committed.length} bytes)`);
});

t.test('the bundle holds every message tandem encodes, checks or decodes, with its validation options', async (t) => {
  for (const name of [
    'envoy.config.bootstrap.v3.Bootstrap',
    'envoy.service.discovery.v3.DiscoveryRequest',
    'envoy.service.discovery.v3.DeltaDiscoveryResponse',
    'envoy.config.cluster.v3.Cluster',
    'envoy.config.endpoint.v3.ClusterLoadAssignment',
    'envoy.config.listener.v3.Listener',
    'envoy.config.route.v3.RouteConfiguration',
    'envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
    'envoy.extensions.filters.http.lua.v3.Lua',
    'envoy.extensions.filters.http.health_check.v3.HealthCheck',
    'envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext',
    'google.protobuf.Timestamp',
  ]) {
    t.ok(messageType(name) instanceof protobuf.Type, name);
  }
  t.same(checkProtoJson('envoy.config.cluster.v3.Cluster', {}), [{ path: 'name', message: 'string shorter than 1' }], 'protoc-gen-validate options survive the bundle');
  t.same(checkProtoJson('envoy.config.cluster.v3.Cluster', { name: 'c', hosts: [] }).map((i) => i.message), ['field is reserved (removed) in envoy.config.cluster.v3.Cluster'], 'and reserved names');
});

t.test('every hand-written protobuf field number (proto/wire.ts) is the one the protos define, length-delimited', async (t) => {
  const lengthDelimited = (f: protobuf.Field): boolean => f.type === 'string' || f.type === 'bytes' || f.resolvedType instanceof protobuf.Type;
  let n = 0;
  for (const [message, fields] of Object.entries(FIELDS)) {
    const type = envoyRoot().lookupType(message);
    for (const [name, id] of Object.entries(fields)) {
      const f = type.fields[name];
      t.equal(f?.id, id, `${message}.${name} = ${id}`);
      t.ok(f && lengthDelimited(f), `${message}.${name} is length-delimited`);
      n++;
    }
  }
  t.equal(n, 21, 'every constant checked');
  t.equal(lengthDelimitedKey(5), (5 << 3) | LENGTH_DELIMITED);
  t.equal(lengthDelimitedKey(5), 42, 'field 5, wire type 2: 0x2a');
  t.equal(fieldOfKey(42), 5);
});

t.test('Timestamp (defect): sub-millisecond digits are kept and nanos are never negative, before 1970 too', async (t) => {
  const TS = 'google.protobuf.Timestamp';
  const read = (s: string): { seconds: number; nanos: number } => {
    const type = messageType(TS);
    const o = type.toObject(type.decode(encodeProtoJson(TS, s)), { longs: Number, defaults: true }) as { seconds: number; nanos: number };
    return { seconds: o.seconds, nanos: o.nanos };
  };
  // hand-computed: 2024-01-01T00:00:00Z is 1704067200 s after the epoch
  t.same(read('2024-01-01T00:00:00.123456789Z'), { seconds: 1704067200, nanos: 123456789 }, 'all nine digits (the Date path kept 123000000)');
  t.same(read('1969-12-31T23:59:59.5Z'), { seconds: -1, nanos: 500000000 }, 'half a second before the epoch (the Date path gave nanos -500000000)');
  t.same(read('1970-01-01T01:00:00.000000001+01:00'), { seconds: 0, nanos: 1 }, 'offsets apply to the seconds only');
  t.same(read('1969-12-31T23:59:59Z'), { seconds: -1, nanos: 0 });
  t.match(checkProtoJson(TS, '0000-12-31T00:00:00Z'), [{ message: /Timestamp out of range/ }], 'before year 1');
  t.match(checkProtoJson(TS, '2024-01-01T00:00:00.1234567891Z'), [{ message: /invalid Timestamp/ }], 'ten fractional digits');
  t.match(checkProtoJson(TS, '2024-13-01T00:00:00Z'), [{ message: /invalid Timestamp/ }], 'month 13');
  for (const [text, back] of [
    ['2024-01-01T00:00:00.123456789Z', '2024-01-01T00:00:00.123456789Z'],
    ['2024-01-01T00:00:00.1234Z', '2024-01-01T00:00:00.123400Z'],
    ['1969-12-31T23:59:59.5Z', '1969-12-31T23:59:59.500Z'],
    ['2024-01-01T00:00:00Z', '2024-01-01T00:00:00Z'],
  ] as const) {
    t.equal(decodeToJson(TS, encodeProtoJson(TS, text)), back, `${text} reads back as ${back} (0, 3, 6 or 9 digits)`);
  }
});
