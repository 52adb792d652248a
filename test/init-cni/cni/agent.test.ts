import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { silentLogger } from '../../../common/logger.js';
import { CniAgent } from '../../../init-cni/agent/agent.js';
import { inClusterServer } from '../../../init-cni/agent/kubeconfig.js';
import { parseKubeconfig } from '../../../init-cni/cni/kube.js';
import { repo } from '../run-cli.js';

/**
 * The node agent on real directories standing in for a node's /opt/cni/bin and /etc/cni/net.d:
 * install, chain, repair after another agent rewrites the conflist, token rotation, uninstall
 * (also through `tandem cni-agent`, with SIGTERM and --uninstall-on-exit). The installed plugin is
 * executed for real through its own shebang and the node binary the agent shipped.
 */

const fixtures = new URL('./fixtures/', import.meta.url).pathname;
const CALICO = readFileSync(join(fixtures, '10-calico.conflist'), 'utf8');
const BRIDGE_CONF = readFileSync(join(fixtures, '10-bridge.conf'), 'utf8');

function node(): { root: string; bin: string; net: string; token: string; ca: string } {
  const root = mkdtempSync(join(tmpdir(), 'tandem-node-'));
  const bin = join(root, 'opt-cni-bin');
  const net = join(root, 'etc-cni-net.d');
  mkdirSync(bin);
  mkdirSync(net);
  writeFileSync(join(root, 'token'), 'token-1\n');
  writeFileSync(join(root, 'ca.crt'), '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n');
  return { root, bin, net, token: join(root, 'token'), ca: join(root, 'ca.crt') };
}

function agentFor(n: ReturnType<typeof node>, intervalMs = 60_000): CniAgent {
  return new CniAgent(
    {
      sourceRoot: repo,
      nodeBinary: process.execPath,
      binDir: n.bin,
      // The same path: the shebang must work when the test executes the installed plugin.
      hostBinDir: n.bin,
      netDir: n.net,
      hostNetDir: '/etc/cni/net.d',
      kubeconfigName: 'tandem-cni.kubeconfig',
      tokenFile: n.token,
      caFile: n.ca,
      server: 'https://10.96.0.1:443',
      excludeNamespaces: ['kube-system'],
      podNamespace: 'tandem-system',
      intervalMs,
    },
    silentLogger,
  );
}

function conflist(n: ReturnType<typeof node>, name = '10-calico.conflist'): { plugins: { type: string; kubeconfig?: string }[] } {
  return JSON.parse(readFileSync(join(n.net, name), 'utf8')) as { plugins: { type: string; kubeconfig?: string }[] };
}

async function until(what: string, cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

t.test('install, chain, and the installed plugin runs', async (t) => {
  const n = node();
  t.teardown(() => rmSync(n.root, { recursive: true, force: true }));
  writeFileSync(join(n.net, '10-calico.conflist'), CALICO);
  writeFileSync(join(n.net, '99-other.conflist'), '{"name":"x","cniVersion":"1.0.0","plugins":[{"type":"ptp"}]}');
  const agent = agentFor(n);
  const r = agent.reconcile();
  t.same(r, { binaryInstalled: true, kubeconfigWritten: true, configChanged: true, configFile: '10-calico.conflist' });

  const shim = readFileSync(join(n.bin, 'tandem-cni'), 'utf8');
  t.equal(shim.split('\n')[0], `#!${join(n.bin, 'tandem-cni.d', 'node')}`, 'the shebang names the shipped node binary (host path)');
  t.ok(existsSync(join(n.bin, 'tandem-cni.d', 'dist', 'init-cni', 'cni', 'main.js')));
  t.notOk(existsSync(join(n.bin, 'tandem-cni.d', 'dist', 'webhook')), 'only what the plugin needs');
  const version = spawnSync(join(n.bin, 'tandem-cni'), [], { env: { PATH: '/usr/bin:/bin', CNI_COMMAND: 'VERSION' }, encoding: 'utf8', cwd: '/' });
  t.equal(version.status, 0, version.stderr);
  t.match(JSON.parse(version.stdout), { supportedVersions: ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'] });
  const add = spawnSync(join(n.bin, 'tandem-cni'), [], {
    env: { PATH: '/usr/bin:/bin:/usr/sbin:/sbin', CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'c', CNI_IFNAME: 'eth0', CNI_NETNS: '/proc/self/ns/net', CNI_ARGS: 'K8S_POD_NAMESPACE=kube-system;K8S_POD_NAME=coredns' },
    input: JSON.stringify({ cniVersion: '0.3.1', name: 'k8s-pod-network', type: 'tandem-cni', exclude_namespaces: ['kube-system'], prevResult: { ips: [{ version: '4', address: '10.0.0.9/24' }] } }),
    encoding: 'utf8',
    cwd: '/',
  });
  t.equal(add.status, 0, add.stdout + add.stderr);
  t.same(JSON.parse(add.stdout), { cniVersion: '0.3.1', ips: [{ version: '4', address: '10.0.0.9/24' }] }, 'an excluded namespace passes through');

  const plugins = conflist(n).plugins;
  t.same(plugins.map((p) => p.type), ['calico', 'portmap', 'bandwidth', 'tandem-cni']);
  t.equal(plugins[3]?.kubeconfig, '/etc/cni/net.d/tandem-cni.kubeconfig', 'the host path');
  t.notMatch(readFileSync(join(n.net, '99-other.conflist'), 'utf8'), /tandem/, 'only the primary file');
  const kc = parseKubeconfig(readFileSync(join(n.net, 'tandem-cni.kubeconfig'), 'utf8'), 'kc');
  t.same([kc.server, kc.token, kc.insecure], ['https://10.96.0.1:443', 'token-1', false]);
  t.match(kc.ca, /BEGIN CERTIFICATE/);

  t.same(agent.reconcile(), { binaryInstalled: false, kubeconfigWritten: false, configChanged: false, configFile: '10-calico.conflist' }, 'a second pass changes nothing');
  writeFileSync(n.token, 'token-2\n');
  t.equal(agent.reconcile().kubeconfigWritten, true, 'a rotated token is written');
  t.equal(parseKubeconfig(readFileSync(join(n.net, 'tandem-cni.kubeconfig'), 'utf8'), 'kc').token, 'token-2');
  rmSync(join(n.bin, 'tandem-cni'));
  t.equal(agent.reconcile().binaryInstalled, true, 'a deleted plugin is reinstalled');

  const changed = agent.uninstall();
  t.same(changed, ['10-calico.conflist']);
  t.same(JSON.parse(readFileSync(join(n.net, '10-calico.conflist'), 'utf8')), JSON.parse(CALICO), 'the conflist as it was');
  t.same(readdirSync(n.bin), [], 'the bin dir as it was');
  t.notOk(existsSync(join(n.net, 'tandem-cni.kubeconfig')));
});

t.test('no conflist yet, then the primary CNI writes a .conf: chained when it appears, restored on uninstall', async (t) => {
  const n = node();
  t.teardown(() => rmSync(n.root, { recursive: true, force: true }));
  const agent = agentFor(n);
  agent.start();
  t.teardown(() => agent.stop());
  t.ok(existsSync(join(n.bin, 'tandem-cni')), 'the plugin is installed at start');
  writeFileSync(join(n.net, '10-bridge.conf'), BRIDGE_CONF);
  await until('the .conf to become a chained .conflist', () => existsSync(join(n.net, '10-bridge.conflist')));
  t.notOk(existsSync(join(n.net, '10-bridge.conf')));
  t.same(conflist(n, '10-bridge.conflist').plugins.map((p) => p.type), ['bridge', 'tandem-cni']);

  // Another agent (the primary CNI restarting) rewrites its config: repaired from the watch.
  rmSync(join(n.net, '10-bridge.conflist'));
  writeFileSync(join(n.net, '10-bridge.conf'), BRIDGE_CONF);
  await until('the repair', () => existsSync(join(n.net, '10-bridge.conflist')) && !existsSync(join(n.net, '10-bridge.conf')));
  t.same(conflist(n, '10-bridge.conflist').plugins.map((p) => p.type), ['bridge', 'tandem-cni']);

  agent.uninstall();
  t.same(readdirSync(n.net), ['10-bridge.conf']);
  t.same(JSON.parse(readFileSync(join(n.net, '10-bridge.conf'), 'utf8')), JSON.parse(BRIDGE_CONF));
});

t.test('the timer repairs too (no watch event needed)', async (t) => {
  const n = node();
  t.teardown(() => rmSync(n.root, { recursive: true, force: true }));
  writeFileSync(join(n.net, '10-calico.conflist'), CALICO);
  const agent = agentFor(n, 200);
  agent.start();
  t.teardown(() => agent.stop());
  rmSync(join(n.bin, 'tandem-cni.d'), { recursive: true });
  await until('the reinstall', () => existsSync(join(n.bin, 'tandem-cni.d', 'node')));
  t.pass('reinstalled by the periodic pass');
});

t.test('tandem cni-agent: run with --uninstall-on-exit, SIGTERM removes; uninstall subcommand', async (t) => {
  const n = node();
  t.teardown(() => rmSync(n.root, { recursive: true, force: true }));
  writeFileSync(join(n.net, '10-flannel.conflist'), readFileSync(join(fixtures, '10-flannel.conflist')));
  const flags = ['--cni-bin-dir', n.bin, '--cni-net-dir', n.net, '--host-cni-bin-dir', n.bin, '--token-file', n.token, '--ca-file', n.ca, '--server', 'https://127.0.0.1:6443', '--pod-namespace', 'tandem-system'];
  const child = spawn('env', ['-i', `PATH=${process.env.PATH ?? ''}`, process.execPath, 'bin/tandem', 'cni-agent', '--uninstall-on-exit', ...flags], { cwd: repo, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  // pino writes asynchronously: wait for the log line as well as the file.
  await until('the agent to chain the plugin', () => readFileSync(join(n.net, '10-flannel.conflist'), 'utf8').includes('tandem-cni') && stderr.includes('plugin chained'), 90_000);
  t.match(stderr, /plugin chained into the network configuration/, 'pino JSON logs on stderr');
  child.kill('SIGTERM');
  t.equal(await exited, 0, stderr);
  t.notMatch(readFileSync(join(n.net, '10-flannel.conflist'), 'utf8'), /tandem/, 'removed on exit');
  t.same(readdirSync(n.bin), []);

  // Installed again by a one-shot pass, then the uninstall subcommand.
  agentFor(n).reconcile();
  const u = spawnSync('env', ['-i', `PATH=${process.env.PATH ?? ''}`, process.execPath, 'bin/tandem', 'cni-agent', 'uninstall', ...flags], { cwd: repo, encoding: 'utf8' });
  t.equal(u.status, 0, u.stderr);
  t.same(JSON.parse(u.stdout), { changed: ['10-flannel.conflist'] });
  t.notMatch(readFileSync(join(n.net, '10-flannel.conflist'), 'utf8'), /tandem/);
  const bad = spawnSync('env', ['-i', `PATH=${process.env.PATH ?? ''}`, process.execPath, 'bin/tandem', 'cni-agent', 'uninstall', ...flags, '--server', 'ftp://x'], { cwd: repo, encoding: 'utf8' });
  t.equal(bad.status, 1);
  t.match(bad.stderr, /--server ftp:\/\/x: not an http\(s\) URL/);
});

t.test('in-cluster apiserver URL', async (t) => {
  t.equal(inClusterServer({ KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443' }), 'https://10.96.0.1:443');
  t.equal(inClusterServer({ KUBERNETES_SERVICE_HOST: 'fd00::1', KUBERNETES_SERVICE_PORT: '443' }), 'https://[fd00::1]:443');
  t.equal(inClusterServer({}), undefined);
});

t.test('a missing CNI directory is a clear error, not a crash', async (t) => {
  const n = node();
  t.teardown(() => rmSync(n.root, { recursive: true, force: true }));
  rmSync(n.net, { recursive: true });
  t.throws(() => agentFor(n).start(), { name: 'UserError', message: `--cni-net-dir ${n.net}: no such directory (is the node's CNI directory mounted?)` });
});
