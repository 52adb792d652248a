import { fileURLToPath } from 'node:url';
import { UserError } from '../../common/errors.js';
import { type Logger, createLogger } from '../../common/logger.js';
import { CniAgent } from './agent.js';
import { inClusterServer } from './kubeconfig.js';

export interface AgentFlagValues {
  cniBinDir: string;
  cniNetDir: string;
  hostCniBinDir: string;
  hostCniNetDir: string;
  kubeconfigName: string;
  tokenFile: string;
  caFile: string;
  server?: string;
  excludeNamespaces: string;
  podNamespace?: string;
  pluginLogFile?: string;
  interval: number;
}

/** The agent from `tandem cni-agent` flags; the package root (bin/, dist/) is where this module was built. */
export function createAgent(f: AgentFlagValues, log: Logger = createLogger('cni-agent')): { agent: CniAgent; log: Logger } {
  const server = f.server ?? inClusterServer(process.env);
  if (server !== undefined && !/^https?:\/\//.test(server)) throw new UserError(`--server ${server}: not an http(s) URL`);
  const podNamespace = f.podNamespace ?? process.env.POD_NAMESPACE;
  const agent = new CniAgent(
    {
      sourceRoot: fileURLToPath(new URL('../../../', import.meta.url)),
      nodeBinary: process.execPath,
      binDir: f.cniBinDir,
      hostBinDir: f.hostCniBinDir,
      netDir: f.cniNetDir,
      hostNetDir: f.hostCniNetDir,
      kubeconfigName: f.kubeconfigName,
      tokenFile: f.tokenFile,
      caFile: f.caFile,
      ...(server ? { server } : {}),
      excludeNamespaces: f.excludeNamespaces.split(',').map((s) => s.trim()).filter((s) => s !== ''),
      ...(podNamespace ? { podNamespace } : {}),
      ...(f.pluginLogFile ? { pluginLogFile: f.pluginLogFile } : {}),
      intervalMs: f.interval,
    },
    log,
  );
  return { agent, log };
}
