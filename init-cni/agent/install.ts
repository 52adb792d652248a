import { chmodSync, copyFileSync, cpSync, existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { type ConfFile, type Json, hasPlugin, insertPlugin, primaryConfig, removePlugin } from './conflist.js';

/**
 * The node agent's file operations: the plugin into the CNI bin dir, the kubeconfig, the conflist
 * edit. Writes are atomic (temp file + rename in the same directory) because the runtime may read
 * the files at any moment.
 */

export const PLUGIN_FILE = 'tandem-cni';
/** What the plugin needs next to it: the node binary and the compiled code. */
export const PLUGIN_DIR = 'tandem-cni.d';

export function atomicWrite(path: string, text: string, mode = 0o644): void {
  const tmp = join(dirname(path), `.${Date.now()}-${process.pid}.tmp`);
  writeFileSync(tmp, text, { mode });
  chmodSync(tmp, mode);
  renameSync(tmp, path);
}

export interface BinaryPaths {
  /** The checkout or image root holding bin/tandem-cni and dist/. */
  readonly sourceRoot: string;
  /** Where the agent writes (the host's CNI bin dir as mounted in its container). */
  readonly binDir: string;
  /** The same directory as the host sees it: the plugin's shebang points there. */
  readonly hostBinDir: string;
  /** The node binary to ship with the plugin. */
  readonly nodeBinary: string;
}

function sameFile(a: string, b: string): boolean {
  try {
    const sa = statSync(a);
    const sb = statSync(b);
    return sa.size === sb.size && sa.mtimeMs <= sb.mtimeMs;
  } catch {
    return false;
  }
}

/**
 * Copies the plugin: <binDir>/tandem-cni (the shim, its shebang pointing at the shipped node) and
 * <binDir>/tandem-cni.d/{node, package.json, dist/{init-cni,common}}. Only dist/init-cni and
 * dist/common: the plugin imports nothing else (and no package from node_modules).
 */
export function installBinary(p: BinaryPaths): void {
  const dir = join(p.binDir, PLUGIN_DIR);
  const staging = join(p.binDir, `.${PLUGIN_DIR}.new`);
  rmSync(staging, { recursive: true, force: true });
  mkdirSync(join(staging, 'dist'), { recursive: true });
  for (const part of ['init-cni', 'common']) cpSync(join(p.sourceRoot, 'dist', part), join(staging, 'dist', part), { recursive: true, filter: (src) => !src.endsWith('.map') });
  writeFileSync(join(staging, 'package.json'), '{ "type": "module" }\n');
  const node = join(dir, 'node');
  // The node binary is large: reuse the installed one when it is the same file.
  if (sameFile(p.nodeBinary, node)) renameSync(node, join(staging, 'node'));
  else copyFileSync(p.nodeBinary, join(staging, 'node'));
  chmodSync(join(staging, 'node'), 0o755);
  // Swapped by two renames: a runtime starting the plugin meanwhile finds one tree or the other.
  const old = join(p.binDir, `.${PLUGIN_DIR}.old`);
  rmSync(old, { recursive: true, force: true });
  if (existsSync(dir)) renameSync(dir, old);
  renameSync(staging, dir);
  rmSync(old, { recursive: true, force: true });
  const shim = readFileSync(join(p.sourceRoot, 'bin', 'tandem-cni'), 'utf8').replace(/^#!.*\n/, `#!${join(p.hostBinDir, PLUGIN_DIR, 'node')}\n`);
  atomicWrite(join(p.binDir, PLUGIN_FILE), shim, 0o755);
}

export function binaryInstalled(binDir: string): boolean {
  return existsSync(join(binDir, PLUGIN_FILE)) && existsSync(join(binDir, PLUGIN_DIR, 'node')) && existsSync(join(binDir, PLUGIN_DIR, 'dist', 'init-cni', 'cni', 'main.js'));
}

export function removeBinary(binDir: string): void {
  rmSync(join(binDir, PLUGIN_FILE), { force: true });
  rmSync(join(binDir, PLUGIN_DIR), { recursive: true, force: true });
}

function readConfigs(netDir: string): ConfFile[] {
  return readdirSync(netDir, { withFileTypes: true })
    .filter((d) => d.isFile() && /\.(conf|conflist|json)$/.test(d.name))
    .map((d) => ({ name: d.name, text: readFileSync(join(netDir, d.name), 'utf8') }));
}

function modeOf(path: string): number {
  try {
    return statSync(path).mode & 0o777;
  } catch {
    return 0o644;
  }
}

/** Writes `next` in place of `current` (a `.conf` turned into a `.conflist`, or back, changes the name). */
function replace(netDir: string, current: ConfFile, next: ConfFile): void {
  const mode = modeOf(join(netDir, current.name));
  atomicWrite(join(netDir, next.name), next.text, mode);
  if (next.name !== current.name) unlinkSync(join(netDir, current.name));
}

export type ConfigOutcome = { readonly changed: boolean; readonly file: string } | { readonly changed: false; readonly file: undefined };

/** Puts tandem's plugin at the end of the primary network configuration (nothing when it is already there). */
export function ensureChained(netDir: string, entry: Json): ConfigOutcome {
  const primary = primaryConfig(readConfigs(netDir));
  if (!primary) return { changed: false, file: undefined };
  if (hasPlugin(primary, entry)) return { changed: false, file: primary.name };
  const next = insertPlugin(primary, entry);
  replace(netDir, primary, next);
  return { changed: true, file: next.name };
}

/** Takes tandem's plugin out of every network configuration in the directory. */
export function removeChained(netDir: string): string[] {
  const changed: string[] = [];
  for (const file of readConfigs(netDir)) {
    let next: ConfFile;
    try {
      next = removePlugin(file);
    } catch {
      continue; // not ours to judge: an unparsable file is left as it is
    }
    if (next.text === file.text && next.name === file.name) continue;
    replace(netDir, file, next);
    changed.push(next.name);
  }
  return changed;
}
