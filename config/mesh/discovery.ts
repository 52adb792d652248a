import { matchesSelector } from '../../common/label-selectors.js';
import type { MeshConfig } from './mesh-config.js';

/**
 * Istio's discoverySelectors: a namespace is read when any selector matches its labels (OR across
 * selectors, AND within one); no selectors means every namespace. Pure.
 */
export function namespaceSelected(mesh: Pick<MeshConfig, 'discoverySelectors'>, nsLabels: Record<string, string> | undefined): boolean {
  if (mesh.discoverySelectors.length === 0) return true;
  return mesh.discoverySelectors.some((s) => matchesSelector(s, nsLabels));
}
