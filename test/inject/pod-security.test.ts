import t from 'tap';
import { CONTROLS, restrictedViolations, type Control } from '../../inject/pod-security.js';

/**
 * The restricted-profile checker: a hand-written compliant pod passes, and for every control a
 * pod that breaks only that control is refused by that control alone (so each rule can fire).
 */

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- test fixtures poke arbitrary fields

function compliant(): Obj {
  const sc = () => ({ allowPrivilegeEscalation: false, runAsNonRoot: true, runAsUser: 1000, capabilities: { drop: ['ALL'] }, seccompProfile: { type: 'RuntimeDefault' } });
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'ok', annotations: { [`container.apparmor.security.beta.kubernetes.io/app`]: 'runtime/default' } },
    spec: {
      securityContext: { sysctls: [{ name: 'net.ipv4.ip_local_port_range', value: '1024 65535' }], seLinuxOptions: { type: 'container_t' } },
      initContainers: [{ name: 'init', image: 'i', securityContext: sc() }],
      containers: [{
        name: 'app', image: 'a', ports: [{ containerPort: 8080, hostPort: 0 }],
        readinessProbe: { httpGet: { path: '/', port: 8080 } },
        securityContext: { ...sc(), capabilities: { drop: ['ALL'], add: ['NET_BIND_SERVICE'] }, procMount: 'Default' },
      }],
      volumes: [
        { name: 'c', configMap: { name: 'x' } }, { name: 'e', emptyDir: {} }, { name: 'p', projected: { sources: [] } }, { name: 's', secret: { secretName: 'x' } },
        { name: 'd', downwardAPI: { items: [] } }, { name: 'v', persistentVolumeClaim: { claimName: 'x' } }, { name: 'i', csi: { driver: 'x' } }, { name: 'f', ephemeral: {} },
      ],
    },
  };
}

const BREAKS: Record<Control, (p: Obj) => void> = {
  'host-process': (p) => (p.spec.containers[0].securityContext.windowsOptions = { hostProcess: true }),
  'host-namespaces': (p) => (p.spec.hostPID = true),
  privileged: (p) => (p.spec.initContainers[0].securityContext.privileged = true),
  'capabilities-baseline': (p) => (p.spec.containers[0].securityContext.capabilities.add = ['SYS_ADMIN']),
  'host-path-volumes': (p) => p.spec.volumes.push({ name: 'h', hostPath: { path: '/' } }),
  'host-ports': (p) => (p.spec.containers[0].ports[0].hostPort = 80),
  apparmor: (p) => (p.metadata.annotations['container.apparmor.security.beta.kubernetes.io/app'] = 'unconfined'),
  selinux: (p) => (p.spec.securityContext.seLinuxOptions = { type: 'spc_t' }),
  'proc-mount': (p) => (p.spec.containers[0].securityContext.procMount = 'Unmasked'),
  'seccomp-baseline': (p) => (p.spec.securityContext.seccompProfile = { type: 'Unconfined' }),
  sysctls: (p) => p.spec.securityContext.sysctls.push({ name: 'kernel.msgmax', value: '1' }),
  'host-probes-lifecycle': (p) => (p.spec.containers[0].readinessProbe.httpGet.host = '10.0.0.1'),
  'volume-types': (p) => p.spec.volumes.push({ name: 'n', nfs: { server: 'x', path: '/' } }),
  'privilege-escalation': (p) => delete p.spec.initContainers[0].securityContext.allowPrivilegeEscalation,
  'run-as-non-root': (p) => delete p.spec.initContainers[0].securityContext.runAsNonRoot,
  'run-as-user': (p) => (p.spec.containers[0].securityContext.runAsUser = 0),
  'seccomp-restricted': (p) => delete p.spec.initContainers[0].securityContext.seccompProfile,
  'capabilities-restricted': (p) => (p.spec.containers[0].securityContext.capabilities.drop = ['NET_RAW']),
};

/** A baseline violation the restricted profile's stricter control necessarily refuses too. */
const IMPLIED: Partial<Record<Control, Control[]>> = {
  'capabilities-baseline': ['capabilities-restricted'],
  'host-path-volumes': ['volume-types'],
};

t.test('a compliant pod passes', async (t) => {
  t.same(restrictedViolations(compliant()), []);
});

t.test('every control fires on a pod breaking only it, naming the field', async (t) => {
  t.same(Object.keys(BREAKS).sort(), [...CONTROLS].sort(), 'one breaking pod per control');
  for (const control of CONTROLS) {
    const p = compliant();
    BREAKS[control](p);
    const v = restrictedViolations(p);
    const controls = [...new Set(v.map((x) => x.control))];
    t.same(controls.sort(), [control, ...(IMPLIED[control] ?? [])].sort(), control);
    t.ok(v.every((x) => x.field.startsWith('spec.') || x.field.startsWith('metadata.')), `${control}: names a field (${v.map((x) => x.field).join(', ')})`);
  }
});

t.test('finer points of the rules', async (t) => {
  const ids = (p: Obj) => restrictedViolations(p).map((v) => `${v.control} ${v.field}`);
  let p = compliant();
  // Pod-level settings stand in for containers that set nothing.
  for (const c of [...p.spec.initContainers, ...p.spec.containers]) {
    delete c.securityContext.runAsNonRoot;
    delete c.securityContext.seccompProfile;
  }
  p.spec.securityContext.runAsNonRoot = true;
  p.spec.securityContext.seccompProfile = { type: 'Localhost', localhostProfile: 'x.json' };
  t.same(ids(p), [], 'pod-level runAsNonRoot and seccomp cover the containers');
  p.spec.containers[0].securityContext.runAsNonRoot = false;
  t.same(ids(p), ['run-as-non-root spec.containers[0].securityContext.runAsNonRoot'], 'a container may not undo runAsNonRoot');
  p = compliant();
  p.spec.ephemeralContainers = [{ name: 'debug', image: 'd' }];
  t.same([...new Set(restrictedViolations(p).map((v) => v.control))].sort(), ['capabilities-restricted', 'privilege-escalation', 'run-as-non-root', 'seccomp-restricted'], 'ephemeral containers are checked');
  p = compliant();
  p.spec.securityContext.runAsUser = 0;
  p.spec.securityContext.runAsNonRoot = false;
  t.same(ids(p).sort(), ['run-as-non-root spec.securityContext.runAsNonRoot', 'run-as-user spec.securityContext.runAsUser']);
  p = compliant();
  p.spec.os = { name: 'windows' };
  for (const c of p.spec.containers) c.securityContext = { runAsNonRoot: true };
  t.same(ids(p), [], 'Windows pods are exempt from the Linux-only restricted controls');
  p = compliant();
  p.spec.containers[0].lifecycle = { preStop: { tcpSocket: { port: 1, host: 'evil' } } };
  t.same(ids(p), ['host-probes-lifecycle spec.containers[0].lifecycle.preStop.tcpSocket.host']);
  p = compliant();
  p.spec.containers[0].securityContext.appArmorProfile = { type: 'Unconfined' };
  t.same(ids(p), ['apparmor spec.containers[0].securityContext.appArmorProfile.type']);
  p = compliant();
  p.spec.securityContext.seLinuxOptions = { user: 'system_u' };
  t.same(ids(p), ['selinux spec.securityContext.seLinuxOptions.user']);
});
