/**
 * Behaviour of the status port's Lua script (STATUS_LUA) against real servers.
 *
 * EMULATION, declared: there is no Envoy binary here. The script runs in fengari (Lua 5.3
 * in JavaScript; Envoy runs LuaJIT, and the script keeps to the syntax both share), with a
 * stand-in for the parts of Envoy's stream handle it uses, written from Envoy's Lua filter
 * source: `metadata():get(k)` reads the matched route's metadata under the filter's name;
 * `httpCall(cluster, headers, body, timeout_ms)` needs :method/:path/:authority, returns the
 * response headers as a table (":status" included, no trailers) and the body, or nil when
 * empty; a failed call returns {":status" = "503"} and "upstream failure"; `respond(headers,
 * body)` ends the script with a 200-599 status. The stand-in resolves clusters from the
 * rendered bootstrap (address, HTTP/2 or not), so the routing config and the script are
 * checked together. The app side is real: an HTTP metrics server and a @grpc/grpc-js server
 * implementing grpc.health.v1.Health/Check.
 */
import { once } from 'node:events';
import http from 'node:http';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import * as grpc from '@grpc/grpc-js';
import protobuf from 'protobufjs';
import t from 'tap';
import { renderBootstrap, type SidecarBootstrapParams } from '../../bootstrap/sidecar.js';
import { LUA_FILTER_NAME, STATUS_LUA } from '../../bootstrap/status-lua.js';

type J = Record<string, any>;
type LuaValue = undefined | boolean | number | Buffer | LuaTable;
interface LuaTable {
  [k: string]: LuaValue;
}

interface Fengari {
  lua: Record<string, any>;
  lauxlib: Record<string, any>;
  lualib: Record<string, any>;
  to_luastring(s: string): Uint8Array;
}
const { lua, lauxlib, lualib, to_luastring } = createRequire(import.meta.url)('fengari') as Fengari;

// The stand-in handle: the script's coroutine yields each Envoy call back to JavaScript.
const HARNESS = `
local co
function start(md)
  local h = {}
  function h:metadata() return { get = function(_, k) return md[k] end } end
  function h:httpCall(cluster, headers, body, timeout) return coroutine.yield("httpCall", cluster, headers, body, timeout) end
  function h:respond(headers, body) coroutine.yield("respond", headers, body); error("resumed after respond") end
  co = coroutine.create(envoy_on_request)
  return coroutine.resume(co, h)
end
function continue(headers, body) return coroutine.resume(co, headers, body) end
`;

function newLua(): unknown {
  const L = lauxlib.luaL_newstate();
  lualib.luaL_openlibs(L);
  for (const [name, src] of [['STATUS_LUA', STATUS_LUA], ['harness', HARNESS]]) {
    if (lauxlib.luaL_dostring(L, to_luastring(src!)) !== 0) throw new Error(`${name}: ${lua.lua_tojsstring(L, -1)}`);
  }
  return L;
}

function push(L: unknown, v: unknown): void {
  if (v === undefined || v === null) lua.lua_pushnil(L);
  else if (typeof v === 'boolean') lua.lua_pushboolean(L, v);
  // Envoy hands Struct numbers to Lua as doubles.
  else if (typeof v === 'number') lua.lua_pushnumber(L, v);
  else if (typeof v === 'string') lua.lua_pushstring(L, to_luastring(v));
  else if (Buffer.isBuffer(v)) lua.lua_pushstring(L, new Uint8Array(v));
  else if (Array.isArray(v)) {
    lua.lua_newtable(L);
    v.forEach((x, i) => {
      push(L, x);
      lua.lua_rawseti(L, -2, i + 1);
    });
  } else {
    lua.lua_newtable(L);
    for (const [k, x] of Object.entries(v as J)) {
      push(L, x);
      lua.lua_setfield(L, -2, to_luastring(k));
    }
  }
}

function read(L: unknown, idx: number): LuaValue {
  const i = lua.lua_absindex(L, idx);
  const type = lua.lua_type(L, i);
  if (type === lua.LUA_TNIL) return undefined;
  if (type === lua.LUA_TBOOLEAN) return lua.lua_toboolean(L, i);
  if (type === lua.LUA_TNUMBER) return lua.lua_tonumber(L, i);
  if (type === lua.LUA_TSTRING) return Buffer.from(lua.lua_tolstring(L, i));
  if (type !== lua.LUA_TTABLE) throw new Error(`unexpected Lua type ${type}`);
  const out: LuaTable = {};
  lua.lua_pushnil(L);
  while (lua.lua_next(L, i) !== 0) {
    out[String(read(L, -2))] = read(L, -1);
    lua.lua_pop(L, 1);
  }
  return out;
}

function callGlobal(L: unknown, name: string, args: unknown[]): LuaValue[] {
  lua.lua_settop(L, 0);
  lua.lua_getglobal(L, to_luastring(name));
  for (const a of args) push(L, a);
  if (lua.lua_pcall(L, args.length, lua.LUA_MULTRET, 0) !== 0) throw new Error(lua.lua_tojsstring(L, -1));
  const out: LuaValue[] = [];
  for (let i = 1; i <= lua.lua_gettop(L); i++) out.push(read(L, i));
  return out;
}

const text = (v: LuaValue): string => (Buffer.isBuffer(v) ? v.toString('utf8') : String(v));

interface Upstream {
  cluster: string;
  headers: Record<string, string>;
  body: Buffer | undefined;
  timeoutMs: number;
}
interface Outcome {
  /** undefined when the script let the request through to the router */
  response?: { headers: Record<string, string>; body: string };
  calls: Upstream[];
}

/** Envoy's async HTTP client, as far as the script can see it. */
async function envoyHttpCall(bootstrap: J, overrides: Record<string, number>, call: Upstream): Promise<{ headers: Record<string, string>; body?: Buffer }> {
  for (const h of [':method', ':path', ':authority']) if (!(h in call.headers)) throw new Error(`http call headers must include ':path', ':method', and ':authority'`);
  if (!Number.isInteger(call.timeoutMs) || call.timeoutMs < 0) throw new Error('http call timeout must be an integer >= 0');
  const cluster = (bootstrap['static_resources'].clusters as J[]).find((c) => c['name'] === call.cluster);
  if (!cluster) throw new Error('http call cluster invalid. Must be configured');
  const addr = cluster['load_assignment'].endpoints[0].lb_endpoints[0].endpoint.address.socket_address;
  const port = overrides[call.cluster] ?? (addr.port_value as number);
  const h2 = cluster['typed_extension_protocol_options']?.['envoy.extensions.upstreams.http.v3.HttpProtocolOptions']?.explicit_http_config?.http2_protocol_options !== undefined;
  const failure = { headers: { ':status': '503' }, body: Buffer.from('upstream failure') };
  const rest = Object.fromEntries(Object.entries(call.headers).filter(([k]) => !k.startsWith(':')));
  if (call.body) rest['content-length'] = String(call.body.length);
  const result = h2 ? h2Request(addr.address, port, call, rest) : h1Request(addr.address, port, call, rest);
  const timeout = new Promise<null>((resolve) => setTimeout(() => resolve(null), call.timeoutMs || 15000).unref());
  const r = await Promise.race([result.catch(() => null), timeout]);
  if (!r) return failure;
  return r.body.length > 0 ? r : { headers: r.headers };
}

async function h1Request(host: string, port: number, call: Upstream, headers: Record<string, string>): Promise<{ headers: Record<string, string>; body: Buffer }> {
  const req = http.request({ host, port, method: call.headers[':method'], path: call.headers[':path'], headers: { ...headers, host: call.headers[':authority'] } });
  req.end(call.body);
  const [res] = (await once(req, 'response')) as [http.IncomingMessage];
  const chunks: Buffer[] = [];
  for await (const c of res) chunks.push(c as Buffer);
  const out: Record<string, string> = { ':status': String(res.statusCode) };
  for (const [k, v] of Object.entries(res.headers)) out[k] = String(v);
  return { headers: out, body: Buffer.concat(chunks) };
}

async function h2Request(host: string, port: number, call: Upstream, headers: Record<string, string>): Promise<{ headers: Record<string, string>; body: Buffer }> {
  const session = http2.connect(`http://${host}:${port}`);
  session.on('error', () => {});
  try {
    const req = session.request({ ':method': call.headers[':method'], ':path': call.headers[':path'], ':authority': call.headers[':authority'], ...headers });
    req.end(call.body);
    const [res] = (await once(req, 'response')) as [http2.IncomingHttpHeaders];
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    // Trailers (a normal gRPC answer's grpc-status) never reach the script.
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(res)) out[k] = String(v);
    return { headers: out, body: Buffer.concat(chunks) };
  } finally {
    session.close();
  }
}

/** One request on :15020: route by exact path, then run the script as Envoy would. */
async function serve(bootstrap: J, path: string, overrides: Record<string, number> = {}): Promise<Outcome> {
  const hcm = (bootstrap['static_resources'].listeners as J[]).find((l) => l['name'] === 'tandem-agent-15020')!['filter_chains'][0].filters[0].typed_config;
  if (!(hcm.http_filters as J[]).some((f) => f['name'] === LUA_FILTER_NAME)) throw new Error('no Lua filter on :15020');
  const route = (hcm.route_config.virtual_hosts[0].routes as J[]).find((r) => r['match'].path === path);
  if (!route) throw new Error(`no route for ${path}`);
  const L = newLua();
  const calls: Upstream[] = [];
  let step = callGlobal(L, 'start', [route['metadata']?.filter_metadata?.[LUA_FILTER_NAME] ?? {}]);
  for (;;) {
    if (step[0] !== true) throw new Error(`Lua error: ${text(step[1])}`);
    if (step.length === 1) return { calls };
    const op = text(step[1]);
    if (op === 'respond') {
      const headers = Object.fromEntries(Object.entries(step[2] as LuaTable).map(([k, v]) => [k, text(v)]));
      const status = Number(headers[':status']);
      if (!(status >= 200 && status < 600)) throw new Error(':status must be between 200-599');
      return { response: { headers, body: step[3] === undefined ? '' : text(step[3]) }, calls };
    }
    const call: Upstream = {
      cluster: text(step[2]),
      headers: Object.fromEntries(Object.entries(step[3] as LuaTable).map(([k, v]) => [k, text(v)])),
      body: step[4] as Buffer | undefined,
      timeoutMs: step[5] as number,
    };
    calls.push(call);
    const r = await envoyHttpCall(bootstrap, overrides, call);
    step = callGlobal(L, 'continue', [r.headers, r.body]);
  }
}

async function listen(server: http.Server | http2.Http2Server): Promise<number> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return (server.address() as AddressInfo).port;
}

/** A port nothing listens on (bound, then released). */
async function closedPort(): Promise<number> {
  const s = http.createServer();
  const port = await listen(s);
  await new Promise((r) => s.close(r));
  return port;
}

const base: SidecarBootstrapParams = { podName: 'p', podNamespace: 'ns', podIp: '10.0.0.1', serviceAccount: 'sa', xdsAddress: 'x:15010' };

t.test('the script compiles and leaves routes without instructions to the router', async (t) => {
  t.doesNotThrow(() => newLua(), 'STATUS_LUA loads');
  const b = renderBootstrap({ ...base, appProbes: { '/app-health/a/livez': { httpGet: { port: 8080, path: '/h' } }, '/app-health/a/readyz': { grpc: { port: 9 } } } }) as J;
  const out = await serve(b, '/app-health/a/livez');
  t.same(out, { calls: [] }, 'no upstream call, no response: the httpGet route is forwarded');
});

t.test('merged metrics: Envoy stats then the app, from the clusters the bootstrap defines', async (t) => {
  const seen: Array<{ path?: string; accept?: string; host?: string }> = [];
  let appStatus = 200;
  const app = http.createServer((req, res) => {
    seen.push({ path: req.url, accept: req.headers.accept, host: req.headers.host });
    res.writeHead(appStatus, { 'content-type': 'text/plain' });
    res.end(req.url === '/metrics' ? '# TYPE app_requests_total counter\napp_requests_total 7' : 'app_other 1\n');
  });
  const admin = http.createServer((req, res) => {
    res.writeHead(req.url === '/stats/prometheus' ? 200 : 404);
    res.end('# TYPE envoy_up gauge\nenvoy_up 1\n');
  });
  const appPort = await listen(app);
  const adminPort = await listen(admin);
  t.teardown(() => {
    app.close();
    admin.close();
  });
  const overrides = { 'tandem-admin': adminPort };
  const b = renderBootstrap({ ...base, prometheusScrape: { scrape: 'true', port: String(appPort), path: '' } }) as J;

  const ok = await serve(b, '/stats/prometheus', overrides);
  t.same(ok.response, {
    headers: { ':status': '200', 'content-type': 'text/plain; version=0.0.4; charset=utf-8' },
    body: '# TYPE envoy_up gauge\nenvoy_up 1\n# TYPE app_requests_total counter\napp_requests_total 7\n',
  }, 'concatenated, a newline added after the app text');
  t.same(ok.calls.map((c) => [c.cluster, c.headers[':method'], c.headers[':path'], c.timeoutMs]), [
    ['tandem-admin', 'GET', '/stats/prometheus', 5000],
    [`tandem-app-metrics|${appPort}`, 'GET', '/metrics', 5000],
  ]);
  t.same(seen[0], { path: '/metrics', accept: 'text/plain;version=0.0.4;q=1,*/*;q=0.1', host: `127.0.0.1:${appPort}` }, 'the app is asked for the text format');

  appStatus = 500;
  const appFails = await serve(b, '/stats/prometheus', overrides);
  t.equal(appFails.response?.headers[':status'], '200', "Envoy's stats still served");
  t.equal(appFails.response?.body, `# TYPE envoy_up gauge\nenvoy_up 1\n# tandem: tandem-app-metrics|${appPort}/metrics answered HTTP 500\n`);

  const gone = await closedPort();
  const down = renderBootstrap({ ...base, prometheusScrape: { port: gone } }) as J;
  const appDown = await serve(down, '/stats/prometheus', overrides);
  t.match(appDown.response?.body, new RegExp(`# tandem: tandem-app-metrics\\|${gone}/metrics answered HTTP 503\\n$`), 'a refused connection is a comment, not an error');
  const allDown = await serve(down, '/stats/prometheus', { 'tandem-admin': gone });
  t.equal(allDown.response?.headers[':status'], '503', 'nothing scraped: 503');

  appStatus = 200;
  const two = renderBootstrap({ ...base, prometheusScrape: { targets: [{ port: appPort, path: '/metrics' }, { port: appPort, path: '/other' }] } }) as J;
  const both = await serve(two, '/stats/prometheus', overrides);
  t.equal(both.response?.body, '# TYPE envoy_up gauge\nenvoy_up 1\n# TYPE app_requests_total counter\napp_requests_total 7\napp_other 1\n', 'every target, in order');
});

t.test('gRPC probes: grpc.health.v1 Check against a real @grpc/grpc-js server', async (t) => {
  // grpc.health.v1's two messages, field numbers as published (status is an enum: varint).
  const root = new protobuf.Root().define('grpc.health.v1');
  const Req = new protobuf.Type('HealthCheckRequest').add(new protobuf.Field('service', 1, 'string'));
  const Res = new protobuf.Type('HealthCheckResponse').add(new protobuf.Field('status', 1, 'int32'));
  root.add(Req).add(Res);
  const SERVING = 1;
  const NOT_SERVING = 2;
  const statuses: Record<string, number> = { '': SERVING, 'shop.Cart': NOT_SERVING, 'shop.Orders': SERVING };
  const asked: string[] = [];
  const server = new grpc.Server();
  server.addService(
    {
      Check: {
        path: '/grpc.health.v1.Health/Check',
        requestStream: false,
        responseStream: false,
        requestSerialize: (v: J) => Buffer.from(Req.encode(v).finish()),
        requestDeserialize: (b: Buffer) => Req.toObject(Req.decode(b), { defaults: true }),
        responseSerialize: (v: J) => Buffer.from(Res.encode(v).finish()),
        responseDeserialize: (b: Buffer) => Res.toObject(Res.decode(b)),
      },
    },
    {
      Check: (call: grpc.ServerUnaryCall<J, J>, cb: grpc.sendUnaryData<J>) => {
        const service = String(call.request['service']);
        asked.push(service);
        const status = statuses[service];
        if (status === undefined) cb({ code: grpc.status.NOT_FOUND, details: 'unknown service' });
        else cb(null, { status });
      },
    },
  );
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  t.teardown(() => server.forceShutdown());
  const gone = await closedPort();
  const b = renderBootstrap({
    ...base,
    appProbes: {
      '/app-health/app/livez': { grpc: { port } },
      '/app-health/app/readyz': { grpc: { port, service: 'shop.Cart' }, timeoutSeconds: 2 },
      '/app-health/app/startupz': { grpc: { port, service: 'shop.Orders' } },
      '/app-health/other/livez': { grpc: { port, service: 'nope' } },
      '/app-health/down/livez': { grpc: { port: gone } },
    },
  }) as J;

  const live = await serve(b, '/app-health/app/livez');
  t.same(live.response, { headers: { ':status': '200', 'content-type': 'text/plain' }, body: 'SERVING\n' }, 'server-wide SERVING: 200');
  t.same(live.calls[0]?.headers, {
    ':method': 'POST',
    ':path': '/grpc.health.v1.Health/Check',
    ':authority': `127.0.0.1:${port}`,
    'content-type': 'application/grpc',
    te: 'trailers',
  });
  t.equal(live.calls[0]?.timeoutMs, 1000, "Kubernetes' default timeout");
  t.equal(live.calls[0]?.body?.toString('hex'), '0000000000');

  const ready = await serve(b, '/app-health/app/readyz');
  t.equal(ready.response?.headers[':status'], '503', 'NOT_SERVING: 503');
  t.match(ready.response?.body, /HTTP 200, grpc-status nil/, 'an OK call whose status is not SERVING');
  t.equal(ready.calls[0]?.timeoutMs, 2000);
  t.equal((await serve(b, '/app-health/app/startupz')).response?.headers[':status'], '200', 'a named service that is SERVING');
  const unknown = await serve(b, '/app-health/other/livez');
  t.equal(unknown.response?.headers[':status'], '503');
  t.match(unknown.response?.body, /grpc-status 5/, 'NOT_FOUND arrives trailers-only, in the headers the script sees');
  t.same(asked, ['', 'shop.Cart', 'shop.Orders', 'nope'], 'the server decoded each service name from the frame');
  const down = await serve(b, '/app-health/down/livez');
  t.same(down.response, { headers: { ':status': '503', 'content-type': 'text/plain' }, body: 'gRPC health check failed: HTTP 503, grpc-status nil\n' }, 'nothing listening: 503');
});
