import { isObject } from '../../common/objects.js';

/**
 * The CNI protocol (specification 1.0.0, with 0.3.x/0.4.0 and 1.1.0 configurations accepted): the
 * invocation read from the environment and stdin, error results, and the success result. Pure.
 */

/** Error codes reserved by the specification ("Error codes 1-99 must not be used other than as specified"). */
export const CNI_ERROR = {
  INCOMPATIBLE_VERSION: 1,
  UNSUPPORTED_FIELD: 2,
  CONTAINER_UNKNOWN: 3,
  INVALID_ENVIRONMENT: 4,
  IO_FAILURE: 5,
  DECODE_FAILURE: 6,
  INVALID_CONFIG: 7,
  TRY_AGAIN_LATER: 11,
} as const;

/** Plugin-specific codes (100 and up are the plugin's own). */
export const TANDEM_ERROR = {
  /** ADD could not write the capture rules into the pod's namespace. */
  CAPTURE_FAILED: 100,
  /** CHECK found the capture rules missing from a pod that should have them. */
  CAPTURE_MISSING: 101,
  /** The pod could not be read from the apiserver to decide whether to capture it. */
  POD_UNKNOWN: 102,
  /** A pod annotation the capture is built from is invalid. */
  BAD_ANNOTATION: 103,
} as const;

/** CHECK exists from 0.4.0; GC and STATUS from 1.1.0. */
export const SUPPORTED_VERSIONS = ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'] as const;
/** What VERSION reports as the plugin's own version: the highest it speaks. */
export const PLUGIN_VERSION = '1.1.0';

export type Command = 'ADD' | 'DEL' | 'CHECK' | 'VERSION' | 'GC' | 'STATUS';
const COMMANDS: readonly Command[] = ['ADD', 'DEL', 'CHECK', 'VERSION', 'GC', 'STATUS'];

export class CniError extends Error {
  override readonly name = 'CniError';
  constructor(
    readonly code: number,
    msg: string,
    readonly details = '',
  ) {
    super(msg);
  }
}

/** The error result the runtime reads from stdout (with a non-zero exit). */
export function errorResult(err: CniError, cniVersion: string): string {
  return JSON.stringify({ cniVersion, code: err.code, msg: err.message, ...(err.details ? { details: err.details } : {}) }) + '\n';
}

export function versionResult(): string {
  return JSON.stringify({ cniVersion: PLUGIN_VERSION, supportedVersions: SUPPORTED_VERSIONS }) + '\n';
}

/** Network configuration fields tandem's plugin reads (unknown fields are ignored, as the spec allows). */
export interface PluginConfig {
  readonly cniVersion: string;
  readonly name: string;
  readonly type: string;
  readonly prevResult?: Record<string, unknown>;
  /** `runtimeConfig["io.kubernetes.cri.pod-annotations"]`, when the runtime passed it (capability declared). */
  readonly podAnnotations?: Readonly<Record<string, string>>;
  /** Istio's name: namespaces whose pods are never captured. */
  readonly excludeNamespaces: readonly string[];
  /** The node agent's namespace: its own pods are never captured (Istio's isCNIPod). */
  readonly podNamespace?: string;
  /** Kubeconfig the node agent writes (JSON) for reading pods. */
  readonly kubeconfig?: string;
  readonly apiserverTimeoutMs: number;
  /** Where the plugin logs (one JSON line per event); stderr when unset. */
  readonly logFile?: string;
}

export const POD_ANNOTATIONS_CAPABILITY = 'io.kubernetes.cri.pod-annotations';
export const DEFAULT_APISERVER_TIMEOUT_MS = 5000;

export interface Invocation {
  readonly command: Command;
  readonly containerId: string;
  readonly netns: string;
  readonly ifname: string;
  /** CNI_ARGS as key/value pairs (`K8S_POD_NAME`, `K8S_POD_NAMESPACE`, …). */
  readonly args: Readonly<Record<string, string>>;
  readonly config: PluginConfig;
}

type Env = Readonly<Record<string, string | undefined>>;

/** `A=1;B=2` as the spec's CNI_ARGS; an item without `=` is an error (as libcni's LoadArgs). */
export function parseCniArgs(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of text.split(';')) {
    if (item === '') continue;
    const eq = item.indexOf('=');
    if (eq <= 0) throw new CniError(CNI_ERROR.INVALID_ENVIRONMENT, `CNI_ARGS: item "${item}" is not KEY=VALUE`);
    out[item.slice(0, eq)] = item.slice(eq + 1);
  }
  return out;
}

/** The command alone: VERSION needs nothing else, and an error result needs to know the command's version. */
export function parseCommand(env: Env): Command {
  const c = env.CNI_COMMAND;
  if (!c) throw new CniError(CNI_ERROR.INVALID_ENVIRONMENT, 'CNI_COMMAND is not set');
  if (!(COMMANDS as readonly string[]).includes(c)) throw new CniError(CNI_ERROR.INVALID_ENVIRONMENT, `CNI_COMMAND "${c}" is not one of ${COMMANDS.join(', ')}`);
  return c as Command;
}

function stringList(v: unknown, field: string): string[] {
  if (v === undefined) return [];
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) throw new CniError(CNI_ERROR.INVALID_CONFIG, `network config: ${field} must be a list of strings`);
  return v as string[];
}

function optString(o: Record<string, unknown>, field: string): string | undefined {
  const v = o[field];
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw new CniError(CNI_ERROR.INVALID_CONFIG, `network config: ${field} must be a string`);
  return v;
}

function annotations(runtimeConfig: unknown): Record<string, string> | undefined {
  if (runtimeConfig === undefined) return undefined;
  if (!isObject(runtimeConfig)) throw new CniError(CNI_ERROR.INVALID_CONFIG, 'network config: runtimeConfig must be an object');
  const a = runtimeConfig[POD_ANNOTATIONS_CAPABILITY];
  if (a === undefined) return undefined;
  if (!isObject(a) || !Object.values(a).every((v) => typeof v === 'string')) {
    throw new CniError(CNI_ERROR.INVALID_CONFIG, `network config: runtimeConfig["${POD_ANNOTATIONS_CAPABILITY}"] must map strings to strings`);
  }
  return a as Record<string, string>;
}

/** The network configuration on stdin, validated. The error names the field. */
export function parseConfig(stdin: string): PluginConfig {
  let raw: unknown;
  try {
    raw = JSON.parse(stdin);
  } catch (err) {
    throw new CniError(CNI_ERROR.DECODE_FAILURE, 'network config on stdin is not JSON', (err as Error).message);
  }
  if (!isObject(raw)) throw new CniError(CNI_ERROR.DECODE_FAILURE, 'network config on stdin is not a JSON object');
  const cniVersion = raw.cniVersion;
  if (typeof cniVersion !== 'string' || cniVersion === '') throw new CniError(CNI_ERROR.INVALID_CONFIG, 'network config: cniVersion must be a non-empty string');
  if (!(SUPPORTED_VERSIONS as readonly string[]).includes(cniVersion)) {
    throw new CniError(CNI_ERROR.INCOMPATIBLE_VERSION, `network config: cniVersion "${cniVersion}" is not supported`, `supported: ${SUPPORTED_VERSIONS.join(', ')}`);
  }
  const name = optString(raw, 'name');
  const type = optString(raw, 'type');
  if (!name) throw new CniError(CNI_ERROR.INVALID_CONFIG, 'network config: name is required');
  if (!type) throw new CniError(CNI_ERROR.INVALID_CONFIG, 'network config: type is required');
  const prev = raw.prevResult;
  if (prev !== undefined && !isObject(prev)) throw new CniError(CNI_ERROR.INVALID_CONFIG, 'network config: prevResult must be an object');
  const timeout = raw.apiserver_timeout_ms;
  if (timeout !== undefined && !(typeof timeout === 'number' && Number.isInteger(timeout) && timeout > 0)) {
    throw new CniError(CNI_ERROR.INVALID_CONFIG, 'network config: apiserver_timeout_ms must be a positive integer');
  }
  const podAnnotations = annotations(raw.runtimeConfig);
  const podNamespace = optString(raw, 'pod_namespace');
  const kubeconfig = optString(raw, 'kubeconfig');
  const logFile = optString(raw, 'log_file');
  return {
    cniVersion,
    name,
    type,
    ...(prev !== undefined ? { prevResult: prev } : {}),
    ...(podAnnotations ? { podAnnotations } : {}),
    excludeNamespaces: stringList(raw.exclude_namespaces, 'exclude_namespaces'),
    ...(podNamespace ? { podNamespace } : {}),
    ...(kubeconfig ? { kubeconfig } : {}),
    apiserverTimeoutMs: typeof timeout === 'number' ? timeout : DEFAULT_APISERVER_TIMEOUT_MS,
    ...(logFile ? { logFile } : {}),
  };
}

/** What the spec requires per command: ADD and CHECK need the namespace, DEL may come without it. */
export function parseInvocation(command: Exclude<Command, 'VERSION'>, env: Env, stdin: string): Invocation {
  const config = parseConfig(stdin);
  if (command === 'CHECK' && ['0.3.0', '0.3.1'].includes(config.cniVersion)) {
    throw new CniError(CNI_ERROR.INCOMPATIBLE_VERSION, `CHECK is not defined for cniVersion ${config.cniVersion} (needs 0.4.0 or later)`);
  }
  if ((command === 'GC' || command === 'STATUS') && config.cniVersion !== '1.1.0') {
    throw new CniError(CNI_ERROR.INCOMPATIBLE_VERSION, `${command} is not defined for cniVersion ${config.cniVersion} (needs 1.1.0)`);
  }
  const perContainer = command === 'ADD' || command === 'DEL' || command === 'CHECK';
  const need = (name: string): string => {
    const v = env[name];
    if (perContainer && !v) throw new CniError(CNI_ERROR.INVALID_ENVIRONMENT, `${name} is not set (required for ${command})`);
    return v ?? '';
  };
  const containerId = need('CNI_CONTAINERID');
  const ifname = need('CNI_IFNAME');
  const netns = command === 'DEL' ? (env.CNI_NETNS ?? '') : perContainer ? need('CNI_NETNS') : '';
  return { command, containerId, netns, ifname, args: parseCniArgs(env.CNI_ARGS ?? ''), config };
}

/**
 * The result printed on a successful ADD: the previous plugin's result passed through unchanged in
 * the configuration's version (a chained plugin that adds no interface or address). Without one,
 * the spec's smallest result.
 */
export function addResult(config: PluginConfig): string {
  const base = config.prevResult ?? { interfaces: [], ips: [], dns: {} };
  return JSON.stringify({ ...base, cniVersion: config.cniVersion }) + '\n';
}

/** The pod's addresses in the previous result, in order (`"10.1.2.3/24"` -> `10.1.2.3`). */
export function prevResultAddresses(prev: Record<string, unknown> | undefined): string[] {
  const ips = prev?.ips;
  if (!Array.isArray(ips)) return [];
  const out: string[] = [];
  for (const ip of ips) {
    if (isObject(ip) && typeof ip.address === 'string') out.push(ip.address.split('/')[0] ?? '');
  }
  return out.filter((a) => a !== '');
}
