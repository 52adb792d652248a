import { UserError } from '../../common/errors.js';
import { isObject } from '../../common/objects.js';

/**
 * Editing the node's CNI network configuration, pure: choose the primary file as the runtime does,
 * add tandem's plugin as the last of its chain, take it out again. Idempotent (adding twice equals
 * adding once) and reversible (removing gives back the original, a converted `.conf` included).
 */

export const PLUGIN_TYPE = 'tandem-cni';
/** Marks an entry added to a `.conf` turned into a `.conflist`, so that removal can turn it back. */
const CONVERTED_FROM = 'tandem_converted_from';

export type Json = Record<string, unknown>;

export interface ConfFile {
  readonly name: string;
  readonly text: string;
}

/** The extensions libcni loads, in the runtime's order: files sorted by name, the first valid one wins. */
const EXTENSIONS = ['.conf', '.conflist', '.json'];

function parse(file: ConfFile): Json {
  let v: unknown;
  try {
    v = JSON.parse(file.text);
  } catch (err) {
    throw new UserError(`CNI config ${file.name}: not JSON (${(err as Error).message})`);
  }
  if (!isObject(v)) throw new UserError(`CNI config ${file.name}: not a JSON object`);
  return v;
}

function isList(file: ConfFile, conf: Json): boolean {
  return file.name.endsWith('.conflist') || (file.name.endsWith('.json') && conf.plugins !== undefined);
}

function plugins(file: ConfFile, conf: Json): Json[] {
  const p = conf.plugins;
  if (!Array.isArray(p)) throw new UserError(`CNI config ${file.name}: "plugins" must be a list`);
  p.forEach((x, i) => {
    if (!isObject(x) || typeof x.type !== 'string') throw new UserError(`CNI config ${file.name}: plugins[${i}] has no "type"`);
  });
  return p as Json[];
}

/** Whether a file is a network configuration the runtime would use (a list with plugins, or a single conf with a type). */
export function isUsable(file: ConfFile): boolean {
  if (!EXTENSIONS.some((e) => file.name.endsWith(e))) return false;
  try {
    const conf = parse(file);
    return isList(file, conf) ? plugins(file, conf).length > 0 : typeof conf.type === 'string';
  } catch {
    return false;
  }
}

/** The primary network configuration among a directory's files (libcni: sorted by name, first usable). */
export function primaryConfig(files: readonly ConfFile[]): ConfFile | undefined {
  return [...files].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)).find(isUsable);
}

export function render(conf: Json): string {
  return JSON.stringify(conf, null, 2) + '\n';
}

/** Is tandem's plugin in this configuration, exactly as `entry` and last? */
export function hasPlugin(file: ConfFile, entry: Json): boolean {
  const conf = parse(file);
  if (!isList(file, conf)) return false;
  const list = plugins(file, conf);
  const last = list[list.length - 1];
  if (!last || last.type !== PLUGIN_TYPE) return false;
  const { [CONVERTED_FROM]: _marker, ...rest } = last;
  return JSON.stringify(rest) === JSON.stringify(entry) && list.filter((p) => p.type === PLUGIN_TYPE).length === 1;
}

/**
 * The configuration with tandem's plugin as the last of the chain (replacing any earlier tandem
 * entry). A single-plugin `.conf` becomes a `.conflist` of the same base name that keeps its
 * `cniVersion` and `name` (Istio names it k8s-pod-network; keeping them makes the change reversible).
 */
export function insertPlugin(file: ConfFile, entry: Json): ConfFile {
  if (entry.type !== PLUGIN_TYPE) throw new Error(`insertPlugin: entry type must be ${PLUGIN_TYPE}`);
  const conf = parse(file);
  if (isList(file, conf)) {
    const kept = plugins(file, conf).filter((p) => p.type !== PLUGIN_TYPE);
    const old = plugins(file, conf).find((p) => p.type === PLUGIN_TYPE);
    const marker = old?.[CONVERTED_FROM];
    const added = marker === undefined ? entry : { ...entry, [CONVERTED_FROM]: marker };
    return { name: file.name, text: render({ ...conf, plugins: [...kept, added] }) };
  }
  if (typeof conf.type !== 'string') throw new UserError(`CNI config ${file.name}: neither a plugin list nor a plugin (no "type")`);
  const { cniVersion, name, ...single } = conf;
  const base = file.name.replace(/\.(conf|json)$/, '');
  return {
    name: `${base}.conflist`,
    text: render({
      cniVersion: typeof cniVersion === 'string' ? cniVersion : '0.3.1',
      name: typeof name === 'string' ? name : 'k8s-pod-network',
      plugins: [single, { ...entry, [CONVERTED_FROM]: file.name }],
    }),
  };
}

/** The configuration without tandem's plugin; a list tandem made from a `.conf` goes back to that file. */
export function removePlugin(file: ConfFile): ConfFile {
  const conf = parse(file);
  if (!isList(file, conf)) return file;
  const list = plugins(file, conf);
  const ours = list.find((p) => p.type === PLUGIN_TYPE);
  if (!ours) return file;
  const kept = list.filter((p) => p.type !== PLUGIN_TYPE);
  const from = ours[CONVERTED_FROM];
  const single = kept[0];
  if (typeof from === 'string' && kept.length === 1 && single) {
    const restored: Json = {};
    if (conf.cniVersion !== undefined) restored.cniVersion = conf.cniVersion;
    if (conf.name !== undefined) restored.name = conf.name;
    return { name: from, text: render({ ...restored, ...single }) };
  }
  return { name: file.name, text: render({ ...conf, plugins: kept }) };
}

export interface EntryOptions {
  /** Host paths: the plugin runs on the host, not in the agent's container. */
  readonly kubeconfig?: string;
  readonly logFile?: string;
  readonly excludeNamespaces: readonly string[];
  readonly podNamespace?: string;
}

/** tandem's entry in the chain. The capability makes containerd and CRI-O pass the pod's annotations. */
export function pluginEntry(o: EntryOptions): Json {
  return {
    type: PLUGIN_TYPE,
    name: PLUGIN_TYPE,
    capabilities: { 'io.kubernetes.cri.pod-annotations': true },
    ...(o.kubeconfig ? { kubeconfig: o.kubeconfig } : {}),
    exclude_namespaces: [...o.excludeNamespaces],
    ...(o.podNamespace ? { pod_namespace: o.podNamespace } : {}),
    ...(o.logFile ? { log_file: o.logFile } : {}),
  };
}
