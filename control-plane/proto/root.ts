import protobuf from 'protobufjs';
import bundle from './envoy-protos.json' with { type: 'json' };

/**
 * Envoy's protos, from the bundle `generate.ts` writes (`npm run gen:envoy-protos`):
 * loaded once per process, with the original field names (snake_case) that Envoy's
 * JSON/YAML config uses and the xDS wire messages carry.
 */
let cached: protobuf.Root | undefined;

export function envoyRoot(): protobuf.Root {
  if (cached) return cached;
  const root = protobuf.Root.fromJSON(bundle as protobuf.INamespace);
  root.resolveAll();
  cached = root;
  return root;
}

/** Looks up a message type by full name (with or without the leading dot). */
export function messageType(name: string): protobuf.Type {
  return envoyRoot().lookupType(name.startsWith('.') ? name.slice(1) : name);
}

export const TYPE_PREFIX = 'type.googleapis.com/';

// protobufjs recomputes fullName by walking parents on every access; the walk is hot.
const names = new WeakMap<protobuf.ReflectionObject, string>();

/** A type's full name without the leading dot, e.g. `google.protobuf.Any`. */
export function fullName(t: protobuf.ReflectionObject): string {
  let n = names.get(t);
  if (n === undefined) {
    n = t.fullName.startsWith('.') ? t.fullName.slice(1) : t.fullName;
    names.set(t, n);
  }
  return n;
}
