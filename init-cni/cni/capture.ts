import { UserError } from '../../common/errors.js';
import { type CaptureConfig, detectIPv6, loadConfig } from '../config.js';
import { ANNOTATION, type PodInfo, envTrue } from './pod.js';

/**
 * The capture configuration the plugin builds from a pod's annotations and proxy container:
 * `tandem iptables` flags, so that the plugin and the init container go through one flag parser and
 * one rule generator. Pure. Defaults are those of Istio's chained plugin (cni/pkg/plugin/sidecar_redirect.go).
 */

/** Istio's plugin always keeps the proxy's status, readiness and stats ports out of inbound capture. */
const ALWAYS_EXCLUDED_INBOUND = ['15020', '15021', '15090'];

function ports(value: string): string[] {
  return value.split(',').map((p) => p.trim());
}

function dedup(items: readonly string[]): string[] {
  return [...new Set(items)];
}

/** Which annotation each flag comes from, to name it in errors. */
const FLAG_SOURCE: Readonly<Record<string, string>> = {
  '-m': ANNOTATION.INTERCEPTION_MODE,
  '-i': ANNOTATION.INCLUDE_OUTBOUND_IP_RANGES,
  '-x': ANNOTATION.EXCLUDE_OUTBOUND_IP_RANGES,
  '-b': ANNOTATION.INCLUDE_INBOUND_PORTS,
  '-d': ANNOTATION.EXCLUDE_INBOUND_PORTS,
  '-q': ANNOTATION.INCLUDE_OUTBOUND_PORTS,
  '-o': ANNOTATION.EXCLUDE_OUTBOUND_PORTS,
  '-c': ANNOTATION.EXCLUDE_INTERFACES,
  '-k': ANNOTATION.REROUTE_VIRTUAL_INTERFACES,
};

/**
 * The `tandem iptables` flags for a pod, from its annotations and proxy container, with Istio's
 * plugin defaults (outbound: all ranges, 15020 excluded; inbound: all ports but 15020/15021/15090).
 * `addresses` (the pod's, from the previous plugin's result) decide IPv6 as `tandem iptables` would
 * inside the pod; without them the child detects it there.
 */
export function captureArgs(pod: PodInfo, addresses?: readonly string[]): string[] {
  const a = pod.annotations;
  const dualStack = envTrue(pod.proxyEnv.ISTIO_DUAL_STACK);
  const dns = envTrue(pod.proxyEnv.ISTIO_META_DNS_CAPTURE);
  const excludeInbound = (a[ANNOTATION.EXCLUDE_INBOUND_PORTS] ?? '15020').trim();
  const reroute = a[ANNOTATION.REROUTE_VIRTUAL_INTERFACES] ?? a[ANNOTATION.KUBEVIRT_INTERFACES] ?? '';
  const args = [
    '-p', '15001',
    '-z', '15006',
    '-u', pod.proxyUid ?? '1337',
    '-g', pod.proxyGid ?? '1337',
    '-m', a[ANNOTATION.INTERCEPTION_MODE] ?? 'REDIRECT',
    '-i', a[ANNOTATION.INCLUDE_OUTBOUND_IP_RANGES] ?? '*',
    '-x', a[ANNOTATION.EXCLUDE_OUTBOUND_IP_RANGES] ?? '',
    '-b', a[ANNOTATION.INCLUDE_INBOUND_PORTS] ?? '*',
    '-d', dedup([...ports(excludeInbound).filter((p) => p !== ''), ...ALWAYS_EXCLUDED_INBOUND]).join(','),
    '-q', ports(a[ANNOTATION.INCLUDE_OUTBOUND_PORTS] ?? '').join(','),
    '-o', ports(a[ANNOTATION.EXCLUDE_OUTBOUND_PORTS] ?? '15020').join(','),
    '-c', a[ANNOTATION.EXCLUDE_INTERFACES] ?? '',
    '-k', reroute,
  ];
  // Istio's plugin captures DNS to every server when the proxy captures DNS.
  if (dns) args.push('--redirect-dns', '--capture-all-dns');
  if (dualStack) args.push('--dual-stack');
  if (envTrue(pod.proxyEnv.INVALID_DROP)) args.push('--drop-invalid');
  if (addresses && addresses.length > 0) args.push(`--ipv6=${detectIPv6(addresses, dualStack)}`);
  return args;
}

/** The capture configuration for a pod, validated; an invalid annotation is named in the error. */
export function captureConfig(pod: PodInfo, addresses?: readonly string[]): CaptureConfig {
  const argv = captureArgs(pod, addresses);
  try {
    return loadConfig(argv, {}, {}).config;
  } catch (err) {
    if (!(err instanceof UserError)) throw err;
    const flag = /^(-[a-z]) /.exec(err.message)?.[1];
    const source = flag ? FLAG_SOURCE[flag] : undefined;
    const where = `pod ${pod.namespace}/${pod.name}`;
    if (flag && source) throw new UserError(`${where}: annotation ${source}${err.message.slice(flag.length)}`, { cause: err });
    throw new UserError(`${where}: ${err.message}`, { cause: err });
  }
}
