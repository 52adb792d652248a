/**
 * Loads the Envoy protos the Istio translation references (EXTRA_PROTO_FILES) into the shared proto
 * root, so the strict checker and the encoder know their types. The one I/O edge of this folder;
 * once control-plane/proto/root.ts lists these files itself, this becomes a no-op to delete.
 */
import { envoyRoot } from '../proto/root.js';
import { EXTRA_PROTO_FILES } from './envoy.js';

let loaded = false;

export function loadTranslationProtos(): void {
  if (loaded) return;
  const root = envoyRoot();
  root.loadSync([...EXTRA_PROTO_FILES], { keepCase: true });
  root.resolveAll();
  loaded = true;
}
