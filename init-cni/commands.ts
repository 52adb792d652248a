import type { Command } from 'commander';
import { millisecondsArg, portArg } from '../common/cli-options.js';
import type { AgentFlagValues } from './agent/run.js';

/** `run` takes the agent's flags plus what to do on exit. */
interface AgentFlags extends AgentFlagValues {
  uninstallOnExit: boolean;
}

interface ValidateFlags {
  probePort: number;
  timeout: number;
}

const SA = '/var/run/secrets/kubernetes.io/serviceaccount';

function agentOptions(c: Command): Command {
  return c
    .option('--cni-bin-dir <dir>', "the node's CNI bin dir as mounted here", '/host/opt/cni/bin')
    .option('--cni-net-dir <dir>', "the node's CNI net dir as mounted here", '/host/etc/cni/net.d')
    .option('--host-cni-bin-dir <dir>', 'the CNI bin dir as the node sees it (the plugin runs there)', '/opt/cni/bin')
    .option('--host-cni-net-dir <dir>', 'the CNI net dir as the node sees it', '/etc/cni/net.d')
    .option('--kubeconfig-name <file>', "the plugin's kubeconfig, written into the net dir", 'tandem-cni.kubeconfig')
    .option('--token-file <file>', 'ServiceAccount token the plugin reads pods with', `${SA}/token`)
    .option('--ca-file <file>', 'the cluster CA', `${SA}/ca.crt`)
    .option('--server <url>', 'apiserver URL for the plugin (default: from KUBERNETES_SERVICE_HOST/PORT)')
    .option('--exclude-namespaces <list>', 'namespaces whose pods are never captured', 'kube-system')
    .option('--pod-namespace <ns>', "the agent's namespace (its own pods are skipped; default: $POD_NAMESPACE)")
    .option('--plugin-log-file <file>', "the plugin's log file as the node sees it (default: the runtime's stderr)")
    .option('--interval <ms>', 'repair check period', millisecondsArg, 5000);
}

/** Registers `tandem cni-agent [run|uninstall]` and `tandem cni-validate`. Actions import lazily. */
export function register(program: Command): void {
  const agent = program.command('cni-agent').description('the node agent of CNI mode: installs and chains the tandem-cni plugin, repairs it, removes it');
  agentOptions(agent.command('run', { isDefault: true }).description('install, chain and keep repairing the plugin until stopped'))
    .option('--uninstall-on-exit', 'remove the plugin from the node on SIGTERM/SIGINT', false)
    .action(async (f: AgentFlags) => {
      const [{ createAgent }, { default: closeWithGrace }] = await Promise.all([import('./agent/run.js'), import('close-with-grace')]);
      const { agent: a, log } = createAgent(f);
      a.start();
      await new Promise<void>((resolve) => {
        closeWithGrace({ delay: 5000 }, async ({ err }) => {
          if (err) log.error({ err: err.message }, 'stopping');
          if (f.uninstallOnExit) a.uninstall();
          else a.stop();
          resolve();
        });
      });
    });
  agentOptions(agent.command('uninstall').description('remove the plugin from the conflist and the bin dir, and its kubeconfig')).action(async (f: AgentFlags) => {
    const { createAgent } = await import('./agent/run.js');
    const { agent: a } = createAgent(f);
    process.stdout.write(JSON.stringify({ changed: a.uninstall() }) + '\n');
  });

  program
    .command('cni-validate')
    .description("CNI mode's init check (unprivileged, run as the proxy uid): a connection to 127.0.0.6:PROBE must be redirected to the proxy's ports")
    .option('--probe-port <port>', 'the port dialled; nothing listens there', portArg, 15002)
    .option('--timeout <ms>', 'give up after', millisecondsArg, 10_000)
    .action(async (f: ValidateFlags) => {
      const { validateRedirect } = await import('./cni/validate.js');
      const r = await validateRedirect({ probePort: f.probePort, timeoutMs: f.timeout });
      process.stdout.write(JSON.stringify(r) + '\n');
    });
}
