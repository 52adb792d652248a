import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { tandemIptables } from './run-cli.js';
import { dial, startOrigDstServer } from './traffic.js';

/**
 * Real capture: two network namespaces joined by a veth pair; the rules applied in the "pod"
 * namespace by the compiled CLI; real TCP connections show where they land. Needs root, `ip`,
 * iptables and python3 (for SO_ORIGINAL_DST); without them this test fails, it does not skip.
 */

const id = process.pid;
const POD = `tandem-pod-${id}`;
const PEER = `tandem-peer-${id}`;
const VETH_POD = `tdp${id}`.slice(0, 15);
const VETH_PEER = `tdq${id}`.slice(0, 15);
const POD_IP = '10.250.0.1';
const PEER_IP = '10.250.0.2';
/** A second peer address, in the range the -x test excludes. */
const PEER_IP_EXCLUDED = '10.250.1.2';

// The flags tandem's webhook gives the injected init container.
const WEBHOOK_FLAGS = ['-p', '15001', '-z', '15006', '-u', '1337', '-m', 'REDIRECT', '-i', '*', '-x', '', '-b', '*', '-d', '15090,15021,15020'];
const MORE_EXCLUDES = [...WEBHOOK_FLAGS, '-o', '9090', '-x', '10.250.1.0/24'];

const servers: ChildProcess[] = [];

function sh(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function inNs(ns: string, cmd: string[]): string {
  return sh('ip', ['netns', 'exec', ns, ...cmd]);
}

/**
 * Connects from `ns` (optionally as uid/gid 1337) and reports which listener answered. The client is
 * bash's /dev/tcp: nothing to start, and any uid can run /bin/bash (node or python may live
 * somewhere uid 1337 cannot read).
 */
function startServer(ns: string, name: string, ports: number[]): Promise<void> {
  const server = startOrigDstServer(ns, name, ports);
  servers.push(server.child);
  return server.ready;
}

/** iptables-save of the pod namespace, comparable: no comments, no counters, empty tables dropped. */
function podTables(save = 'iptables-save'): string {
  const text = inNs(POD, [save]);
  const out: string[] = [];
  let section: string[] = [];
  let meaningful = false;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    if (line.startsWith('*')) {
      section = [line];
      meaningful = false;
      continue;
    }
    if (line === 'COMMIT') {
      if (meaningful) out.push(...section, line);
      continue;
    }
    const clean = line.replace(/\s*\[\d+:\d+\]$/, '');
    // A table holding only built-in chains with ACCEPT policies is the same as no table.
    if (!/^:(PREROUTING|INPUT|FORWARD|OUTPUT|POSTROUTING) ACCEPT$/.test(clean)) meaningful = true;
    section.push(clean);
  }
  return out.join('\n');
}

function applyInPod(args: string[], env: Record<string, string> = {}): ReturnType<typeof tandemIptables> {
  return tandemIptables(args, env, ['ip', 'netns', 'exec', POD]);
}

t.before(async () => {
  // Any failure here fails the test: this is the proof that capture works, it must run.
  sh('ip', ['netns', 'add', POD]);
  sh('ip', ['netns', 'add', PEER]);
  sh('ip', ['link', 'add', VETH_POD, 'type', 'veth', 'peer', 'name', VETH_PEER]);
  sh('ip', ['link', 'set', VETH_POD, 'netns', POD]);
  sh('ip', ['link', 'set', VETH_PEER, 'netns', PEER]);
  for (const [ns, dev, addrs] of [[POD, VETH_POD, [POD_IP]], [PEER, VETH_PEER, [PEER_IP, PEER_IP_EXCLUDED]]] as const) {
    inNs(ns, ['ip', 'link', 'set', 'lo', 'up']);
    for (const a of addrs) inNs(ns, ['ip', 'addr', 'add', `${a}/16`, 'dev', dev]);
    inNs(ns, ['ip', 'link', 'set', dev, 'up']);
  }
  // The pod: the proxy's two capture listeners and an app on 8080 and on the excluded 15020.
  // The peer: an outside service on 8080 and 9090.
  await Promise.all([startServer(POD, 'pod', [15001, 15006, 8080, 15020]), startServer(PEER, 'peer', [8080, 9090])]);
});

t.teardown(() => {
  for (const s of servers) s.kill('SIGKILL');
  spawnSync('ip', ['netns', 'del', POD]);
  spawnSync('ip', ['netns', 'del', PEER]);
});

t.test('namespaces are wired and nothing is captured before the rules', async (t) => {
  t.same(dial(POD, PEER_IP, 8080), { ns: 'peer', port: 8080, orig: `${PEER_IP}:8080` });
  t.same(dial(PEER, POD_IP, 8080), { ns: 'pod', port: 8080, orig: `${POD_IP}:8080` });
  t.notMatch(podTables(), /ISTIO_/);
});

t.test('webhook default flags: capture for real', async (t) => {
  const r = applyInPod(WEBHOOK_FLAGS);
  t.equal(r.status, 0, `apply exits 0: ${r.stderr}`);
  t.match(podTables(), /-A OUTPUT -j ISTIO_OUTPUT/);

  t.same(dial(POD, PEER_IP, 8080), { ns: 'pod', port: 15001, orig: `${PEER_IP}:8080` }, 'app outbound lands on 15001, original destination kept');
  t.same(dial(PEER, POD_IP, 8080), { ns: 'pod', port: 15006, orig: `${POD_IP}:8080` }, 'inbound lands on 15006, original destination kept');
  t.same(dial(POD, PEER_IP, 8080, true), { ns: 'peer', port: 8080, orig: `${PEER_IP}:8080` }, 'uid 1337 goes direct');
  t.same(dial(PEER, POD_IP, 15020), { ns: 'pod', port: 15020, orig: `${POD_IP}:15020` }, 'inbound port excluded by -d goes direct');
  t.same(dial(POD, '127.0.0.1', 8080), { ns: 'pod', port: 8080, orig: '127.0.0.1:8080' }, 'localhost is not captured');
});

t.test('re-apply with outbound exclusions replaces the rules and is idempotent', async (t) => {
  const r = applyInPod(MORE_EXCLUDES);
  t.equal(r.status, 0, r.stderr);
  const first = podTables();
  t.same(dial(POD, PEER_IP, 9090), { ns: 'peer', port: 9090, orig: `${PEER_IP}:9090` }, 'outbound port excluded by -o goes direct');
  t.same(dial(POD, PEER_IP_EXCLUDED, 8080), { ns: 'peer', port: 8080, orig: `${PEER_IP_EXCLUDED}:8080` }, 'CIDR excluded by -x goes direct');
  t.same(dial(POD, PEER_IP, 8080), { ns: 'pod', port: 15001, orig: `${PEER_IP}:8080` }, 'other outbound still captured');

  const again = applyInPod(MORE_EXCLUDES);
  t.equal(again.status, 0, again.stderr);
  t.equal(podTables(), first, 'iptables-save identical after applying the same configuration twice');
  t.equal((first.match(/^-A OUTPUT -j ISTIO_OUTPUT$/gm) ?? []).length, 1, 'one jump, not two');
});

t.test('a bad flag changes nothing and names the flag', async (t) => {
  const before = podTables();
  const r = applyInPod([...MORE_EXCLUDES, '-p', '99999']);
  t.equal(r.status, 1);
  t.match(r.stderr, /-p "99999"/);
  t.equal(r.stderr.trim().split('\n').length, 1, 'one line');
  t.equal(podTables(), before);
});

t.test('a rule iptables rejects: exit non-zero with its message, tables as they were', async (t) => {
  // Wrappers in front of the real iptables-restore append a rule jumping to a chain that does not
  // exist to the last table of every --noflush input (mangle commits first, then nat fails).
  const dir = mkdtempSync(join(tmpdir(), 'tandem-ipt-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  for (const name of ['iptables-nft-restore', 'iptables-legacy-restore', 'iptables-restore']) {
    const real = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' }).stdout.trim();
    if (!real) continue;
    const script = `#!/bin/sh
case " $* " in
  *" --noflush "*) awk '{l[NR]=$0} END {for (i = 1; i < NR; i++) print l[i]; print "-A OUTPUT -j TANDEM_NO_SUCH_CHAIN"; print l[NR]}' | ${real} "$@" ;;
  *) exec ${real} "$@" ;;
esac
`;
    writeFileSync(join(dir, name), script);
    chmodSync(join(dir, name), 0o755);
  }
  const before = podTables();
  const r = applyInPod([...WEBHOOK_FLAGS, '--drop-invalid'], { PATH: `${dir}:${process.env.PATH}` });
  t.not(r.status, 0, 'non-zero exit');
  t.match(r.stderr, /TANDEM_NO_SUCH_CHAIN/, "iptables' own message is shown");
  t.equal(podTables(), before, 'the mangle table committed before the failure was put back; nat untouched');
  t.same(dial(POD, PEER_IP, 9090), { ns: 'peer', port: 9090, orig: `${PEER_IP}:9090` }, 'previous rules still in force');
});

t.test('cleanup removes the capture and restores direct traffic', async (t) => {
  const before = podTables();
  const dry = applyInPod(['--cleanup', '--dry-run', ...MORE_EXCLUDES]);
  t.equal(dry.status, 0, dry.stderr);
  t.match(dry.stdout, /^# iptables-restore --noflush input \(IPv4\)\n\* nat\n-D PREROUTING -p tcp -j ISTIO_INBOUND\n-D OUTPUT -j ISTIO_OUTPUT\n-F ISTIO_INBOUND\n/);
  t.match(dry.stdout, /-X ISTIO_REDIRECT\nCOMMIT\n/);
  t.equal(podTables(), before, 'the cleanup dry run changed nothing');

  const r = applyInPod(['--cleanup', ...MORE_EXCLUDES]);
  t.equal(r.status, 0, r.stderr);
  t.notMatch(podTables(), /ISTIO_/);
  t.same(dial(POD, PEER_IP, 8080), { ns: 'peer', port: 8080, orig: `${PEER_IP}:8080` });
  t.same(dial(PEER, POD_IP, 8080), { ns: 'pod', port: 8080, orig: `${POD_IP}:8080` });
  const twice = applyInPod(['--cleanup']);
  t.equal(twice.status, 0, 'cleanup on a clean namespace is fine');
});

t.test('legacy backend forced: apply, re-apply, cleanup', async (t) => {
  const args = ['--iptables-backend', 'legacy', ...WEBHOOK_FLAGS, '-c', 'eth9', '-k', 'eth8'];
  // Legacy iptables serialises on the xtables lock: hold it for a moment, tandem must wait, not fail.
  const lock = '/run/xtables.lock';
  const holder = spawn('flock', [lock, 'sleep', '1']);
  const held = () => spawnSync('flock', ['-n', lock, 'true']).status !== 0;
  for (let i = 0; i < 100 && !held(); i++) await new Promise((r) => setTimeout(r, 20));
  t.ok(held(), 'another process holds the xtables lock');
  const locked = applyInPod(args);
  t.equal(locked.status, 0, `applied once the lock was free: ${locked.stderr}`);
  holder.kill();
  const first = podTables('iptables-legacy-save');
  t.match(first, /-A PREROUTING -i eth9 -j RETURN/);
  t.equal(applyInPod(args).status, 0);
  t.equal(podTables('iptables-legacy-save'), first, 'idempotent, including the non-jump rules in built-in chains');
  t.same(dial(POD, PEER_IP, 8080), { ns: 'pod', port: 15001, orig: `${PEER_IP}:8080` }, 'legacy rules capture too');
  t.equal(applyInPod(['--cleanup', ...args]).status, 0);
  t.equal(podTables('iptables-legacy-save'), '', 'nothing left');
  t.same(dial(POD, PEER_IP, 8080), { ns: 'peer', port: 8080, orig: `${PEER_IP}:8080` });
});

t.test('golden configurations are accepted by the kernel, re-apply cleanly and clean up to nothing', async (t) => {
  // A scratch namespace (lo up, for TPROXY's local route). Cases with group names (java, ftp) are
  // left out: the owner match resolves names on this machine, where those groups need not exist.
  const ns = `tandem-scratch-${id}`;
  sh('ip', ['netns', 'add', ns]);
  t.teardown(() => void spawnSync('ip', ['netns', 'del', ns]));
  inNs(ns, ['ip', 'link', 'set', 'lo', 'up']);
  const cases: Record<string, string[]> = {
    tproxy: ['-m', 'TPROXY', '-b', '*', '-x', '1.1.0.0/16', '-i', '9.9.0.0/16', '--redirect-dns', '--dns-servers-v4', '127.0.0.53', '-c', 'not-istio-nic', '--ipv6'],
    'dns-uid-gid': ['--redirect-dns', '--dns-servers-v4', '127.0.0.53', '--dns-servers-v6', '::127.0.0.53', '-g', '1,2', '-u', '3,4', '--ipv6'],
    'ipv6-uid-gid': ['-b', '4000,5000', '-d', '6000,7000', '-k', 'eth0,eth1', '-g', '1,2', '-u', '3,4', '-x', '2001:db8::/32', '-i', '2001:db8::/32', '--ipv6'],
    'drop-invalid': ['--drop-invalid'],
    'kube-virt-interfaces': ['-k', 'eth1,eth2', '-i', '*'],
    'outbound-owner-groups-exclude (numeric)': ['--owner-groups-exclude', '888,999'],
  };
  const inScratch = (args: string[]) => tandemIptables(args, {}, ['ip', 'netns', 'exec', ns]);
  const save = () => inNs(ns, ['iptables-save']) + inNs(ns, ['ip6tables-save']);
  for (const [name, args] of Object.entries(cases)) {
    const first = inScratch(args);
    t.equal(first.status, 0, `${name}: applied (${first.stderr.trim()})`);
    const state = save().replace(/^#.*$/gm, '').replace(/\[\d+:\d+\]/g, '');
    t.match(state, /ISTIO_OUTPUT/, `${name}: rules present`);
    t.equal(inScratch(args).status, 0, `${name}: re-applied`);
    t.equal(save().replace(/^#.*$/gm, '').replace(/\[\d+:\d+\]/g, ''), state, `${name}: same tables after re-apply`);
    const clean = inScratch(['--cleanup', ...args]);
    t.equal(clean.status, 0, `${name}: cleaned (${clean.stderr.trim()})`);
    t.notMatch(save(), /ISTIO_|not-istio-nic|eth1|CONNMARK|--set-mark/, `${name}: nothing of ours left`);
  }
});

