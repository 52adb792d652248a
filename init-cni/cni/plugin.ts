import { UserError } from '../../common/errors.js';
import type { PluginKubeconfig } from './kube.js';
import { type PodInfo, decideByName, decideCapture, podInfoFromAnnotations, podInfoFromObject } from './pod.js';
import {
  CNI_ERROR,
  CniError,
  type Command,
  type Invocation,
  PLUGIN_VERSION,
  TANDEM_ERROR,
  addResult,
  errorResult,
  parseCommand,
  parseInvocation,
  prevResultAddresses,
  versionResult,
} from './spec.js';

/**
 * The chained CNI plugin: one invocation (environment + stdin) -> stdout and exit code. The I/O
 * (files, the apiserver, the child inside the pod's namespace, the log) comes in as `PluginIo`, so
 * tests drive the same code in-process and through bin/tandem-cni.
 */

export interface ChildResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export type NetnsVerb = 'apply' | 'cleanup' | 'check';

export interface PluginIo {
  readonly readFile: (path: string) => string;
  readonly exists: (path: string) => boolean;
  readonly getPod: (kc: PluginKubeconfig, namespace: string, name: string, timeoutMs: number) => Promise<unknown>;
  /** Runs netns-entry.js VERB FLAGS inside the network namespace at `netns`. */
  readonly inNetns: (netns: string, verb: NetnsVerb, flags: readonly string[]) => Promise<ChildResult>;
  readonly log: (level: 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>) => void;
}

export interface PluginOutput {
  readonly stdout: string;
  readonly code: number;
}

type Env = Readonly<Record<string, string | undefined>>;

function versionOf(stdin: string): string {
  try {
    const v: unknown = (JSON.parse(stdin) as { cniVersion?: unknown }).cniVersion;
    if (typeof v === 'string' && v !== '') return v;
  } catch {
    // not JSON: answer in the plugin's own version
  }
  return PLUGIN_VERSION;
}

/** The pod as the plugin sees it: from the runtime's annotations, else from the apiserver. */
async function podInfo(inv: Invocation, io: PluginIo, preferApiserver: boolean): Promise<PodInfo> {
  const name = inv.args.K8S_POD_NAME ?? '';
  const namespace = inv.args.K8S_POD_NAMESPACE ?? '';
  const fromRuntime = inv.config.podAnnotations ? podInfoFromAnnotations(name, namespace, inv.config.podAnnotations) : undefined;
  if (fromRuntime && !(preferApiserver && inv.config.kubeconfig)) return fromRuntime;
  const path = inv.config.kubeconfig;
  if (!path) {
    throw new CniError(
      TANDEM_ERROR.POD_UNKNOWN,
      `cannot tell whether pod ${namespace}/${name} is injected: the runtime passed no pod annotations and the network config names no kubeconfig`,
      'declare the capability "io.kubernetes.cri.pod-annotations" for the plugin, or set "kubeconfig"',
    );
  }
  let text: string;
  try {
    text = io.readFile(path);
  } catch (err) {
    throw new CniError(CNI_ERROR.IO_FAILURE, `cannot read kubeconfig ${path}: ${(err as Error).message}`);
  }
  const { parseKubeconfig } = await import('./kube.js');
  const pod = await io.getPod(parseKubeconfig(text, path), namespace, name, inv.config.apiserverTimeoutMs);
  try {
    return podInfoFromObject(pod);
  } catch (err) {
    throw new CniError(TANDEM_ERROR.POD_UNKNOWN, `reading pod ${namespace}/${name}: ${(err as Error).message}`);
  }
}

/** The capture flags for the pod, or undefined when it is not captured (logged with the reason). */
async function captureFlags(inv: Invocation, io: PluginIo): Promise<string[] | undefined> {
  const name = inv.args.K8S_POD_NAME ?? '';
  const namespace = inv.args.K8S_POD_NAMESPACE ?? '';
  const early = decideByName(name, namespace, inv.config);
  if (early && !early.capture) {
    io.log('info', `pass through: ${early.reason}`, { pod: `${namespace}/${name}` });
    return undefined;
  }
  let pod = await podInfo(inv, io, false);
  let decision = decideCapture(pod, inv.config);
  // The runtime's annotations say the pod is injected: the proxy container's facts (uid, DNS capture)
  // are only in the pod spec, so read it when the agent gave us a kubeconfig (as Istio always does).
  if (decision.capture && inv.config.podAnnotations && inv.config.kubeconfig) {
    pod = await podInfo(inv, io, true);
    decision = decideCapture(pod, inv.config);
  }
  if (!decision.capture) {
    io.log('info', `pass through: ${decision.reason}`, { pod: `${namespace}/${name}` });
    return undefined;
  }
  const addresses = prevResultAddresses(inv.config.prevResult);
  const { captureArgs, captureConfig } = await import('./capture.js');
  try {
    captureConfig(pod, addresses);
  } catch (err) {
    if (err instanceof UserError) throw new CniError(TANDEM_ERROR.BAD_ANNOTATION, err.message);
    throw err;
  }
  return captureArgs(pod, addresses);
}

function requireNetns(inv: Invocation, io: PluginIo): void {
  if (!io.exists(inv.netns)) throw new CniError(CNI_ERROR.CONTAINER_UNKNOWN, `network namespace ${inv.netns} (CNI_NETNS) does not exist`);
}

async function add(inv: Invocation, io: PluginIo): Promise<string> {
  requireNetns(inv, io);
  const flags = await captureFlags(inv, io);
  if (flags) {
    const r = await io.inNetns(inv.netns, 'apply', flags);
    const pod = `${inv.args.K8S_POD_NAMESPACE}/${inv.args.K8S_POD_NAME}`;
    if (r.code !== 0) throw new CniError(TANDEM_ERROR.CAPTURE_FAILED, `writing the capture rules for pod ${pod} failed`, r.stderr.trim());
    io.log('info', 'capture rules written', { pod, netns: inv.netns, flags: flags.join(' ') });
  }
  return addResult(inv.config);
}

async function check(inv: Invocation, io: PluginIo): Promise<void> {
  requireNetns(inv, io);
  if (inv.config.prevResult === undefined) throw new CniError(CNI_ERROR.INVALID_CONFIG, 'network config: CHECK needs prevResult');
  const flags = await captureFlags(inv, io);
  if (!flags) return;
  const r = await io.inNetns(inv.netns, 'check', flags);
  if (r.code !== 0) throw new CniError(TANDEM_ERROR.CAPTURE_MISSING, 'cannot read the capture rules in the pod namespace', r.stderr.trim());
  const missing = (JSON.parse(r.stdout) as { missing: string[] }).missing;
  if (missing.length > 0) throw new CniError(TANDEM_ERROR.CAPTURE_MISSING, `capture rules missing in ${inv.netns}: ${missing.join('; ')}`);
}

/**
 * DEL never fails a teardown and removes only what ADD wrote: it cleans up only when the runtime's
 * annotations show a pod ADD captured and the namespace still exists (the apiserver is not asked:
 * the pod may be gone, and the namespace takes the rules with it anyway).
 */
async function del(env: Env, stdin: string, io: PluginIo): Promise<void> {
  try {
    const inv = parseInvocation('DEL', env, stdin);
    if (!inv.config.podAnnotations || inv.netns === '' || !io.exists(inv.netns)) return;
    const pod = podInfoFromAnnotations(inv.args.K8S_POD_NAME ?? '', inv.args.K8S_POD_NAMESPACE ?? '', inv.config.podAnnotations);
    if (!decideCapture(pod, inv.config).capture) return;
    const { captureArgs } = await import('./capture.js');
    const r = await io.inNetns(inv.netns, 'cleanup', captureArgs(pod));
    if (r.code !== 0) io.log('warn', 'removing the capture rules failed (ignored on DEL)', { netns: inv.netns, stderr: r.stderr.trim() });
  } catch (err) {
    io.log('warn', `DEL: ${(err as Error).message} (ignored: a teardown never fails)`);
  }
}

export async function runPlugin(env: Env, readStdin: () => string, io: PluginIo): Promise<PluginOutput> {
  let command: Command;
  try {
    command = parseCommand(env);
  } catch (err) {
    return { stdout: errorResult(err as CniError, PLUGIN_VERSION), code: 1 };
  }
  if (command === 'VERSION') return { stdout: versionResult(), code: 0 };
  let stdin = '';
  try {
    stdin = readStdin();
    if (command === 'DEL') {
      await del(env, stdin, io);
      return { stdout: '', code: 0 };
    }
    const inv = parseInvocation(command, env, stdin);
    if (command === 'ADD') return { stdout: await add(inv, io), code: 0 };
    if (command === 'CHECK') await check(inv, io);
    // GC and STATUS (1.1.0): nothing is kept outside the pods' namespaces, and the plugin is always ready.
    return { stdout: '', code: 0 };
  } catch (err) {
    const e = err instanceof CniError ? err : new CniError(CNI_ERROR.IO_FAILURE, `internal error: ${(err as Error).message}`, (err as Error).stack ?? '');
    io.log('error', `${command} failed: ${e.message}`, { code: e.code, details: e.details });
    return { stdout: errorResult(e, versionOf(stdin)), code: 1 };
  }
}
