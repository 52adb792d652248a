import { UserError } from '../common/errors.js';
import type { InjectorConfig } from './config.js';
import { ENVOY_LOG_LEVELS } from './config.js';

/**
 * Per-pod proxy image and Envoy log levels: sidecar.istio.io/proxyImage,
 * sidecar.istio.io/logLevel and sidecar.istio.io/componentLogLevel over the
 * injector defaults.
 */
export const PROXY_IMAGE_ANNOTATION = 'sidecar.istio.io/proxyImage';
export const LOG_LEVEL_ANNOTATION = 'sidecar.istio.io/logLevel';
export const COMPONENT_LOG_LEVEL_ANNOTATION = 'sidecar.istio.io/componentLogLevel';

export interface ProxyOptions {
  image: string;
  logLevel: string;
  /** Envoy's --component-log-level value, '' for none */
  componentLogLevel: string;
}

const COMPONENT = /^[a-z0-9_]+$/;

/** Returns a problem description, or undefined when `v` is a valid `component:level,...` list. */
export function componentLogLevelProblem(v: string): string | undefined {
  for (const part of v.split(',')) {
    const [comp, level, extra] = part.trim().split(':');
    if (extra !== undefined || comp === undefined || level === undefined || !COMPONENT.test(comp)) return `"${part.trim()}" is not component:level`;
    if (!ENVOY_LOG_LEVELS.includes(level)) return `"${level}" is not one of ${ENVOY_LOG_LEVELS.join(', ')}`;
  }
  return undefined;
}

export function proxyOptions(config: InjectorConfig, annotations: Record<string, string> | undefined): ProxyOptions {
  const a = annotations ?? {};
  const image = a[PROXY_IMAGE_ANNOTATION]?.trim();
  if (image === '') throw new UserError(`invalid annotation ${PROXY_IMAGE_ANNOTATION}="${a[PROXY_IMAGE_ANNOTATION] ?? ''}": must name an image`);
  const level = a[LOG_LEVEL_ANNOTATION]?.trim();
  if (level !== undefined && !ENVOY_LOG_LEVELS.includes(level)) {
    throw new UserError(`invalid annotation ${LOG_LEVEL_ANNOTATION}="${a[LOG_LEVEL_ANNOTATION]}": must be one of ${ENVOY_LOG_LEVELS.join(', ')}`);
  }
  const comp = a[COMPONENT_LOG_LEVEL_ANNOTATION]?.trim();
  if (comp !== undefined && comp !== '') {
    const problem = componentLogLevelProblem(comp);
    if (problem) throw new UserError(`invalid annotation ${COMPONENT_LOG_LEVEL_ANNOTATION}="${a[COMPONENT_LOG_LEVEL_ANNOTATION]}": ${problem}`);
  }
  return {
    image: image ?? config.images.proxy,
    logLevel: level ?? config.proxy.logLevel,
    componentLogLevel: comp !== undefined ? comp.replace(/\s+/g, '') : config.proxy.componentLogLevel,
  };
}
