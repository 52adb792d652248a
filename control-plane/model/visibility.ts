/**
 * `exportTo` as Istio reads it: `*` every namespace, `.` the object's own namespace, `~` none, anything
 * else a namespace name. An object without exportTo takes the mesh default for its kind.
 */

export type ExportTo = readonly string[];

/** Is an object of `ownerNamespace` with this exportTo visible to a proxy in `fromNamespace`? */
export function isVisible(exportTo: ExportTo, ownerNamespace: string, fromNamespace: string): boolean {
  for (const e of exportTo) {
    if (e === '*') return true;
    if (e === '~') continue;
    if (e === '.' ? ownerNamespace === fromNamespace : e === fromNamespace) return true;
  }
  return false;
}

/** The effective exportTo of an object: its own when set (and non-empty), the mesh default otherwise. */
export function effectiveExportTo(own: readonly string[] | undefined, meshDefault: ExportTo): ExportTo {
  return own && own.length > 0 ? own : meshDefault;
}

/** Exported everywhere, so every proxy sees it (lets indexes skip per-namespace checks). */
export function isPublic(exportTo: ExportTo): boolean {
  return exportTo.includes('*');
}
