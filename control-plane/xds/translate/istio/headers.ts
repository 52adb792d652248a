/**
 * Headers (request/response set, add, remove) → Envoy header edits: `set` overwrites, `add` appends,
 * as Istio maps them. Returned as the fields of a Route or a weighted-cluster entry.
 */
import type { HeaderOperations, Headers } from '../../../../config/kinds.js';
import type { Json } from './envoy.js';

function toAdd(ops: HeaderOperations | undefined): Json[] {
  const out: Json[] = [];
  const sorted = (r: Record<string, string> | undefined): [string, string][] => Object.entries(r ?? {}).sort(([a], [b]) => a.localeCompare(b));
  for (const [key, value] of sorted(ops?.set)) out.push({ header: { key, value }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' });
  for (const [key, value] of sorted(ops?.add)) out.push({ header: { key, value }, append_action: 'APPEND_IF_EXISTS_OR_ADD' });
  return out;
}

export function headerEdits(h: Headers | undefined): Json {
  const out: Json = {};
  const reqAdd = toAdd(h?.request);
  const resAdd = toAdd(h?.response);
  if (reqAdd.length > 0) out['request_headers_to_add'] = reqAdd;
  if (h?.request?.remove?.length) out['request_headers_to_remove'] = [...h.request.remove];
  if (resAdd.length > 0) out['response_headers_to_add'] = resAdd;
  if (h?.response?.remove?.length) out['response_headers_to_remove'] = [...h.response.remove];
  return out;
}
