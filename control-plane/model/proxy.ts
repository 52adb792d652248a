/** The workload a view is computed for: where it runs and what labels it carries. */
export interface MeshProxy {
  id?: string;
  namespace: string;
  labels: Readonly<Record<string, string>>;
}
