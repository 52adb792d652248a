import { fileURLToPath } from 'node:url';

/** The vendored conformance data (test/conformance/README.md): every test reads it from here, never from ../shared. */
export const CONFORMANCE = fileURLToPath(new URL('./conformance', import.meta.url));

/** A path inside one conformance set, e.g. `conformancePath('k8s-schemas', 'pod-v1.json')`. */
export function conformancePath(...parts: string[]): string {
  return [CONFORMANCE, ...parts].join('/');
}
