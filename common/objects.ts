/** A JSON object (not null, not an array): the one check every parser of untyped input uses. */
export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
