import type { InjectionContext, InjectionOutcome, Pod } from './types.js';

/**
 * STUB owned by the injection-core work (issue 2); signatures are the contract
 * the admission server and the CLI build on.
 */
export interface Injector {
  readonly revision: string;
}

export interface LoadInjectorOptions {
  /** injector config YAML (policy, selectors, images, defaults); embedded defaults when absent */
  configPath?: string;
  /** directory overriding the shipped templates/ */
  templatesDir?: string;
}

/** Loads and validates config and templates; throws UserError on anything invalid (fail at startup, not at admission). */
export async function loadInjector(_opts: LoadInjectorOptions = {}): Promise<Injector> {
  return { revision: 'default' };
}

/** Pure: decides and, when injecting, returns a new injected pod. Throws UserError for invalid annotations. */
export function injectPod(pod: Pod, _ctx: InjectionContext, _injector: Injector): InjectionOutcome {
  return { decision: { inject: false, rule: 'stub', reason: 'not implemented' }, pod, warnings: [] };
}
