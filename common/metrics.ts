import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

/**
 * tandem's Prometheus metrics, in one registry served on the monitoring port
 * (common/monitoring.ts). Recording sits on the admission and push hot paths: a
 * record is a few hundred nanoseconds (prom-client's own label hashing; caching
 * labelled children measured slower), against admissions of about a millisecond.
 */

export type AdmissionResult = 'injected' | 'skipped' | 'refused' | 'error';

/**
 * Admission latency buckets, in seconds. Admissions take around a millisecond
 * and the apiserver gives up at 10 s, so the buckets are dense below 100 ms and
 * end at the timeout.
 */
export const ADMISSION_DURATION_BUCKETS: readonly number[] = [
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];

/**
 * Distinct `reason` (and xDS `type`) label values kept before further ones are
 * folded into "other": every distinct value is a time series forever, so a
 * caller that passes free text by mistake must not be able to exhaust memory.
 */
export const MAX_LABEL_VALUES = 64;
export const OVERFLOW_LABEL = 'other';

const XDS_SHORT_NAMES: ReadonlyMap<string, string> = new Map([
  ['envoy.config.cluster.v3.Cluster', 'cds'],
  ['envoy.config.endpoint.v3.ClusterLoadAssignment', 'eds'],
  ['envoy.config.listener.v3.Listener', 'lds'],
  ['envoy.config.route.v3.RouteConfiguration', 'rds'],
  ['envoy.config.route.v3.ScopedRouteConfiguration', 'srds'],
  ['envoy.config.route.v3.VirtualHost', 'vhds'],
  ['envoy.extensions.transport_sockets.tls.v3.Secret', 'sds'],
  ['envoy.service.runtime.v3.Runtime', 'rtds'],
]);

/**
 * The `type` label for an xDS resource type: Istio's short names (cds, eds, lds,
 * rds, sds…) for Envoy type URLs; a short name passes through unchanged.
 */
export function xdsTypeLabel(type: string): string {
  const slash = type.lastIndexOf('/');
  const name = slash >= 0 ? type.slice(slash + 1) : type;
  return XDS_SHORT_NAMES.get(name) ?? name;
}

export interface MetricsOptions {
  /** Also export prom-client's default process and Node.js metrics (default true). */
  processMetrics?: boolean;
}

/** One set of tandem metrics in its own registry. Most code wants the process-wide {@link getMetrics}. */
export class TandemMetrics {
  readonly registry: Registry;
  readonly contentType: string;

  private readonly admissions: Counter<'result' | 'reason'>;
  private readonly admissionDuration: Histogram;
  private readonly renderErrors: Counter;
  private readonly xdsStreams: Gauge;
  private readonly xdsPushes: Counter<'type'>;
  private readonly xdsNacks: Counter<'type'>;
  private readonly certExpiry: Gauge<'file'>;
  private readonly configRejected: Counter<'kind'>;

  private readonly admissionReasons = new Set<string>();
  private readonly xdsTypes = new Set<string>();
  /** Type URL (or short name) -> label, so the hot path does no string work. */
  private readonly typeLabels = new Map<string, string>();

  constructor(options: MetricsOptions = {}) {
    this.registry = new Registry();
    this.contentType = this.registry.contentType;
    const registers = [this.registry];

    this.admissions = new Counter({
      name: 'tandem_admissions_total',
      help: 'Admission requests answered, by result (injected, skipped, refused, error) and the rule or reason that decided.',
      labelNames: ['result', 'reason'] as const,
      registers,
    });
    this.admissionDuration = new Histogram({
      name: 'tandem_admission_duration_seconds',
      help: 'Time from receiving an admission request to sending its answer.',
      buckets: [...ADMISSION_DURATION_BUCKETS],
      registers,
    });
    this.renderErrors = new Counter({
      name: 'tandem_template_render_errors_total',
      help: 'Injection templates that failed to render.',
      registers,
    });
    this.xdsStreams = new Gauge({
      name: 'tandem_xds_connected_streams',
      help: 'xDS (ADS) streams currently open.',
      registers,
    });
    this.xdsPushes = new Counter({
      name: 'tandem_xds_pushes_total',
      help: 'xDS responses sent, by resource type (cds, eds, lds, rds, ...).',
      labelNames: ['type'] as const,
      registers,
    });
    this.xdsNacks = new Counter({
      name: 'tandem_xds_nacks_total',
      help: 'xDS responses rejected by a client (NACK), by resource type.',
      labelNames: ['type'] as const,
      registers,
    });
    this.certExpiry = new Gauge({
      name: 'tandem_cert_expiry_timestamp_seconds',
      help: 'When a loaded certificate expires (notAfter), in seconds since the Unix epoch, by file.',
      labelNames: ['file'] as const,
      registers,
    });

    this.configRejected = new Counter({
      name: 'tandem_config_rejected_total',
      help: 'Istio config objects refused by validation (the last good version stays in force), by kind.',
      labelNames: ['kind'] as const,
      registers,
    });

    if (options.processMetrics ?? true) collectDefaultMetrics({ register: this.registry });
  }

  /** Counts one answered admission and, when given, observes its duration in seconds. */
  recordAdmission(result: AdmissionResult, reason: string, durationSeconds?: number): void {
    this.admissions.inc({ result, reason: bounded(this.admissionReasons, reason) });
    if (durationSeconds !== undefined) this.admissionDuration.observe(durationSeconds);
  }

  /** Observes one admission's duration, in seconds, without counting it. */
  observeAdmissionDuration(seconds: number): void {
    this.admissionDuration.observe(seconds);
  }

  /** Starts timing an admission; the returned function records it and returns the elapsed seconds. */
  startAdmission(): (result: AdmissionResult, reason: string) => number {
    const start = process.hrtime.bigint();
    return (result, reason) => {
      const seconds = Number(process.hrtime.bigint() - start) / 1e9;
      this.recordAdmission(result, reason, seconds);
      return seconds;
    };
  }

  recordTemplateRenderError(): void {
    this.renderErrors.inc();
  }

  xdsStreamOpened(): void {
    this.xdsStreams.inc();
  }

  xdsStreamClosed(): void {
    this.xdsStreams.dec();
  }

  setXdsConnectedStreams(count: number): void {
    this.xdsStreams.set(count);
  }

  /** Counts xDS responses sent; `type` is an Envoy type URL or a short name (cds, eds, ...). */
  recordXdsPush(type: string, count = 1): void {
    this.xdsPushes.inc({ type: this.typeLabel(type) }, count);
  }

  /** Counts one NACK; `type` is an Envoy type URL or a short name. */
  recordXdsNack(type: string): void {
    this.xdsNacks.inc({ type: this.typeLabel(type) });
  }

  /** Records a certificate's notAfter (a Date, or milliseconds since the epoch) for the file it came from. */
  setCertExpiry(file: string, notAfter: Date | number): void {
    const ms = typeof notAfter === 'number' ? notAfter : notAfter.getTime();
    this.certExpiry.labels(file).set(Math.floor(ms / 1000));
  }

  /** Forgets a certificate file that is no longer loaded. */
  clearCertExpiry(file: string): void {
    this.certExpiry.remove(file);
  }

  /** Counts one refused Istio config object; `kind` is one of config/model.ts's CONFIG_KINDS (a bounded set). */
  recordConfigRejected(kind: string): void {
    this.configRejected.inc({ kind });
  }

  /** The Prometheus text exposition of every metric in this registry. */
  render(): Promise<string> {
    return this.registry.metrics();
  }

  private typeLabel(type: string): string {
    const known = this.typeLabels.get(type);
    if (known !== undefined) return known;
    const label = bounded(this.xdsTypes, xdsTypeLabel(type));
    // Overflowing values are not remembered, so the map stays bounded too.
    if (label !== OVERFLOW_LABEL) this.typeLabels.set(type, label);
    return label;
  }
}

/** `value` if it is known or there is room to remember it, else {@link OVERFLOW_LABEL}. */
function bounded(seen: Set<string>, value: string): string {
  if (seen.has(value)) return value;
  if (seen.size >= MAX_LABEL_VALUES) return OVERFLOW_LABEL;
  seen.add(value);
  return value;
}

let processMetrics: TandemMetrics | undefined;

/** The process-wide metrics, created on first use (so commands that never record pay nothing). */
export function getMetrics(): TandemMetrics {
  processMetrics ??= new TandemMetrics();
  return processMetrics;
}
