import { readFileSync, readdirSync } from 'node:fs';
import t from 'tap';
import { captureConfig } from '../../../init-cni/cni/capture.js';
import { podInfoFromObject } from '../../../init-cni/cni/pod.js';
import { renderRestore } from '../../../init-cni/restore.js';
import { generateRules } from '../../../init-cni/rules.js';
import { conformancePath } from '../../conformance.js';

/**
 * Istio's chained-plugin goldens (test/conformance/istio-cni-plugin, vendored, read-only) against the
 * plugin's pod -> flags -> rules path. The cases are those of Istio's TestIPTablesRuleGeneration
 * (cni/pkg/plugin/plugin_dryrun_test.go): a pod with an app and an istio-proxy container, the given
 * annotations, proxy environment and securityContext. As Istio's test, tables are compared one by one.
 *
 * Not reproduced: status-ports.txt.golden (no Istio test uses it; it is an older rule shape with
 * `-A OUTPUT -p tcp -j ISTIO_OUTPUT` and no 15008 exception, which neither Istio nor tandem write now).
 *
 * One normalisation, on both sides: tandem's generator (shared with `tandem iptables`, whose output
 * must not change) writes a list of excluded ports as one `-m multiport --dports a,b,c` rule where
 * Istio writes one `--dport` rule per port — the same packets match. The comparison expands such
 * RETURN rules into one rule per port, in order; everything else must be identical.
 */

const dir = conformancePath('istio-cni-plugin');

interface Case {
  annotations?: Record<string, string>;
  env?: Record<string, string>;
  uid?: number;
  gid?: number;
  golden: string;
}

const STATUS = { 'sidecar.istio.io/status': 'true' };
const CASES: Record<string, Case> = {
  basic: { annotations: STATUS, golden: 'basic' },
  'include-exclude-ip': {
    annotations: { ...STATUS, 'traffic.sidecar.istio.io/includeOutboundIPRanges': '127.0.0.0/8', 'traffic.sidecar.istio.io/excludeOutboundIPRanges': '10.0.0.0/8' },
    golden: 'include-exclude-ip',
  },
  'include-exclude-ports': {
    annotations: {
      ...STATUS,
      'traffic.sidecar.istio.io/includeInboundPorts': '1111,2222',
      'traffic.sidecar.istio.io/excludeInboundPorts': '3333,4444',
      'traffic.sidecar.istio.io/excludeOutboundPorts': '5555,6666',
    },
    golden: 'include-exclude-ports',
  },
  tproxy: { annotations: { ...STATUS, 'sidecar.istio.io/interceptionMode': 'TPROXY' }, golden: 'tproxy' },
  DNS: { annotations: STATUS, env: { ISTIO_META_DNS_CAPTURE: 'true' }, golden: 'dns' },
  'invalid-drop': { annotations: STATUS, env: { INVALID_DROP: 'true' }, golden: 'invalid-drop' },
  'custom-uid': { annotations: STATUS, uid: 1000670000, gid: 1000670001, golden: 'custom-uid' },
  'custom-uid-zero': { annotations: STATUS, uid: 0, golden: 'basic' },
  'custom-uid-tproxy': { annotations: { ...STATUS, 'sidecar.istio.io/interceptionMode': 'TPROXY' }, uid: 1000670000, gid: 1000670001, golden: 'custom-uid-tproxy' },
};

function pod(c: Case): unknown {
  const securityContext: Record<string, number> = {};
  if (c.uid !== undefined) securityContext.runAsUser = c.uid;
  if (c.gid !== undefined) securityContext.runAsGroup = c.gid;
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'alpine', namespace: 'testNS', annotations: c.annotations ?? {} },
    spec: {
      containers: [
        { name: 'test', image: 'alpine' },
        { name: 'istio-proxy', image: 'proxy', env: Object.entries(c.env ?? {}).map(([name, value]) => ({ name, value })), securityContext },
      ],
    },
  };
}

const MULTIPORT_RETURN = /^(-A \S+) -p (tcp|udp) -m multiport --dports (\S+) -j RETURN$/;

/**
 * Istio's per-port rules for tandem's multiport RETURN rules: one list gives `--dport P` per port; a
 * tcp list followed by the same udp list (outbound exclusions) gives the tcp/udp pair per port.
 */
function expand(lines: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const m = MULTIPORT_RETURN.exec(lines[i] as string);
    if (!m) {
      out.push(lines[i] as string);
      continue;
    }
    const [, head, proto, list] = m as unknown as [string, string, string, string];
    const next = MULTIPORT_RETURN.exec(lines[i + 1] ?? '');
    const pair = proto === 'tcp' && next?.[1] === head && next[2] === 'udp' && next[3] === list;
    for (const p of list.split(',')) {
      out.push(`${head} -p ${proto} --dport ${p} -j RETURN`);
      if (pair) out.push(`${head} -p udp --dport ${p} -j RETURN`);
    }
    if (pair) i++;
  }
  return out;
}

/** A restore text as table -> lines, blank lines and `iptables-save` echo lines dropped (Istio's getRules). */
function tables(text: string, expandMultiport: boolean): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  let current: string[] | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line === 'iptables-save' || line === 'ip6tables-save') continue;
    if (line.startsWith('* ')) {
      current = out[line.slice(2)] = [];
      continue;
    }
    if (current && line !== 'COMMIT') current.push(line);
  }
  if (expandMultiport) for (const k of Object.keys(out)) out[k] = expand(out[k] ?? []);
  return out;
}

function generated(c: Case): Record<string, string[]> {
  const rules = generateRules(captureConfig(podInfoFromObject(pod(c)), ['10.244.0.7']));
  return tables(renderRestore(rules.v4), true);
}

t.test('every golden file is used or listed as not applicable', async (t) => {
  const files = readdirSync(dir).filter((f) => f.endsWith('.txt.golden')).map((f) => f.slice(0, -'.txt.golden'.length));
  const used = new Set(Object.values(CASES).map((c) => c.golden));
  t.same(files.filter((f) => !used.has(f)), ['status-ports']);
});

for (const [name, c] of Object.entries(CASES)) {
  t.test(`istio-cni golden ${name}`, async (t) => {
    const want = tables(readFileSync(`${dir}/${c.golden}.txt.golden`, 'utf8'), false);
    t.ok(Object.keys(want).length > 0 && (want.nat?.length ?? 0) > 10, 'the golden has a nat table');
    t.same(generated(c), want);
  });
}

t.test('the comparison can fail', async (t) => {
  const want = tables(readFileSync(`${dir}/basic.txt.golden`, 'utf8'), false);
  t.notSame(generated({ annotations: { ...STATUS, 'traffic.sidecar.istio.io/excludeInboundPorts': '8080' }, golden: 'basic' }), want, 'an extra excluded port shows');
  t.notSame(generated({ annotations: STATUS, uid: 1001, golden: 'basic' }), want, 'a custom uid shows');
  // Without the expansion the multiport rule does not match Istio's per-port rules: the normalisation is needed, and only it.
  const raw = tables(renderRestore(generateRules(captureConfig(podInfoFromObject(pod(CASES.basic as Case)), ['10.244.0.7'])).v4), false);
  t.notSame(raw, want);
  t.same(raw.nat?.filter((l) => !l.includes('multiport')), want.nat?.filter((l) => !/--dport 150(20|21|90) -j RETURN$/.test(l) || l.includes('OUTPUT')));
});
