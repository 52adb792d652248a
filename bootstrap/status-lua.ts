/** The Lua filter of the status port (15020), and where it finds its per-route instructions. */

/** The Lua filter reads route metadata filed under its own name (older Envoys: only this name). */
export const LUA_FILTER_NAME = 'envoy.filters.http.lua';
/** Key of the per-route instructions for STATUS_LUA inside the Lua filter's route metadata. */
export const LUA_METADATA_KEY = 'tandem';

/**
 * Runs on the status port (15020) only. A route's metadata (`tandem` under the
 * filter's name) says what to do; routes without it pass through untouched.
 * - metrics: GET each target in turn (Envoy's admin first) and answer with the
 *   concatenated Prometheus text; a failed target becomes a comment line.
 * - grpc: POST grpc.health.v1.Health/Check; 200 only for an HTTP 200 whose
 *   grpc-status (trailers-only answers carry it in the headers; httpCall does
 *   not return trailers) is absent or 0 and whose message is exactly
 *   {status: SERVING}.
 * Kept in the syntax LuaJIT (Envoy's Lua) shares with Lua 5.3.
 */
export const STATUS_LUA = String.raw`-- tandem status port (bootstrap/status-lua.ts)
local SERVING = string.char(0, 0, 0, 0, 2, 8, 1)
local TEXT = "text/plain; version=0.0.4; charset=utf-8"

local function unhex(s)
  return (string.gsub(s, "%x%x", function(b) return string.char(tonumber(b, 16)) end))
end

local function merged_metrics(h, c)
  local parts, ok = {}, false
  for _, t in ipairs(c.targets) do
    local headers, body = h:httpCall(t.cluster, {
      [":method"] = "GET", [":path"] = t.path, [":authority"] = t.authority,
      ["accept"] = "text/plain;version=0.0.4;q=1,*/*;q=0.1",
    }, nil, c.timeout_ms)
    if headers[":status"] == "200" then
      ok = true
      body = body or ""
      if body ~= "" and string.sub(body, -1) ~= "\n" then body = body .. "\n" end
      parts[#parts + 1] = body
    else
      parts[#parts + 1] = "# tandem: " .. t.cluster .. t.path .. " answered HTTP " .. tostring(headers[":status"]) .. "\n"
    end
  end
  h:respond({[":status"] = ok and "200" or "503", ["content-type"] = TEXT}, table.concat(parts))
end

local function grpc_health(h, c)
  local headers, body = h:httpCall(c.cluster, {
    [":method"] = "POST", [":path"] = "/grpc.health.v1.Health/Check", [":authority"] = c.authority,
    ["content-type"] = "application/grpc", ["te"] = "trailers",
  }, unhex(c.request), c.timeout_ms)
  local status = headers["grpc-status"]
  if headers[":status"] == "200" and (status == nil or status == "0") and body == SERVING then
    h:respond({[":status"] = "200", ["content-type"] = "text/plain"}, "SERVING\n")
  else
    h:respond({[":status"] = "503", ["content-type"] = "text/plain"},
      "gRPC health check failed: HTTP " .. tostring(headers[":status"]) .. ", grpc-status " .. tostring(status) .. "\n")
  end
end

function envoy_on_request(h)
  local c = h:metadata():get("tandem")
  if c == nil then return end
  if c.kind == "metrics" then
    merged_metrics(h, c)
  elseif c.kind == "grpc" then
    grpc_health(h, c)
  end
end
`;

