import { type FSWatcher, existsSync, readFileSync, rmSync, watch } from 'node:fs';
import { join } from 'node:path';
import { UserError } from '../../common/errors.js';
import type { Logger } from '../../common/logger.js';
import { type Json, pluginEntry } from './conflist.js';
import { atomicWrite, binaryInstalled, ensureChained, installBinary, removeBinary, removeChained } from './install.js';
import { pluginKubeconfig } from './kubeconfig.js';

/**
 * The node agent: keeps the plugin installed and chained, and the plugin's kubeconfig current. One
 * `reconcile()` pass does everything that is missing and nothing else; it runs at start, when the
 * CNI net dir changes (another agent rewrote the conflist) and on a timer (a rotated token, a
 * deleted binary, a watch the filesystem does not deliver).
 */

export interface AgentOptions {
  readonly sourceRoot: string;
  readonly nodeBinary: string;
  readonly binDir: string;
  readonly hostBinDir: string;
  readonly netDir: string;
  readonly hostNetDir: string;
  readonly kubeconfigName: string;
  /** Where the ServiceAccount token and CA are mounted; no token means no kubeconfig. */
  readonly tokenFile: string;
  readonly caFile: string;
  readonly server?: string;
  readonly excludeNamespaces: readonly string[];
  readonly podNamespace?: string;
  /** The plugin's log file as the host sees it. */
  readonly pluginLogFile?: string;
  readonly intervalMs: number;
}

export interface ReconcileReport {
  readonly binaryInstalled: boolean;
  readonly kubeconfigWritten: boolean;
  readonly configChanged: boolean;
  readonly configFile?: string;
}

function readOptional(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

export class CniAgent {
  private watcher: FSWatcher | undefined;
  private timer: NodeJS.Timeout | undefined;
  private pending: NodeJS.Timeout | undefined;
  private installedOnce = false;

  constructor(
    private readonly o: AgentOptions,
    private readonly log: Logger,
  ) {}

  private kubeconfigText(): string | undefined {
    const token = readOptional(this.o.tokenFile)?.trim();
    if (!this.o.server || !token) return undefined;
    const caPem = readOptional(this.o.caFile);
    return pluginKubeconfig({ server: this.o.server, token, ...(caPem ? { caPem } : {}) });
  }

  /** The plugin's entry; it names the kubeconfig only when there is one to write. */
  entry(): Json {
    return pluginEntry({
      ...(this.kubeconfigText() !== undefined ? { kubeconfig: join(this.o.hostNetDir, this.o.kubeconfigName) } : {}),
      excludeNamespaces: this.o.excludeNamespaces,
      ...(this.o.podNamespace ? { podNamespace: this.o.podNamespace } : {}),
      ...(this.o.pluginLogFile ? { logFile: this.o.pluginLogFile } : {}),
    });
  }

  reconcile(): ReconcileReport {
    let installed = false;
    // Copied once per agent start (a new agent image brings a new plugin), then only when missing.
    if (!this.installedOnce || !binaryInstalled(this.o.binDir)) {
      installBinary({ sourceRoot: this.o.sourceRoot, binDir: this.o.binDir, hostBinDir: this.o.hostBinDir, nodeBinary: this.o.nodeBinary });
      this.installedOnce = true;
      installed = true;
      this.log.info({ binDir: this.o.binDir }, 'plugin installed');
    }
    let written = false;
    const kc = this.kubeconfigText();
    const kcPath = join(this.o.netDir, this.o.kubeconfigName);
    if (kc !== undefined && readOptional(kcPath) !== kc) {
      atomicWrite(kcPath, kc, 0o600);
      written = true;
      this.log.info({ file: kcPath }, 'plugin kubeconfig written');
    }
    const outcome = ensureChained(this.o.netDir, this.entry());
    if (outcome.file === undefined) this.log.warn({ netDir: this.o.netDir }, 'no CNI network configuration yet: waiting for the primary CNI to write one');
    else if (outcome.changed) this.log.info({ file: outcome.file }, 'plugin chained into the network configuration');
    return { binaryInstalled: installed, kubeconfigWritten: written, configChanged: outcome.changed, ...(outcome.file ? { configFile: outcome.file } : {}) };
  }

  private schedule(): void {
    if (this.pending) return;
    // Editors and agents write in bursts (temp file, rename): settle first.
    this.pending = setTimeout(() => {
      this.pending = undefined;
      this.safeReconcile();
    }, 100);
  }

  private safeReconcile(): void {
    try {
      this.reconcile();
    } catch (err) {
      this.log.error({ err: (err as Error).message }, 'reconcile failed; retrying on the next change or tick');
    }
  }

  start(): void {
    for (const [dir, flag] of [[this.o.binDir, '--cni-bin-dir'], [this.o.netDir, '--cni-net-dir']] as const) {
      if (!existsSync(dir)) throw new UserError(`${flag} ${dir}: no such directory (is the node's CNI directory mounted?)`);
    }
    this.safeReconcile();
    this.watcher = watch(this.o.netDir, () => this.schedule());
    this.watcher.on('error', (err) => this.log.warn({ err: err.message }, 'watching the CNI net dir failed; the timer still repairs'));
    this.timer = setInterval(() => this.safeReconcile(), this.o.intervalMs);
  }

  stop(): void {
    this.watcher?.close();
    if (this.timer) clearInterval(this.timer);
    if (this.pending) clearTimeout(this.pending);
    this.watcher = undefined;
    this.timer = undefined;
    this.pending = undefined;
  }

  /** Takes everything out again: the chain entry first (so no pod creation calls a missing binary), then the files. */
  uninstall(): string[] {
    this.stop();
    const changed = removeChained(this.o.netDir);
    removeBinary(this.o.binDir);
    const kcPath = join(this.o.netDir, this.o.kubeconfigName);
    if (existsSync(kcPath)) rmSync(kcPath, { force: true });
    this.log.info({ changed }, 'plugin removed from the node');
    return changed;
  }
}
