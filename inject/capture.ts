import { isIP } from 'node:net';
import { UserError } from '../common/errors.js';
import type { CaptureDefaults, InterceptionMode } from './config.js';
import { INTERCEPTION_MODE_ANNOTATION, REROUTE_VIRTUAL_INTERFACES, TRAFFIC } from './labels.js';
import { isPort } from '../common/names.js';

/**
 * The capture settings of one pod (injector defaults, then the pod's
 * traffic.sidecar.istio.io/* annotations) and the `tandem iptables` flags they
 * become. Ports the proxy itself serves are always excluded inbound, as Istio does.
 */
export const PROXY_OWN_INBOUND_PORTS = ['15090', '15021'] as const;
export const STATUS_PORT = '15020';

export interface CaptureSettings extends CaptureDefaults {}

const MODES: readonly InterceptionMode[] = ['REDIRECT', 'TPROXY', 'NONE'];

function isCidr(s: string): boolean {
  const slash = s.indexOf('/');
  if (slash < 0) return false;
  const ip = s.slice(0, slash);
  const bits = s.slice(slash + 1);
  const family = isIP(ip);
  if (family === 0 || !/^\d{1,3}$/.test(bits)) return false;
  return Number(bits) <= (family === 4 ? 32 : 128);
}

function list(value: string): string[] {
  return value.split(',').map((x) => x.trim()).filter((x) => x !== '');
}

type Check = (value: string) => string | undefined;

const cidrList = (allowStar: boolean): Check => (value) => {
  if (allowStar && value.trim() === '*') return undefined;
  const bad = list(value).find((c) => !isCidr(c));
  return bad === undefined ? undefined : `"${bad}" is not a CIDR${allowStar ? ' (expected "*" or a comma-separated list of CIDRs)' : ' (expected a comma-separated list of CIDRs)'}`;
};
const portList = (allowStar: boolean): Check => (value) => {
  if (allowStar && value.trim() === '*') return undefined;
  const bad = list(value).find((p) => !isPort(p));
  return bad === undefined ? undefined : `"${bad}" is not a port${allowStar ? ' (expected "*" or a comma-separated list of ports 1-65535)' : ' (expected a comma-separated list of ports 1-65535)'}`;
};
const interfaces: Check = (value) => {
  const bad = list(value).find((i) => !/^[A-Za-z0-9_.:@-]{1,15}$/.test(i));
  return bad === undefined ? undefined : `"${bad}" is not a network interface name`;
};
const mode: Check = (value) => (MODES.includes(value as InterceptionMode) ? undefined : `"${value}" is not one of ${MODES.join(', ')}`);

const CHECKS: Record<keyof CaptureDefaults, Check> = {
  interceptionMode: mode,
  includeOutboundIPRanges: cidrList(true),
  excludeOutboundIPRanges: cidrList(false),
  includeInboundPorts: portList(true),
  excludeInboundPorts: portList(false),
  includeOutboundPorts: portList(false),
  excludeOutboundPorts: portList(false),
  kubevirtInterfaces: interfaces,
};

const ANNOTATION_OF: Record<keyof CaptureDefaults, string> = { interceptionMode: INTERCEPTION_MODE_ANNOTATION, ...TRAFFIC };

/** Validates injector-config capture defaults (startup). */
export function validateCaptureDefaults(c: CaptureDefaults, source: string): void {
  for (const k of Object.keys(CHECKS) as Array<keyof CaptureDefaults>) {
    const problem = CHECKS[k](c[k]);
    if (problem) throw new UserError(`${source}: capture.${k}: ${problem}`);
  }
}

/** Defaults overlaid with the pod's annotations; an invalid annotation is a UserError naming it and its value. */
export function captureSettings(defaults: CaptureDefaults, annotations: Record<string, string> | undefined): CaptureSettings {
  const out: CaptureSettings = { ...defaults };
  if (!annotations) return out;
  // The newer name of kubevirtInterfaces; Istio prefers it when both are set.
  const reroute = annotations[REROUTE_VIRTUAL_INTERFACES];
  if (reroute !== undefined) {
    const problem = interfaces(reroute);
    if (problem) throw new UserError(`invalid annotation ${REROUTE_VIRTUAL_INTERFACES}="${reroute}": ${problem}`);
  }
  for (const k of Object.keys(ANNOTATION_OF) as Array<keyof CaptureDefaults>) {
    const key = ANNOTATION_OF[k];
    const raw = annotations[key];
    if (raw === undefined) continue;
    const problem = CHECKS[k](raw);
    if (problem) throw new UserError(`invalid annotation ${key}="${raw}": ${problem}`);
    (out as unknown as Record<string, string>)[k] = k === 'interceptionMode' ? raw : raw.trim();
  }
  if (reroute !== undefined) out.kubevirtInterfaces = reroute.trim();
  return out;
}

/** The arguments after `iptables`, in istio-iptables flag style and order. */
export function iptablesArgs(c: CaptureSettings, proxyUid: number, proxyGid?: number): string[] {
  const excludeInbound = [...PROXY_OWN_INBOUND_PORTS, ...list(c.excludeInboundPorts), STATUS_PORT];
  const args = [
    '-p', '15001',
    '-z', '15006',
    '-u', String(proxyUid),
    '-m', c.interceptionMode,
    '-i', normaliseStarList(c.includeOutboundIPRanges),
    '-x', list(c.excludeOutboundIPRanges).join(','),
    '-b', normaliseStarList(c.includeInboundPorts),
    '-d', excludeInbound.join(','),
  ];
  if (proxyGid !== undefined && proxyGid !== proxyUid) args.push('-g', String(proxyGid));
  if (c.excludeOutboundPorts.trim() !== '') args.push('-o', list(c.excludeOutboundPorts).join(','));
  if (c.includeOutboundPorts.trim() !== '') args.push('-q', list(c.includeOutboundPorts).join(','));
  if (c.kubevirtInterfaces.trim() !== '') args.push('-k', list(c.kubevirtInterfaces).join(','));
  return args;
}

function normaliseStarList(v: string): string {
  return v.trim() === '*' ? '*' : list(v).join(',');
}
