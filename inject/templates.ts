import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { V1Container, V1Volume } from '@kubernetes/client-node';
import { UserError } from '../common/errors.js';
import { SIDECAR_TEMPLATE, compileNamedTemplate, type NamedTemplate } from './named-templates.js';
import { compileTemplate, type TemplateValues } from './template-engine.js';
import { isDns1123Label, isPort } from '../common/names.js';
import { isObject } from '../common/objects.js';

/**
 * The injected containers and volumes as data files. An admin's directory
 * (a mounted ConfigMap: flat, one file per key) overrides files of the same
 * name; missing files fall back to the shipped ones.
 */
export const TEMPLATE_FILES = ['istio-init.yaml', 'istio-validation.yaml', 'istio-proxy.yaml', 'volumes.yaml'] as const;
export type TemplateFile = (typeof TEMPLATE_FILES)[number];

/** Every placeholder a template may use; rendering supplies all of them. */
export const PLACEHOLDERS = [
  'initImage', 'proxyImage', 'imagePullPolicy', 'iptablesArgs', 'initResources', 'proxyResources',
  'proxyUID', 'proxyGID', 'bootstrap', 'proxyLogLevel', 'concurrency', 'revision', 'xdsAddress',
  'clusterId', 'meshId', 'componentLogLevelArgs', 'concurrencyArgs', 'drainArgs', 'proxyLifecycle',
  'workloadCertsVolumes', 'workloadCertsMounts', 'workloadTlsMode', 'grpcBootstrap',
] as const;
export type PlaceholderName = (typeof PLACEHOLDERS)[number];
export type SidecarValues = Readonly<Record<PlaceholderName, unknown>>;

export interface SidecarTemplates {
  init: (v: SidecarValues) => V1Container;
  /** CNI mode's unprivileged check that replaces `init` (Istio's istio-validation). */
  validation: (v: SidecarValues) => V1Container;
  proxy: (v: SidecarValues) => V1Container;
  volumes: (v: SidecarValues) => V1Volume[];
  /** Where each file came from, for logs and errors. */
  sources: Readonly<Record<TemplateFile, string>>;
  /** Other NAME.yaml files: pod overlays selected by inject.istio.io/templates. */
  named: ReadonlyMap<string, NamedTemplate>;
}

/** The shipped templates/ folder, from the sources (inject/) or the build (dist/inject/). */
export function shippedTemplatesDir(): string {
  for (const rel of ['../templates/', '../../templates/']) {
    const dir = fileURLToPath(new URL(rel, import.meta.url));
    if (existsSync(join(dir, 'istio-proxy.yaml'))) return dir;
  }
  throw new Error('shipped templates/ directory not found next to the inject module');
}

export async function loadTemplates(overrideDir?: string): Promise<SidecarTemplates> {
  const shipped = shippedTemplatesDir();
  const sources = {} as Record<TemplateFile, string>;
  for (const f of TEMPLATE_FILES) sources[f] = join(shipped, f);
  const namedSources = new Map<string, string>();
  // Named templates tandem ships (grpc.yaml); an admin's file of the same name replaces one.
  for (const n of (await readdir(shipped)).sort()) {
    if (!n.endsWith('.yaml') || TEMPLATE_FILES.includes(n as TemplateFile)) continue;
    namedSources.set(n.slice(0, -'.yaml'.length), join(shipped, n));
  }
  const fromOverride = new Set<string>();
  if (overrideDir) {
    let names: string[];
    try {
      names = await readdir(overrideDir);
    } catch (err) {
      throw new UserError(`--templates ${overrideDir}: cannot read directory: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
    }
    for (const n of names) {
      // ConfigMap mounts carry ..data and timestamped dot-directories.
      if (n.startsWith('.') || !/\.ya?ml$/.test(n)) continue;
      const canonical = n.replace(/\.yml$/, '.yaml') as TemplateFile;
      if (TEMPLATE_FILES.includes(canonical)) {
        sources[canonical] = join(overrideDir, n);
        continue;
      }
      const name = canonical.replace(/\.yaml$/, '');
      if (name === SIDECAR_TEMPLATE) {
        throw new UserError(`--templates ${overrideDir}: ${n}: the name "sidecar" is the built-in sidecar (override ${TEMPLATE_FILES.join(', ')} instead)`);
      }
      if (fromOverride.has(name)) throw new UserError(`--templates ${overrideDir}: template ${name} is defined twice (.yaml and .yml)`);
      fromOverride.add(name);
      namedSources.set(name, join(overrideDir, n));
    }
  }
  const texts = {} as Record<TemplateFile, string>;
  for (const f of TEMPLATE_FILES) {
    try {
      texts[f] = await readFile(sources[f], 'utf8');
    } catch (err) {
      throw new UserError(`template ${sources[f]}: cannot read: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
    }
  }
  const named: Record<string, { text: string; source: string }> = {};
  for (const [name, source] of [...namedSources].sort(([a], [b]) => a.localeCompare(b))) {
    try {
      named[name] = { text: await readFile(source, 'utf8'), source };
    } catch (err) {
      throw new UserError(`template ${source}: cannot read: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
    }
  }
  return compileSidecarTemplates(texts, sources, named);
}

/** Compiles template texts; validation of the rendered shapes happens in the injector with real values. */
export function compileSidecarTemplates(
  texts: Readonly<Record<TemplateFile, string>>,
  sources: Readonly<Record<TemplateFile, string>>,
  namedTexts: Readonly<Record<string, { text: string; source: string }>> = {},
): SidecarTemplates {
  const known = new Set<string>(PLACEHOLDERS);
  const named = new Map<string, NamedTemplate>();
  for (const [name, { text, source }] of Object.entries(namedTexts)) named.set(name, compileNamedTemplate(name, text, source, known));
  const init = compileTemplate(texts['istio-init.yaml'], sources['istio-init.yaml'], known);
  const validation = compileTemplate(texts['istio-validation.yaml'], sources['istio-validation.yaml'], known);
  const proxy = compileTemplate(texts['istio-proxy.yaml'], sources['istio-proxy.yaml'], known);
  const volumes = compileTemplate(texts['volumes.yaml'], sources['volumes.yaml'], known);
  return {
    init: (v) => init.render(v as TemplateValues) as V1Container,
    validation: (v) => validation.render(v as TemplateValues) as V1Container,
    proxy: (v) => proxy.render(v as TemplateValues) as V1Container,
    volumes: (v) => (volumes.render(v as TemplateValues) ?? []) as V1Volume[],
    sources,
    named,
  };
}

function problemInContainer(c: unknown): string | undefined {
  if (!isObject(c)) return 'must be a mapping (one container)';
  const x = c;
  if (typeof x.name !== 'string' || !isDns1123Label(x.name)) return `name ${JSON.stringify(x.name)} is not a DNS-1123 label`;
  if (typeof x.image !== 'string' || x.image === '') return 'image must be a non-empty string';
  for (const k of ['command', 'args'] as const) {
    const v = x[k];
    if (v !== undefined && (!Array.isArray(v) || v.some((a) => typeof a !== 'string'))) return `${k} must be a list of strings`;
  }
  if (x.env !== undefined) {
    if (!Array.isArray(x.env)) return 'env must be a list';
    for (const e of x.env) {
      if (typeof e !== 'object' || e === null || typeof (e as Record<string, unknown>).name !== 'string') return 'every env entry needs a name';
    }
  }
  if (x.ports !== undefined) {
    if (!Array.isArray(x.ports)) return 'ports must be a list';
    for (const p of x.ports) {
      const port = (p as Record<string, unknown> | null)?.containerPort;
      if (typeof port !== 'number' || !isPort(port)) return `containerPort ${JSON.stringify(port)} is not a port number`;
    }
  }
  if (x.volumeMounts !== undefined) {
    if (!Array.isArray(x.volumeMounts)) return 'volumeMounts must be a list';
    for (const m of x.volumeMounts) {
      const mm = m as Record<string, unknown> | null;
      if (typeof mm?.name !== 'string' || typeof mm.mountPath !== 'string') return 'every volumeMount needs name and mountPath';
    }
  }
  return undefined;
}

/**
 * Renders the templates once with real values and checks the result is a
 * usable init container, sidecar and volume list whose mounts all resolve.
 */
export function validateRendered(t: SidecarTemplates, values: SidecarValues): void {
  let init: unknown;
  let validation: unknown;
  let proxy: unknown;
  let volumes: unknown;
  const at = (f: TemplateFile, what: string): never => {
    throw new UserError(`template ${t.sources[f]}: ${what}`);
  };
  try {
    init = t.init(values);
  } catch (err) {
    at('istio-init.yaml', `fails to render: ${(err as Error).message}`);
  }
  try {
    validation = t.validation(values);
  } catch (err) {
    at('istio-validation.yaml', `fails to render: ${(err as Error).message}`);
  }
  try {
    proxy = t.proxy(values);
  } catch (err) {
    at('istio-proxy.yaml', `fails to render: ${(err as Error).message}`);
  }
  try {
    volumes = t.volumes(values);
  } catch (err) {
    at('volumes.yaml', `fails to render: ${(err as Error).message}`);
  }
  const pi = problemInContainer(init);
  if (pi) at('istio-init.yaml', `invalid container: ${pi}`);
  const pv = problemInContainer(validation);
  if (pv) at('istio-validation.yaml', `invalid container: ${pv}`);
  const pp = problemInContainer(proxy);
  if (pp) at('istio-proxy.yaml', `invalid container: ${pp}`);
  if ((init as V1Container).name === (proxy as V1Container).name) at('istio-proxy.yaml', `container name ${(proxy as V1Container).name} is also the init container's name`);
  if ((validation as V1Container).name === (proxy as V1Container).name) at('istio-proxy.yaml', `container name ${(proxy as V1Container).name} is also the validation container's name`);
  if (!Array.isArray(volumes)) at('volumes.yaml', 'must be a list of volumes');
  const names = new Set<string>();
  for (const v of volumes as unknown[]) {
    const n = (v as Record<string, unknown> | null)?.name;
    if (typeof n !== 'string' || !isDns1123Label(n)) at('volumes.yaml', `volume name ${JSON.stringify(n)} is not a DNS-1123 label`);
    if (names.has(n as string)) at('volumes.yaml', `volume ${String(n)} is listed twice`);
    names.add(n as string);
  }
  for (const n of t.named.values()) {
    // Structural problems are UserErrors naming the file already; an engine failure gets the same shape here.
    try {
      n.metadata(values as TemplateValues);
      n.spec(values as TemplateValues);
    } catch (err) {
      if (err instanceof UserError) throw err;
      throw new UserError(`template ${n.source}: fails to render: ${(err as Error).message}`);
    }
  }
  for (const [file, c] of [['istio-init.yaml', init], ['istio-validation.yaml', validation], ['istio-proxy.yaml', proxy]] as const) {
    for (const m of (c as V1Container).volumeMounts ?? []) {
      if (!names.has(m.name)) at(file, `volumeMount ${m.name} has no volume in ${t.sources['volumes.yaml']}`);
    }
  }
}
