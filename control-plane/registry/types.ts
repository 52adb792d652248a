/**
 * The service registry as the control plane sees it: plain data, already resolved
 * (each service port carries the endpoints that serve it), so that translation to
 * Envoy resources stays a pure function of one snapshot.
 */
export type PortProtocol = 'HTTP' | 'HTTP2' | 'GRPC' | 'TCP';

export const PORT_PROTOCOLS: readonly PortProtocol[] = ['HTTP', 'HTTP2', 'GRPC', 'TCP'];

export interface Endpoint {
  address: string;
  /** the port the workload listens on for this service port */
  port: number;
  labels: Record<string, string>;
  /** the workload's Kubernetes service account: its mesh identity (mTLS server identity checks) */
  serviceAccount?: string;
}

export interface ServicePort {
  name: string;
  port: number;
  protocol: PortProtocol;
  endpoints: Endpoint[];
}

export interface Service {
  name: string;
  namespace: string;
  /** virtual IPs (Kubernetes ClusterIP); empty for headless or file services */
  addresses: string[];
  ports: ServicePort[];
}

export interface RegistrySnapshot {
  services: Service[];
}

export type Unsubscribe = () => void;

/** Where services come from (a file, Kubernetes); the control plane only reads snapshots. */
export interface ServiceRegistry {
  /** the current services; a new object after every change, never mutated */
  snapshot(): RegistrySnapshot;
  /** called with the new snapshot after each change */
  onChange(listener: (snapshot: RegistrySnapshot) => void): Unsubscribe;
  close(): Promise<void>;
}

export function serviceKey(s: { name: string; namespace: string }): string {
  return `${s.namespace}/${s.name}`;
}

/** Orders services by namespace, then name. */
export function byName<T extends { name: string; namespace: string }>(a: T, b: T): number {
  return a.namespace === b.namespace ? a.name.localeCompare(b.name) : a.namespace.localeCompare(b.namespace);
}

/** Small in-process emitter shared by registry implementations. */
export class SnapshotEmitter {
  private readonly listeners = new Set<(s: RegistrySnapshot) => void>();
  on(listener: (s: RegistrySnapshot) => void): Unsubscribe {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
  emit(s: RegistrySnapshot): void {
    for (const l of [...this.listeners]) l(s);
  }
}

/** A registry whose content is set by code: tests, benchmarks, embedding. */
export class StaticRegistry implements ServiceRegistry {
  private current: RegistrySnapshot;
  private readonly emitter = new SnapshotEmitter();
  constructor(initial: RegistrySnapshot = { services: [] }) {
    this.current = initial;
  }
  snapshot(): RegistrySnapshot {
    return this.current;
  }
  set(next: RegistrySnapshot): void {
    this.current = next;
    this.emitter.emit(next);
  }
  onChange(listener: (s: RegistrySnapshot) => void): Unsubscribe {
    return this.emitter.on(listener);
  }
  async close(): Promise<void> {}
}
