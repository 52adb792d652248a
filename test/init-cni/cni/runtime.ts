import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { repo } from '../run-cli.js';

/**
 * A container runtime's side of the CNI protocol (libcni's behaviour, written from the CNI spec
 * 1.0.0): for a conflist, each plugin is started with CNI_COMMAND, CNI_CONTAINERID, CNI_NETNS,
 * CNI_IFNAME, CNI_ARGS and CNI_PATH in its environment and its network config on stdin: the plugin's
 * own object plus the list's `cniVersion` and `name`, the previous plugin's result as `prevResult`,
 * and `runtimeConfig` holding only the capabilities the plugin declares. ADD runs the list in order;
 * DEL in reverse, with the cached ADD result as prevResult; CHECK in order, with the cached result.
 * The reference plugins come from Debian's containernetworking-plugins (/usr/lib/cni); tandem's is
 * bin/tandem-cni. A missing reference plugin fails the caller, it does not skip.
 */

export const CNI_BIN = '/usr/lib/cni';

export function pluginPath(type: string): string {
  if (type === 'tandem-cni') return join(repo, 'bin', 'tandem-cni');
  const p = join(CNI_BIN, type);
  if (!existsSync(p)) throw new Error(`reference CNI plugin ${p} is missing: install Debian's containernetworking-plugins (.ci/run does)`);
  return p;
}

export interface Pod {
  readonly containerId: string;
  readonly netns: string;
  readonly ifname: string;
  readonly name: string;
  readonly namespace: string;
  /** What the runtime passes for the capability io.kubernetes.cri.pod-annotations. */
  readonly annotations?: Record<string, string>;
}

export type Json = Record<string, unknown>;

export interface Step {
  readonly type: string;
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface Exec {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs one plugin; `prefix` (e.g. `ip netns exec NODE`) chooses the namespace the runtime runs it in.
 * Asynchronous: the emulated apiserver the plugin may call lives in this process.
 */
export function execPlugin(type: string, command: string, pod: Pod | undefined, stdin: string, prefix: readonly string[] = [], extraEnv: Record<string, string> = {}): Promise<Exec> {
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin',
    CNI_COMMAND: command,
    CNI_PATH: CNI_BIN,
    ...(pod
      ? {
          CNI_CONTAINERID: pod.containerId,
          CNI_NETNS: pod.netns,
          CNI_IFNAME: pod.ifname,
          CNI_ARGS: `IgnoreUnknown=1;K8S_POD_NAMESPACE=${pod.namespace};K8S_POD_NAME=${pod.name};K8S_POD_INFRA_CONTAINER_ID=${pod.containerId}`,
        }
      : {}),
    ...extraEnv,
  };
  // `env -i`: nothing of the test runner's environment (tap's NODE_OPTIONS hooks) reaches the plugin.
  const vars = Object.entries(env).map(([k, v]) => `${k}=${v}`);
  const child = spawn('env', ['-i', ...vars, ...prefix, pluginPath(type)], { cwd: '/', stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  child.stdin.on('error', () => undefined);
  child.stdin.end(stdin);
  return new Promise((resolve) => child.on('close', (status) => resolve({ status, stdout, stderr })));
}

function pluginConfig(list: Json, plugin: Json, pod: Pod, prevResult: Json | undefined): Json {
  const conf: Json = { ...plugin, cniVersion: list.cniVersion, name: list.name };
  if (prevResult) conf.prevResult = prevResult;
  const caps = plugin.capabilities as Record<string, boolean> | undefined;
  if (caps?.['io.kubernetes.cri.pod-annotations'] && pod.annotations) conf.runtimeConfig = { 'io.kubernetes.cri.pod-annotations': pod.annotations };
  delete conf.capabilities;
  return conf;
}

/** Where each plugin type runs (which namespace the runtime is in). */
export type Placement = (type: string) => readonly string[];

export interface ListResult {
  readonly ok: boolean;
  readonly steps: Step[];
  /** ADD: the last plugin's result, which the runtime caches for DEL and CHECK. */
  readonly result?: Json;
}

export async function runList(command: 'ADD' | 'DEL' | 'CHECK', list: Json, pod: Pod, place: Placement, cached?: Json): Promise<ListResult> {
  const plugins = list.plugins as Json[];
  const order = command === 'DEL' ? [...plugins].reverse() : plugins;
  const steps: Step[] = [];
  let prev: Json | undefined = command === 'ADD' ? undefined : cached;
  for (const p of order) {
    const type = p.type as string;
    const r = await execPlugin(type, command, pod, JSON.stringify(pluginConfig(list, p, pod, prev)), place(type));
    steps.push({ type, status: r.status, stdout: r.stdout, stderr: r.stderr });
    if (r.status !== 0) return { ok: false, steps };
    if (command === 'ADD') prev = JSON.parse(r.stdout) as Json;
  }
  return { ok: true, steps, ...(command === 'ADD' && prev ? { result: prev } : {}) };
}
