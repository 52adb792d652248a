import type { CaptureSettings } from './capture.js';
import { STATUS_PORT } from './capture.js';
import { INTERCEPTION_MODE_ANNOTATION, REROUTE_VIRTUAL_INTERFACES, TRAFFIC } from './labels.js';

/**
 * CNI mode (injector config `cni: true`, Istio's istio_cni.enabled): the node's chained tandem-cni
 * plugin writes the capture rules from the pod's annotations, so the injector writes onto the pod
 * the capture settings istio-init would have received as flags. Pure.
 */

/** The init container CNI mode injects instead of istio-init (Istio's name). */
export const VALIDATION_CONTAINER = 'istio-validation';

function list(value: string): string[] {
  return value.split(',').map((x) => x.trim()).filter((x) => x !== '');
}

/** Istio's excludeInboundPort: the status port appended to the excluded inbound ports unless already there. */
export function withStatusPortExcluded(excludeInboundPorts: string): string {
  const ports = list(excludeInboundPorts);
  return ports.includes(STATUS_PORT) ? ports.join(',') : [...ports, STATUS_PORT].join(',');
}

/**
 * The annotations the plugin reads, as Istio's injection template writes them in CNI mode: the
 * interception mode and excluded inbound ports always; the IP ranges, inbound ports and outbound
 * ports when set (by the pod or the injector's defaults); virtual interfaces when set. `settings`
 * are the injector's defaults overlaid with the pod's own annotations (captureSettings), so a
 * pod's annotation is written back unchanged in meaning.
 */
export function cniAnnotations(settings: CaptureSettings, podAnnotations: Readonly<Record<string, string>>): Record<string, string> {
  const out: Record<string, string> = { [INTERCEPTION_MODE_ANNOTATION]: settings.interceptionMode };
  const ifSet = (key: string, value: string): void => {
    if (value.trim() !== '') out[key] = value.trim();
  };
  ifSet(TRAFFIC.includeOutboundIPRanges, settings.includeOutboundIPRanges);
  ifSet(TRAFFIC.excludeOutboundIPRanges, settings.excludeOutboundIPRanges);
  ifSet(TRAFFIC.includeInboundPorts, settings.includeInboundPorts);
  out[TRAFFIC.excludeInboundPorts] = withStatusPortExcluded(settings.excludeInboundPorts);
  // Istio writes these when the pod set them, even empty (an explicit "none" over a default).
  if (TRAFFIC.includeOutboundPorts in podAnnotations || settings.includeOutboundPorts.trim() !== '') out[TRAFFIC.includeOutboundPorts] = settings.includeOutboundPorts.trim();
  if (TRAFFIC.excludeOutboundPorts in podAnnotations || settings.excludeOutboundPorts.trim() !== '') out[TRAFFIC.excludeOutboundPorts] = settings.excludeOutboundPorts.trim();
  // The plugin prefers the newer name; a pod's own reroute annotation stays as it is.
  if (!(REROUTE_VIRTUAL_INTERFACES in podAnnotations)) ifSet(TRAFFIC.kubevirtInterfaces, settings.kubevirtInterfaces);
  return out;
}
