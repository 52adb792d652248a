#!/usr/bin/env node
// Cold start of the chained CNI plugin (bin/tandem-cni), which a runtime starts on every pod creation:
// VERSION, and an ADD for a pod that is not injected (annotations from the runtime, result passed
// through: the commonest call, and the one with nothing to write), against a bare `node -e 0`
// measured in the same run, interleaved. Also Debian's reference `bridge` VERSION when installed
// (a Go plugin), for scale. The ADD uses /proc/self/ns/net as CNI_NETNS: a pass-through never enters it.
// Usage: npm run build && node bench/cni.mjs [repetitions=30]
import { existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { median, printAgainst, timeInterleaved } from './stats.mjs';

const repo = fileURLToPath(new URL('../', import.meta.url));
const reps = Number(process.argv[2] ?? 30);
const plugin = `${repo}bin/tandem-cni`;
const PATH = process.env.PATH ?? '/usr/bin:/bin';

const addEnv = {
  PATH,
  CNI_COMMAND: 'ADD',
  CNI_CONTAINERID: 'bench',
  CNI_NETNS: '/proc/self/ns/net',
  CNI_IFNAME: 'eth0',
  CNI_PATH: '/usr/lib/cni',
  CNI_ARGS: 'IgnoreUnknown=1;K8S_POD_NAMESPACE=shop;K8S_POD_NAME=web-0',
};
const addStdin = JSON.stringify({
  cniVersion: '1.0.0',
  name: 'k8s-pod-network',
  type: 'tandem-cni',
  exclude_namespaces: ['kube-system'],
  log_file: '/dev/null',
  runtimeConfig: { 'io.kubernetes.cri.pod-annotations': { 'kubernetes.io/config.source': 'api' } },
  prevResult: { cniVersion: '1.0.0', interfaces: [{ name: 'eth0', sandbox: '/proc/self/ns/net' }], ips: [{ address: '10.1.0.5/24', gateway: '10.1.0.1', interface: 0 }], dns: {} },
});

const subjects = {
  'node -e 0': () => spawnSync(process.execPath, ['-e', '0'], { env: { PATH } }),
  'tandem-cni VERSION': () => spawnSync(process.execPath, [plugin], { env: { PATH, CNI_COMMAND: 'VERSION' } }),
  'tandem-cni ADD pass-through': () => spawnSync(process.execPath, [plugin], { env: addEnv, input: addStdin }),
  ...(existsSync('/usr/lib/cni/bridge') ? { 'bridge VERSION (Go)': () => spawnSync('/usr/lib/cni/bridge', [], { env: { PATH, CNI_COMMAND: 'VERSION' } }) } : {}),
};

const check = subjects['tandem-cni ADD pass-through']();
if (check.status !== 0 || !String(check.stdout).includes('10.1.0.5/24')) {
  console.error(`tandem-cni ADD failed (did you run npm run build?): ${check.stdout}${check.stderr}`);
  process.exit(1);
}

const times = timeInterleaved(subjects, reps);
const base = printAgainst(times, 'node -e 0', reps, 30);
for (const name of ['tandem-cni VERSION', 'tandem-cni ADD pass-through']) {
  console.log(`${name} / node -e 0: ${(median(times[name]) / base).toFixed(2)}x (target <= 1.30x)`);
}
