import { isObject } from '../common/objects.js';

/**
 * Pod Security Standards, the `restricted` profile (which includes every `baseline` control), as
 * a pure check of a pod's spec: what a namespace labelled pod-security.kubernetes.io/enforce:
 * restricted refuses. Rules and allowed values follow the Kubernetes documentation's profile
 * tables (latest version); each violation names its control and the field.
 */

export type Control =
  // baseline
  | 'host-process' | 'host-namespaces' | 'privileged' | 'capabilities-baseline' | 'host-path-volumes' | 'host-ports'
  | 'apparmor' | 'selinux' | 'proc-mount' | 'seccomp-baseline' | 'sysctls' | 'host-probes-lifecycle'
  // restricted
  | 'volume-types' | 'privilege-escalation' | 'run-as-non-root' | 'run-as-user' | 'seccomp-restricted' | 'capabilities-restricted';

export const CONTROLS: readonly Control[] = [
  'host-process', 'host-namespaces', 'privileged', 'capabilities-baseline', 'host-path-volumes', 'host-ports',
  'apparmor', 'selinux', 'proc-mount', 'seccomp-baseline', 'sysctls', 'host-probes-lifecycle',
  'volume-types', 'privilege-escalation', 'run-as-non-root', 'run-as-user', 'seccomp-restricted', 'capabilities-restricted',
];

export interface Violation {
  readonly control: Control;
  /** the field, e.g. spec.initContainers[0].securityContext.capabilities.add */
  readonly field: string;
  readonly message: string;
}

const BASELINE_CAPABILITIES = new Set([
  'AUDIT_WRITE', 'CHOWN', 'DAC_OVERRIDE', 'FOWNER', 'FSETID', 'KILL', 'MKNOD', 'NET_BIND_SERVICE', 'SETFCAP', 'SETGID', 'SETPCAP', 'SETUID', 'SYS_CHROOT',
]);
const SAFE_SYSCTLS = new Set([
  'kernel.shm_rmid_forced', 'net.ipv4.ip_local_port_range', 'net.ipv4.ip_unprivileged_port_start', 'net.ipv4.tcp_syncookies',
  'net.ipv4.ping_group_range', 'net.ipv4.ip_local_reserved_ports', 'net.ipv4.tcp_keepalive_time', 'net.ipv4.tcp_fin_timeout',
  'net.ipv4.tcp_keepalive_intvl', 'net.ipv4.tcp_keepalive_probes', 'net.ipv4.tcp_rmem', 'net.ipv4.tcp_wmem',
]);
const SELINUX_TYPES = new Set(['', 'container_t', 'container_init_t', 'container_kvm_t', 'container_engine_t']);
/** Restricted allows only these volume sources (besides the name). */
const RESTRICTED_VOLUME_SOURCES = new Set(['configMap', 'csi', 'downwardAPI', 'emptyDir', 'ephemeral', 'persistentVolumeClaim', 'projected', 'secret']);
const APPARMOR_ANNOTATION = 'container.apparmor.security.beta.kubernetes.io/';

type Obj = Record<string, unknown>;
const obj = (v: unknown): Obj => (isObject(v) ? v : {});
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

interface ContainerAt {
  readonly c: Obj;
  readonly sc: Obj;
  readonly at: string;
}

function containersOf(spec: Obj): ContainerAt[] {
  const out: ContainerAt[] = [];
  for (const key of ['initContainers', 'containers', 'ephemeralContainers']) {
    arr(spec[key]).forEach((c, i) => out.push({ c: obj(c), sc: obj(obj(c).securityContext), at: `spec.${key}[${i}]` }));
  }
  return out;
}

/** Every violation of the restricted profile (empty: the pod is admitted). `pod` is a core/v1 Pod or pod template. */
export function restrictedViolations(pod: unknown): Violation[] {
  const p = obj(pod);
  const spec = obj(p.spec);
  const psc = obj(spec.securityContext);
  const annotations = obj(obj(p.metadata).annotations);
  const containers = containersOf(spec);
  const windows = obj(spec.os).name === 'windows';
  const v: Violation[] = [];
  const add = (control: Control, field: string, message: string): void => {
    v.push({ control, field, message });
  };

  // host-process
  if (obj(psc.windowsOptions).hostProcess === true) add('host-process', 'spec.securityContext.windowsOptions.hostProcess', 'must not be true');
  for (const { sc, at } of containers) if (obj(sc.windowsOptions).hostProcess === true) add('host-process', `${at}.securityContext.windowsOptions.hostProcess`, 'must not be true');
  // host-namespaces
  for (const k of ['hostNetwork', 'hostPID', 'hostIPC']) if (spec[k] === true) add('host-namespaces', `spec.${k}`, 'must not be true');
  // privileged
  for (const { sc, at } of containers) if (sc.privileged === true) add('privileged', `${at}.securityContext.privileged`, 'must not be true');
  // capabilities-baseline
  for (const { sc, at } of containers) {
    for (const cap of arr(obj(sc.capabilities).add)) {
      if (!BASELINE_CAPABILITIES.has(String(cap))) add('capabilities-baseline', `${at}.securityContext.capabilities.add`, `${String(cap)} is not in the baseline's allowed set`);
    }
  }
  // host-path-volumes, volume-types
  arr(spec.volumes).forEach((vol, i) => {
    const sources = Object.keys(obj(vol)).filter((k) => k !== 'name');
    if (sources.includes('hostPath')) add('host-path-volumes', `spec.volumes[${i}].hostPath`, 'hostPath volumes are forbidden');
    for (const s of sources) if (!RESTRICTED_VOLUME_SOURCES.has(s)) add('volume-types', `spec.volumes[${i}].${s}`, `volume type ${s} is not allowed (allowed: ${[...RESTRICTED_VOLUME_SOURCES].join(', ')})`);
  });
  // host-ports
  for (const { c, at } of containers) {
    arr(c.ports).forEach((port, i) => {
      const hp = obj(port).hostPort;
      if (hp !== undefined && hp !== 0) add('host-ports', `${at}.ports[${i}].hostPort`, `must be 0 or unset (got ${String(hp)})`);
    });
  }
  // apparmor
  const apparmorOk = (t: unknown): boolean => t === undefined || t === 'RuntimeDefault' || t === 'Localhost';
  if (!apparmorOk(obj(psc.appArmorProfile).type)) add('apparmor', 'spec.securityContext.appArmorProfile.type', `must be RuntimeDefault or Localhost (got ${String(obj(psc.appArmorProfile).type)})`);
  for (const { sc, at } of containers) {
    const t = obj(sc.appArmorProfile).type;
    if (!apparmorOk(t)) add('apparmor', `${at}.securityContext.appArmorProfile.type`, `must be RuntimeDefault or Localhost (got ${String(t)})`);
  }
  for (const [k, val] of Object.entries(annotations)) {
    if (k.startsWith(APPARMOR_ANNOTATION) && !(val === 'runtime/default' || (typeof val === 'string' && val.startsWith('localhost/')))) {
      add('apparmor', `metadata.annotations['${k}']`, `must be runtime/default or localhost/* (got ${String(val)})`);
    }
  }
  // selinux
  const selinux = (o: unknown, at: string): void => {
    if (o === undefined) return;
    const s = obj(o);
    if (s.type !== undefined && !SELINUX_TYPES.has(String(s.type))) add('selinux', `${at}.type`, `${String(s.type)} is not an allowed SELinux type`);
    for (const k of ['user', 'role']) if (s[k] !== undefined && s[k] !== '') add('selinux', `${at}.${k}`, 'must be unset or empty');
  };
  selinux(psc.seLinuxOptions, 'spec.securityContext.seLinuxOptions');
  for (const { sc, at } of containers) selinux(sc.seLinuxOptions, `${at}.securityContext.seLinuxOptions`);
  // proc-mount
  for (const { sc, at } of containers) if (sc.procMount !== undefined && sc.procMount !== 'Default') add('proc-mount', `${at}.securityContext.procMount`, `must be Default (got ${String(sc.procMount)})`);
  // seccomp-baseline
  if (obj(psc.seccompProfile).type === 'Unconfined') add('seccomp-baseline', 'spec.securityContext.seccompProfile.type', 'must not be Unconfined');
  for (const { sc, at } of containers) if (obj(sc.seccompProfile).type === 'Unconfined') add('seccomp-baseline', `${at}.securityContext.seccompProfile.type`, 'must not be Unconfined');
  // sysctls
  arr(psc.sysctls).forEach((s, i) => {
    const name = String(obj(s).name);
    if (!SAFE_SYSCTLS.has(name)) add('sysctls', `spec.securityContext.sysctls[${i}].name`, `${name} is not a safe sysctl`);
  });
  // host-probes-lifecycle
  for (const { c, at } of containers) {
    const handlers: Array<[string, unknown]> = [
      ['livenessProbe', c.livenessProbe], ['readinessProbe', c.readinessProbe], ['startupProbe', c.startupProbe],
      ['lifecycle.postStart', obj(c.lifecycle).postStart], ['lifecycle.preStop', obj(c.lifecycle).preStop],
    ];
    for (const [where, h] of handlers) {
      for (const kind of ['httpGet', 'tcpSocket']) {
        const host = obj(obj(h)[kind]).host;
        if (host !== undefined && host !== '') add('host-probes-lifecycle', `${at}.${where}.${kind}.host`, `must be unset or empty (got ${String(host)})`);
      }
    }
  }
  // Restricted controls that Windows pods are exempt from are skipped for them, as the profile says.
  for (const { sc, at } of containers) {
    if (!windows && sc.allowPrivilegeEscalation !== false) add('privilege-escalation', `${at}.securityContext.allowPrivilegeEscalation`, 'must be false');
    if (!(sc.runAsNonRoot === true || (sc.runAsNonRoot === undefined && psc.runAsNonRoot === true))) {
      add('run-as-non-root', `${at}.securityContext.runAsNonRoot`, sc.runAsNonRoot === false ? 'must not be false' : 'must be true (here or in spec.securityContext)');
    }
    if (sc.runAsUser === 0) add('run-as-user', `${at}.securityContext.runAsUser`, 'must not be 0');
    const t = obj(sc.seccompProfile).type;
    const podT = obj(psc.seccompProfile).type;
    const seccompOk = t === 'RuntimeDefault' || t === 'Localhost' || (t === undefined && (podT === 'RuntimeDefault' || podT === 'Localhost'));
    if (!windows && !seccompOk) add('seccomp-restricted', `${at}.securityContext.seccompProfile.type`, 'must be RuntimeDefault or Localhost (here or in spec.securityContext)');
    if (!windows) {
      const caps = obj(sc.capabilities);
      if (!arr(caps.drop).includes('ALL')) add('capabilities-restricted', `${at}.securityContext.capabilities.drop`, 'must include ALL');
      for (const cap of arr(caps.add)) if (cap !== 'NET_BIND_SERVICE') add('capabilities-restricted', `${at}.securityContext.capabilities.add`, `only NET_BIND_SERVICE may be added (got ${String(cap)})`);
    }
  }
  if (psc.runAsNonRoot === false) add('run-as-non-root', 'spec.securityContext.runAsNonRoot', 'must not be false');
  if (psc.runAsUser === 0) add('run-as-user', 'spec.securityContext.runAsUser', 'must not be 0');
  return v;
}
