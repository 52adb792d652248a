import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Ajv, type ValidateFunction } from 'ajv';
import { MutatingWebhookConfiguration, ValidatingWebhookConfiguration } from 'kubernetes-models/admissionregistration.k8s.io/v1';
import { DaemonSet, Deployment } from 'kubernetes-models/apps/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { ClusterRole, ClusterRoleBinding, Role, RoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1';
import { ConfigMap, Namespace, Service, ServiceAccount } from 'kubernetes-models/v1';
import t, { type Test } from 'tap';
import { parse as parseYaml, parseAllDocuments } from 'yaml';
import { CONFIG_KINDS } from '../../config/model.js';
import { DEFAULT_XDS_ADDRESS } from '../../bootstrap/sidecar.js';
import { DEFAULT_CONFIG, injectorConfigFrom } from '../../inject/config.js';
import { injectionWebhooks, matchingWebhook } from '../../inject/injection-webhooks.js';
import { matchesSelector, type LabelSelector, type LabelSelectorRequirement } from '../../common/label-selectors.js';
import { conformancePath } from '../conformance.js';
import { validatingWebhookConfigurationSchema } from '../k8s-schemas.js';

/**
 * Builds the shipped manifests with kubectl's own kustomize (what
 * `kubectl apply -k` runs) and checks every document: strict schemas, the
 * Kubernetes OpenAPI validation, and the properties an admin relies on (least
 * privilege, hardened containers, selectors that match what check-inject says).
 */

const repo = fileURLToPath(new URL('../../', import.meta.url));
const schemaDir = conformancePath('k8s-schemas') + '/';
const exec = promisify(execFile);

const NAMESPACE = 'tandem-system';
const IMAGE = 'ghcr.io/tandem-mesh/tandem:0.1.0';
const MWC_NAME = 'tandem-sidecar-injector';
// Kubernetes' own namespaces and tandem's: the one never-injected list (inject/labels.ts), written out by hand here.
const EXCLUDED_NAMESPACES = ['kube-system', 'kube-public', 'kube-node-lease', 'local-path-storage', NAMESPACE];
const WEBHOOK_NAMES = [
  'rev.namespace.sidecar-injector.istio.io',
  'rev.object.sidecar-injector.istio.io',
  'namespace.sidecar-injector.istio.io',
  'object.sidecar-injector.istio.io',
];

type Obj = Record<string, any>;

interface Build {
  dir: string;
  docs: Obj[];
}

async function kustomize(dir: string): Promise<Build> {
  let stdout: string;
  try {
    ({ stdout } = await exec('kubectl', ['kustomize', dir], { cwd: repo, maxBuffer: 16 << 20 }));
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string };
    if (e.code === 'ENOENT') throw new Error('kubectl is not installed: the manifests test needs `kubectl kustomize` (kubectl >= 1.27)');
    throw new Error(`kubectl kustomize ${dir} failed: ${e.stderr ?? e.message}`);
  }
  const parsed = parseAllDocuments(stdout);
  if (!Array.isArray(parsed)) throw new Error(`kubectl kustomize ${dir}: unparseable output`);
  const docs: Obj[] = [];
  for (const d of parsed) {
    if (d.errors.length > 0) throw new Error(`kubectl kustomize ${dir}: ${d.errors[0]?.message}`);
    const v: unknown = d.toJS();
    if (v !== null) docs.push(v as Obj);
  }
  return { dir, docs };
}

// ---- schema validation -------------------------------------------------------

const ajv = new Ajv({ strict: true, allErrors: true, allowUnionTypes: true });
const validators = new Map<string, ValidateFunction>();

function schemaFile(apiVersion: string, kind: string): string {
  const [groupOrVersion, version] = apiVersion.split('/');
  const group = version === undefined ? '' : (groupOrVersion ?? '').split('.')[0];
  return `${kind.toLowerCase()}-${group ? group + '-' : ''}${version ?? groupOrVersion}.json`;
}

function strictValidator(apiVersion: string, kind: string): ValidateFunction {
  const file = schemaFile(apiVersion, kind);
  const known = validators.get(file);
  if (known) return known;
  const schema = kind === 'ValidatingWebhookConfiguration' ? validatingWebhookConfigurationSchema() : (JSON.parse(readFileSync(schemaDir + file, 'utf8')) as object);
  const v = ajv.compile(schema);
  validators.set(file, v);
  return v;
}

type Model = new (data: Obj) => { validate(): void };
const MODELS: Record<string, Model> = {
  'v1/ConfigMap': ConfigMap as unknown as Model,
  'v1/Namespace': Namespace as unknown as Model,
  'v1/ServiceAccount': ServiceAccount as unknown as Model,
  'v1/Service': Service as unknown as Model,
  'apps/v1/Deployment': Deployment as unknown as Model,
  'apps/v1/DaemonSet': DaemonSet as unknown as Model,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget as unknown as Model,
  'rbac.authorization.k8s.io/v1/ClusterRole': ClusterRole as unknown as Model,
  'rbac.authorization.k8s.io/v1/ClusterRoleBinding': ClusterRoleBinding as unknown as Model,
  'rbac.authorization.k8s.io/v1/Role': Role as unknown as Model,
  'rbac.authorization.k8s.io/v1/RoleBinding': RoleBinding as unknown as Model,
  'admissionregistration.k8s.io/v1/MutatingWebhookConfiguration': MutatingWebhookConfiguration as unknown as Model,
  'admissionregistration.k8s.io/v1/ValidatingWebhookConfiguration': ValidatingWebhookConfiguration as unknown as Model,
};

const CERT_MANAGER = 'cert-manager.io/v1';

function id(o: Obj): string {
  return `${o.kind}/${o.metadata?.namespace ? o.metadata.namespace + '/' : ''}${o.metadata?.name}`;
}

function findAll(b: Build, kind: string): Obj[] {
  return b.docs.filter((d) => d.kind === kind);
}

function findOne(t: Tap, b: Build, kind: string, name: string): Obj {
  const hits = b.docs.filter((d) => d.kind === kind && d.metadata?.name === name);
  t.equal(hits.length, 1, `${b.dir}: exactly one ${kind} ${name}`);
  return hits[0] ?? {};
}

type Tap = Test;

// ---- checks shared by every build ------------------------------------------

function checkSchemas(t: Tap, b: Build): void {
  for (const doc of b.docs) {
    t.type(doc.apiVersion, 'string', `${b.dir}: apiVersion of ${id(doc)}`);
    if (doc.apiVersion === CERT_MANAGER) continue; // checked by hand in the cert-manager test
    const model = MODELS[`${doc.apiVersion}/${doc.kind}`];
    t.ok(model, `${b.dir}: ${id(doc)} is a kind tandem means to ship`);
    const validate = strictValidator(doc.apiVersion, doc.kind);
    t.ok(validate(doc), `${b.dir}: ${id(doc)} matches the strict schema`, { errors: validate.errors });
    if (model) {
      let problem: unknown;
      try {
        new model(doc).validate();
      } catch (err) {
        problem = err;
      }
      t.equal(problem, undefined, `${b.dir}: ${id(doc)} passes kubernetes-models validate()`);
    }
  }
}

function checkNamespaces(t: Tap, b: Build): void {
  const clusterScoped = new Set(['Namespace', 'ClusterRole', 'ClusterRoleBinding', 'MutatingWebhookConfiguration', 'ValidatingWebhookConfiguration']);
  for (const doc of b.docs) {
    if (clusterScoped.has(doc.kind)) t.equal(doc.metadata.namespace, undefined, `${b.dir}: ${id(doc)} is cluster-scoped`);
    else t.equal(doc.metadata.namespace, NAMESPACE, `${b.dir}: ${id(doc)} lives in ${NAMESPACE}`);
  }
  const ns = findOne(t, b, 'Namespace', NAMESPACE);
  t.equal(ns.metadata?.labels?.['pod-security.kubernetes.io/enforce'], 'restricted', 'the namespace enforces the restricted pod security standard');
  findOne(t, b, 'ServiceAccount', 'tandem');
}

const WILDCARD_FIELDS = ['verbs', 'resources', 'apiGroups', 'resourceNames', 'nonResourceURLs'];
const READ_VERBS = new Set(['get', 'list', 'watch']);

function checkRbac(t: Tap, b: Build): void {
  const roles = [...findAll(b, 'ClusterRole'), ...findAll(b, 'Role')];
  t.ok(roles.length > 0, `${b.dir}: has RBAC`);
  for (const role of roles) {
    t.notOk(role.aggregationRule, `${id(role)}: no aggregation (it could pull in anything)`);
    for (const [i, rule] of (role.rules as Obj[]).entries()) {
      const where = `${b.dir}: ${id(role)} rule ${i}`;
      for (const f of WILDCARD_FIELDS) {
        const values = (rule[f] ?? []) as string[];
        t.notOk(values.some((v) => v.includes('*')), `${where}: no wildcard in ${f}`);
      }
      t.notOk(rule.nonResourceURLs, `${where}: no non-resource URLs`);
      for (const verb of rule.verbs as string[]) {
        t.notOk(['escalate', 'bind', 'impersonate', 'delete', 'deletecollection'].includes(verb), `${where}: no ${verb}`);
      }
      const resources = rule.resources as string[];
      if (resources.includes('secrets')) {
        t.equal(role.kind, 'Role', `${where}: Secret access only through a namespaced Role`);
        t.equal(role.metadata.namespace, NAMESPACE, `${where}: Secret access only in ${NAMESPACE}`);
        t.same(rule.apiGroups, [''], `${where}: core secrets only`);
        t.same(resources, ['secrets'], `${where}: a Secret rule grants nothing else`);
        const verbs = rule.verbs as string[];
        // create cannot be limited by name (the object has none when it is authorized).
        if (verbs.some((v) => v !== 'create')) {
          // the webhook's certificate Secret, or (read-only) the mesh CA's Secrets
          if (role.metadata.name === 'tandem-ca') t.ok(verbs.every((v) => v === 'get') && JSON.stringify(rule.resourceNames) === JSON.stringify(['cacerts', 'tandem-ca']), `${where}: get only, pinned to the CA Secrets`);
          else t.same(rule.resourceNames, ['tandem-webhook-certs'], `${where}: pinned to the certificate Secret`);
        }
        t.notOk(verbs.some((v) => v === 'list' || v === 'watch'), `${where}: Secrets are never listed or watched`);
      }
      if (resources.includes('mutatingwebhookconfigurations')) {
        t.same(rule.resourceNames, [MWC_NAME], `${where}: only tandem's own webhook configuration`);
        t.ok((rule.verbs as string[]).every((v) => ['get', 'patch', 'update'].includes(v)), `${where}: get/patch/update only`);
        t.same(resources, ['mutatingwebhookconfigurations'], `${where}: nothing else in that rule`);
      }
      if (resources.includes('validatingwebhookconfigurations')) {
        t.same(rule.resourceNames, ['tandem-validator'], `${where}: only tandem's own validating configuration`);
        t.ok((rule.verbs as string[]).every((v) => ['get', 'patch', 'update'].includes(v)), `${where}: get/patch/update only`);
        t.same(resources, ['validatingwebhookconfigurations'], `${where}: nothing else in that rule`);
      }
      // The mesh CA's writes (ClusterRole tandem-ca), each as narrow as the API allows.
      if (role.metadata.name === 'tandem-ca' && role.kind === 'ClusterRole' && !(rule.verbs as string[]).every((v) => READ_VERBS.has(v))) {
        const r = `${(rule.apiGroups as string[]).join()}|${resources.join()}|${((rule.resourceNames ?? []) as string[]).join()}|${(rule.verbs as string[]).join()}`;
        t.ok([
          'certificates.k8s.io|podcertificaterequests/status||update',
          'certificates.k8s.io|signers|tandem.io/workload-identity|sign',
          '|configmaps||list,watch,create',
          '|configmaps|istio-ca-root-cert|get,update',
          'authentication.k8s.io|tokenreviews||create',
        ].includes(r), `${where}: a known CA write (${r})`);
        continue;
      }
      const sensitive = resources.includes('secrets') || resources.includes('mutatingwebhookconfigurations') || resources.includes('validatingwebhookconfigurations');
      if (!sensitive) t.ok((rule.verbs as string[]).every((v) => READ_VERBS.has(v)), `${where}: everything else is read-only`);
    }
  }
  // Bindings point only at tandem's roles and only at tandem's ServiceAccount.
  const roleNames = new Set(roles.map((r) => `${r.kind}/${r.metadata.name}`));
  for (const binding of [...findAll(b, 'ClusterRoleBinding'), ...findAll(b, 'RoleBinding')]) {
    t.ok(roleNames.has(`${binding.roleRef.kind}/${binding.roleRef.name}`), `${b.dir}: ${id(binding)} binds a role shipped here`);
    t.same(binding.subjects, [{ kind: 'ServiceAccount', name: 'tandem', namespace: NAMESPACE }], `${b.dir}: ${id(binding)} binds only tandem's ServiceAccount`);
  }
  // The registry's informers need these; nothing broader.
  const discovery = findAll(b, 'ClusterRole').flatMap((r) => r.rules as Obj[]);
  const grants = (group: string, resource: string, verb: string): boolean =>
    discovery.some((r) => r.apiGroups.includes(group) && r.resources.includes(resource) && r.verbs.includes(verb) && !r.resourceNames);
  for (const verb of ['get', 'list', 'watch']) {
    t.ok(grants('', 'services', verb), `${b.dir}: ${verb} services`);
    t.ok(grants('discovery.k8s.io', 'endpointslices', verb), `${b.dir}: ${verb} endpointslices`);
    t.ok(grants('', 'pods', verb), `${b.dir}: ${verb} pods (endpoint labels and service accounts)`);
  }
}

function effective<T>(container: Obj, pod: Obj, key: string): T | undefined {
  return (container.securityContext?.[key] ?? pod.securityContext?.[key]) as T | undefined;
}

function podLabelsOf(deploy: Obj): Record<string, string> {
  return deploy.spec.template.metadata.labels as Record<string, string>;
}

function checkDeployment(t: Tap, b: Build, replicas: number): Obj {
  const deploy = findOne(t, b, 'Deployment', 'tandem');
  const pod = deploy.spec.template.spec as Obj;
  t.equal(deploy.spec.replicas, replicas, `${b.dir}: ${replicas} replica(s)`);
  t.ok(matchesSelector(deploy.spec.selector, podLabelsOf(deploy)), `${b.dir}: the Deployment selects its own pods`);
  t.equal(pod.serviceAccountName, 'tandem');
  t.equal(podLabelsOf(deploy)['sidecar.istio.io/inject'], 'false', 'the injector never injects itself');
  const anti = pod.affinity?.podAntiAffinity?.preferredDuringSchedulingIgnoredDuringExecution as Obj[] | undefined;
  t.equal(anti?.[0]?.podAffinityTerm?.topologyKey, 'kubernetes.io/hostname', `${b.dir}: replicas prefer different nodes`);
  t.ok(anti && matchesSelector(anti[0]?.podAffinityTerm.labelSelector, podLabelsOf(deploy)), 'anti-affinity is against its own pods');
  t.equal(pod.securityContext?.seccompProfile?.type, 'RuntimeDefault');

  const containers = [...((pod.initContainers ?? []) as Obj[]), ...(pod.containers as Obj[])];
  t.ok(containers.length >= 1);
  for (const c of containers) {
    const where = `${b.dir}: container ${c.name}`;
    t.equal(effective(c, pod, 'runAsNonRoot'), true, `${where}: runAsNonRoot`);
    const uid = effective<number>(c, pod, 'runAsUser');
    t.ok(uid === 1337 || uid === 65532, `${where}: a fixed non-root uid (got ${uid})`);
    t.equal(c.securityContext?.readOnlyRootFilesystem, true, `${where}: read-only root filesystem`);
    t.equal(c.securityContext?.allowPrivilegeEscalation, false, `${where}: no privilege escalation`);
    t.not(c.securityContext?.privileged, true, `${where}: not privileged`);
    t.same(c.securityContext?.capabilities?.drop, ['ALL'], `${where}: drops all capabilities`);
    t.notOk(c.securityContext?.capabilities?.add, `${where}: adds none`);
    t.equal(effective<Obj>(c, pod, 'seccompProfile')?.type, 'RuntimeDefault', `${where}: seccomp RuntimeDefault`);
    for (const kind of ['requests', 'limits']) {
      t.ok(c.resources?.[kind]?.cpu && c.resources?.[kind]?.memory, `${where}: cpu and memory ${kind}`);
    }
  }

  const c = (pod.containers as Obj[])[0] as Obj;
  t.equal(c.image, IMAGE, `${b.dir}: tandem's image`);
  t.equal(c.image, DEFAULT_CONFIG.images.init, `${b.dir}: the image the injection templates default to`);
  t.equal(c.args[0], 'serve', 'runs tandem serve');
  t.same(c.readinessProbe?.httpGet, { path: '/readyz', port: 15014 }, 'readiness on the monitoring port');
  t.same(c.livenessProbe?.httpGet, { path: '/healthz', port: 15014 }, 'liveness on the monitoring port');
  const ports = Object.fromEntries((c.ports as Obj[]).map((p) => [p.containerPort, p.name]));
  t.same(ports, { 15017: 'https-webhook', 15010: 'grpc-xds', 15012: 'grpc-xds-tls', 15014: 'http-monitoring' }, 'Istio port numbers');
  const env = Object.fromEntries((c.env as Obj[]).map((e) => [e.name, e]));
  t.equal(env.POD_NAMESPACE?.valueFrom?.fieldRef?.fieldPath, 'metadata.namespace', 'POD_NAMESPACE from the downward API');
  // Every writable path is a volume, since the root filesystem is read-only.
  const volumes = new Map((pod.volumes as Obj[]).map((v) => [v.name, v]));
  const state = (c.volumeMounts as Obj[]).find((m) => m.mountPath === '/var/lib/tandem');
  t.ok(state && volumes.get(state.name)?.emptyDir, 'state directory is an emptyDir');
  t.ok(c.args.includes('--state-dir=/var/lib/tandem'), 'serve is told where its writable state goes');
  for (const m of c.volumeMounts as Obj[]) t.ok(volumes.has(m.name), `mount ${m.mountPath} has a volume`);
  t.ok(pod.terminationGracePeriodSeconds >= 10, 'time to drain on SIGTERM');
  return deploy;
}

function checkServices(t: Tap, b: Build, deploy: Obj): void {
  const podLabels = podLabelsOf(deploy);
  const containerPorts = new Set(((deploy.spec.template.spec.containers as Obj[])[0]?.ports as Obj[]).map((p) => p.containerPort));
  const webhook = findOne(t, b, 'Service', 'tandem-webhook');
  const xds = findOne(t, b, 'Service', 'tandem-xds');
  for (const svc of [webhook, xds]) {
    t.ok(matchesSelector({ matchLabels: svc.spec.selector }, podLabels), `${id(svc)} selects tandem's pods`);
    for (const p of svc.spec.ports as Obj[]) t.ok(containerPorts.has(p.targetPort), `${id(svc)} port ${p.name} targets a container port`);
  }
  t.same((webhook.spec.ports as Obj[]).map((p) => [p.port, p.targetPort]), [[443, 15017]], 'webhook 443 -> 15017');
  const xdsPorts = Object.fromEntries((xds.spec.ports as Obj[]).map((p) => [p.name, [p.port, p.targetPort]]));
  t.same(xdsPorts, { 'grpc-xds': [15010, 15010], 'grpc-xds-tls': [15012, 15012], 'http-monitoring': [15014, 15014] }, 'xDS, xDS over TLS with the CA API, and monitoring ports');
  // Injected proxies dial the bootstrap's default xDS address: it must name this Service.
  const m = /^([^.]+)\.([^.]+)\.svc(?:\.cluster\.local)?:(\d+)$/.exec(DEFAULT_XDS_ADDRESS);
  t.ok(m, `the default xDS address ${DEFAULT_XDS_ADDRESS} is a Service DNS name`);
  const target = b.docs.find((d) => d.kind === 'Service' && d.metadata.name === m?.[1] && d.metadata.namespace === m?.[2]);
  t.ok(target && (target.spec.ports as Obj[]).some((p) => p.port === Number(m?.[3])), `${DEFAULT_XDS_ADDRESS} is served by a shipped Service`);
}

function checkPdb(t: Tap, b: Build, deploy: Obj, expected: boolean): void {
  const pdbs = findAll(b, 'PodDisruptionBudget');
  if (!expected) {
    t.equal(pdbs.length, 0, `${b.dir}: no PodDisruptionBudget`);
    return;
  }
  const pdb = findOne(t, b, 'PodDisruptionBudget', 'tandem');
  t.equal(pdb.spec.minAvailable, 1, 'one replica always stays up');
  t.ok(matchesSelector(pdb.spec.selector, podLabelsOf(deploy)), 'the PDB covers tandem pods');
  t.ok(deploy.spec.replicas > pdb.spec.minAvailable, 'the PDB leaves room to evict one replica');
}

function sameRequirements(actual: LabelSelectorRequirement[], expected: LabelSelectorRequirement[]): boolean {
  const key = (r: LabelSelectorRequirement): string => JSON.stringify([r.key, r.operator, [...(r.values ?? [])].sort()]);
  const a = actual.map(key).sort();
  const e = expected.map(key).sort();
  return JSON.stringify(a) === JSON.stringify(e);
}

const EXCLUSION: LabelSelectorRequirement = { key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: EXCLUDED_NAMESPACES };

function checkWebhook(t: Tap, b: Build): Obj {
  const mwc = findOne(t, b, 'MutatingWebhookConfiguration', MWC_NAME);
  const hooks = mwc.webhooks as Obj[];
  t.same(hooks.map((h) => h.name), WEBHOOK_NAMES, `${b.dir}: Istio's four injection webhooks`);
  const webhookSvc = findOne(t, b, 'Service', 'tandem-webhook');
  for (const h of hooks) {
    const where = `${b.dir}: webhook ${h.name}`;
    t.same(h.clientConfig.service, { name: 'tandem-webhook', namespace: NAMESPACE, path: '/inject', port: 443 }, `${where}: calls tandem's /inject`);
    t.ok((webhookSvc.spec.ports as Obj[]).some((p) => p.port === h.clientConfig.service.port), `${where}: the Service has that port`);
    t.equal(h.failurePolicy, 'Fail', `${where}: failurePolicy Fail`);
    t.equal(h.sideEffects, 'None', `${where}: sideEffects None`);
    t.same(h.admissionReviewVersions, ['v1', 'v1beta1'], `${where}: v1 and v1beta1`);
    t.equal(h.timeoutSeconds, 10, `${where}: 10 s timeout`);
    t.same(h.rules, [{ operations: ['CREATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['pods'] }], `${where}: CREATE pods only`);
    // However a namespace is labelled, the excluded ones are never sent.
    for (const ns of EXCLUDED_NAMESPACES) {
      const labels = { 'kubernetes.io/metadata.name': ns, 'istio-injection': 'enabled', 'istio.io/rev': 'default' };
      t.notOk(matchesSelector(h.namespaceSelector, labels), `${where}: never called for ${ns}`);
    }
  }

  // The selectors are the ones `tandem check-inject` reasons with (inject/injection-webhooks.ts),
  // plus the namespace exclusion, unless that module already carries it.
  const shared = injectionWebhooks('default');
  t.same(shared.map((h) => h.name), WEBHOOK_NAMES, 'inject/injection-webhooks.ts lists the same webhooks, in order');
  for (const [i, h] of hooks.entries()) {
    const s = shared[i];
    if (!s) continue;
    const expectedNs = [...(s.namespaceSelector.matchExpressions ?? [])];
    if (!expectedNs.some((r) => r.key === EXCLUSION.key)) expectedNs.push(EXCLUSION);
    const nsSel = h.namespaceSelector as LabelSelector;
    const objSel = h.objectSelector as LabelSelector;
    t.same(nsSel.matchLabels ?? {}, s.namespaceSelector.matchLabels ?? {}, `${h.name}: namespace matchLabels as in injection-webhooks.ts`);
    t.ok(sameRequirements(nsSel.matchExpressions ?? [], expectedNs), `${h.name}: namespaceSelector as in injection-webhooks.ts`, { found: nsSel, expected: expectedNs });
    t.same(objSel.matchLabels ?? {}, s.objectSelector.matchLabels ?? {}, `${h.name}: object matchLabels as in injection-webhooks.ts`);
    t.ok(sameRequirements(objSel.matchExpressions ?? [], s.objectSelector.matchExpressions ?? []), `${h.name}: objectSelector as in injection-webhooks.ts`, { found: objSel, expected: s.objectSelector });
  }
  return mwc;
}

/** The Istio config validator: every kind tandem stores, for CREATE and UPDATE, sent to /validate. */
function checkValidatingWebhook(t: Tap, b: Build): Obj {
  const vwc = findOne(t, b, 'ValidatingWebhookConfiguration', 'tandem-validator');
  const hooks = vwc.webhooks as Obj[];
  t.equal(hooks.length, 1, `${b.dir}: one validating webhook`);
  const webhookSvc = findOne(t, b, 'Service', 'tandem-webhook');
  const mwc = findOne(t, b, 'MutatingWebhookConfiguration', MWC_NAME);
  const injectorService = ((mwc.webhooks as Obj[])[0]?.clientConfig.service ?? {}) as Obj;
  for (const h of hooks) {
    const where = `${b.dir}: webhook ${h.name}`;
    t.same(h.clientConfig.service, { ...injectorService, path: '/validate' }, `${where}: the injector's Service, path /validate`);
    t.same(h.clientConfig.service, { name: 'tandem-webhook', namespace: NAMESPACE, path: '/validate', port: 443 }, `${where}: tandem-webhook:443/validate`);
    t.ok((webhookSvc.spec.ports as Obj[]).some((p) => p.port === h.clientConfig.service.port), `${where}: the Service has that port`);
    t.equal(h.failurePolicy, 'Fail', `${where}: failurePolicy Fail`);
    t.equal(h.sideEffects, 'None', `${where}: sideEffects None`);
    t.same(h.admissionReviewVersions, ['v1', 'v1beta1'], `${where}: v1 and v1beta1`);
    const sent = new Set<string>();
    for (const r of h.rules as Obj[]) {
      t.same(r.operations, ['CREATE', 'UPDATE'], `${where}: CREATE and UPDATE only (DELETE always allowed)`);
      t.same(r.apiVersions, ['*'], `${where}: every served version`);
      for (const g of r.apiGroups as string[]) for (const res of r.resources as string[]) sent.add(`${g}/${res}`);
    }
    t.same([...sent].sort(), CONFIG_KINDS.map((k) => `${k.group}/${k.plural}`).sort(), `${where}: exactly the kinds config/model.ts lists`);
  }
  return vwc;
}

// ---- what the apiserver would do with the shipped selectors ------------------

const NS_CASES: Record<string, Record<string, string>> = {
  unlabelled: {},
  'istio-injection=enabled': { 'istio-injection': 'enabled' },
  'istio-injection=disabled': { 'istio-injection': 'disabled' },
  'istio.io/rev=default': { 'istio.io/rev': 'default' },
  'istio.io/rev=canary': { 'istio.io/rev': 'canary' },
  'istio-injection=enabled,istio.io/rev=default': { 'istio-injection': 'enabled', 'istio.io/rev': 'default' },
};
const POD_CASES: Record<string, Record<string, string>> = {
  unlabelled: {},
  'inject=true': { 'sidecar.istio.io/inject': 'true' },
  'inject=false': { 'sidecar.istio.io/inject': 'false' },
  'rev=default': { 'istio.io/rev': 'default' },
  'rev=canary': { 'istio.io/rev': 'canary' },
  'inject=true,rev=default': { 'sidecar.istio.io/inject': 'true', 'istio.io/rev': 'default' },
  'inject=false,rev=default': { 'sidecar.istio.io/inject': 'false', 'istio.io/rev': 'default' },
};
/**
 * Which webhook Istio's default-revision injector fires for each case (from the
 * selectors of Istio's istio-discovery chart); absent means none.
 */
const EXPECTED: Record<string, string> = {
  'istio-injection=enabled|unlabelled': 'namespace',
  'istio-injection=enabled|inject=true': 'namespace',
  'istio-injection=enabled|rev=default': 'namespace',
  'istio-injection=enabled|rev=canary': 'namespace',
  'istio-injection=enabled|inject=true,rev=default': 'namespace',
  'istio.io/rev=default|unlabelled': 'rev.namespace',
  'istio.io/rev=default|inject=true': 'rev.namespace',
  'istio.io/rev=default|rev=default': 'rev.namespace',
  'istio.io/rev=default|rev=canary': 'rev.namespace',
  'istio.io/rev=default|inject=true,rev=default': 'rev.namespace',
  'unlabelled|inject=true': 'object',
  'unlabelled|rev=default': 'rev.object',
  'unlabelled|inject=true,rev=default': 'rev.object',
  'istio-injection=enabled,istio.io/rev=default|unlabelled': 'namespace',
  'istio-injection=enabled,istio.io/rev=default|inject=true': 'namespace',
  'istio-injection=enabled,istio.io/rev=default|rev=default': 'namespace',
  'istio-injection=enabled,istio.io/rev=default|rev=canary': 'namespace',
  'istio-injection=enabled,istio.io/rev=default|inject=true,rev=default': 'namespace',
};

function checkSelection(t: Tap, mwc: Obj): void {
  const hooks = mwc.webhooks as Obj[];
  for (const [nsCase, nsLabels] of Object.entries(NS_CASES)) {
    for (const [podCase, podLabels] of Object.entries(POD_CASES)) {
      const labels = { 'kubernetes.io/metadata.name': 'shop', ...nsLabels };
      // The apiserver calls every webhook that matches; Istio's are mutually exclusive.
      const fired = hooks.filter((h) => matchesSelector(h.namespaceSelector, labels) && matchesSelector(h.objectSelector, podLabels));
      const c = `${nsCase}|${podCase}`;
      t.ok(fired.length <= 1, `${c}: at most one webhook fires`);
      const expected = EXPECTED[c];
      t.equal(fired[0]?.name, expected && `${expected}.sidecar-injector.istio.io`, `${c}: ${expected ?? 'no'} webhook`);
      t.equal(fired[0]?.name, matchingWebhook('default', labels, podLabels)?.name, `${c}: check-inject agrees`);
    }
  }
}

// ---- the builds ----------------------------------------------------------------

t.test('the hand-derived ValidatingWebhookConfiguration schema is strict', async (t) => {
  const validate = strictValidator('admissionregistration.k8s.io/v1', 'ValidatingWebhookConfiguration');
  const hook = { name: 'v.example.com', clientConfig: { url: 'https://example.com/v' }, sideEffects: 'None', admissionReviewVersions: ['v1'] };
  const vwc = (webhook: Obj): Obj => ({ apiVersion: 'admissionregistration.k8s.io/v1', kind: 'ValidatingWebhookConfiguration', metadata: { name: 'x' }, webhooks: [webhook] });
  t.ok(validate(vwc(hook)), 'a minimal configuration passes', { errors: validate.errors });
  t.notOk(validate(vwc({ ...hook, reinvocationPolicy: 'Never' })), 'reinvocationPolicy is a mutating-only field');
  t.notOk(validate(vwc({ ...hook, timeoutSecond: 10 })), 'a misspelt field fails');
  t.notOk(validate({ ...vwc(hook), kind: 'MutatingWebhookConfiguration' }), 'the kind is pinned');
});

t.test('base (kubectl apply -k manifests/)', async (t) => {
  const b = await kustomize('manifests');
  const kinds = b.docs.map((d) => d.kind).sort();
  t.same(kinds, [
    'ClusterRole', 'ClusterRole', 'ClusterRole', 'ClusterRole', 'ClusterRoleBinding', 'ClusterRoleBinding', 'ClusterRoleBinding', 'ClusterRoleBinding', 'Deployment', 'MutatingWebhookConfiguration',
    'Namespace', 'PodDisruptionBudget', 'Role', 'Role', 'Role', 'RoleBinding', 'RoleBinding', 'RoleBinding', 'Service', 'Service', 'ServiceAccount', 'ValidatingWebhookConfiguration',
  ], 'the expected objects');
  checkSchemas(t, b);
  checkNamespaces(t, b);
  checkRbac(t, b);
  const deploy = checkDeployment(t, b, 2);
  t.ok(deploy.spec.template.spec.containers[0].args.includes('--cert-mode=secret'), 'tandem manages its own certificates');
  checkServices(t, b, deploy);
  checkPdb(t, b, deploy, true);
  const mwc = checkWebhook(t, b);
  checkValidatingWebhook(t, b);
  t.equal(mwc.metadata.annotations?.['cert-manager.io/inject-ca-from'], undefined, 'no cert-manager dependency in the base');
  checkSelection(t, mwc);
  // Self-managed certificates: tandem may write its Secret and the caBundle.
  const certRole = findOne(t, b, 'Role', 'tandem-certs');
  t.ok((certRole.rules as Obj[]).some((r) => r.resources.includes('secrets') && r.verbs.includes('create')), 'may create its Secret');
  t.ok(findAll(b, 'ClusterRole').some((r) => (r.rules as Obj[]).some((x) => x.resources.includes('mutatingwebhookconfigurations'))), 'may patch its caBundle');
  t.ok(findAll(b, 'ClusterRole').some((r) => (r.rules as Obj[]).some((x) => x.resources.includes('validatingwebhookconfigurations'))), "may patch the validator's caBundle");
});

t.test('overlays/dev: one replica, no PodDisruptionBudget', async (t) => {
  const b = await kustomize('manifests/overlays/dev');
  checkSchemas(t, b);
  checkNamespaces(t, b);
  checkRbac(t, b);
  const deploy = checkDeployment(t, b, 1);
  checkServices(t, b, deploy);
  checkPdb(t, b, deploy, false);
  checkSelection(t, checkWebhook(t, b));
  checkValidatingWebhook(t, b);
});

// cert-manager's kinds have no schema in conformance/: only the expected ones may
// appear, and their fields are checked here against cert-manager's v1 API.
t.test('overlays/cni: the base unchanged, plus the node agent with least privilege', async (t) => {
  const b = await kustomize('manifests/overlays/cni');
  checkSchemas(t, b);
  const CNI_NS = 'tandem-cni';
  const isCni = (d: Obj): boolean => d.metadata?.namespace === CNI_NS || d.metadata?.name === CNI_NS;
  const cni = b.docs.filter(isCni);
  // Everything else is the base, checked as the base is.
  const base: Build = { dir: b.dir, docs: b.docs.filter((d) => !isCni(d)) };
  checkNamespaces(t, base);
  checkRbac(t, base);
  checkServices(t, base, checkDeployment(t, base, 2));
  checkSelection(t, checkWebhook(t, base));
  t.same(cni.map(id).sort(), ['ClusterRole/tandem-cni', 'ClusterRoleBinding/tandem-cni', `DaemonSet/${CNI_NS}/tandem-cni-node`, `Namespace/${CNI_NS}`, `ServiceAccount/${CNI_NS}/tandem-cni`]);

  // RBAC: the plugin GETs the pod it wires, nothing more.
  const role = findOne(t, b, 'ClusterRole', 'tandem-cni');
  t.same(role.rules, [{ apiGroups: [''], resources: ['pods'], verbs: ['get'] }]);
  const binding = findOne(t, b, 'ClusterRoleBinding', 'tandem-cni');
  t.same(binding.roleRef, { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'tandem-cni' });
  t.same(binding.subjects, [{ kind: 'ServiceAccount', name: 'tandem-cni', namespace: CNI_NS }]);

  const ds = findOne(t, b, 'DaemonSet', 'tandem-cni-node');
  const pod = ds.spec.template.spec as Obj;
  t.equal(pod.serviceAccountName, 'tandem-cni');
  t.equal(pod.hostNetwork, true, 'runs without pod networking');
  t.same(pod.tolerations, [{ operator: 'Exists' }], 'every node');
  const c = (pod.containers as Obj[])[0] as Obj;
  t.equal((pod.containers as Obj[]).length, 1);
  t.equal(c.image, IMAGE, 'the same image as the control plane');
  const sc = c.securityContext as Obj;
  t.equal(sc.privileged, false);
  t.equal(sc.allowPrivilegeEscalation, false);
  t.equal(sc.readOnlyRootFilesystem, true);
  t.same(sc.capabilities, { drop: ['ALL'] }, 'no capability at all: root only for the root-owned CNI dirs');
  const mounts = Object.fromEntries((c.volumeMounts as Obj[]).map((m) => [m.name, m.mountPath]));
  const paths = Object.fromEntries((pod.volumes as Obj[]).map((v) => [v.name, v.hostPath?.path]));
  t.same(paths, { 'cni-bin-dir': '/opt/cni/bin', 'cni-net-dir': '/etc/cni/net.d' }, 'only the two CNI directories of the node');
  t.same(mounts, { 'cni-bin-dir': '/host/opt/cni/bin', 'cni-net-dir': '/host/etc/cni/net.d' });
  const args = c.args as string[];
  t.equal(args[0], 'cni-agent');
  t.ok(args.includes(`--cni-bin-dir=${mounts['cni-bin-dir']}`) && args.includes(`--host-cni-bin-dir=${paths['cni-bin-dir']}`), 'the mounted and host bin dir agree');
  t.ok(args.includes(`--cni-net-dir=${mounts['cni-net-dir']}`) && args.includes(`--host-cni-net-dir=${paths['cni-net-dir']}`), 'the mounted and host net dir agree');
  t.ok(args.some((a) => a.startsWith('--exclude-namespaces=') && a.split('=')[1]?.split(',').includes('kube-system')));
  t.equal((c.env as Obj[]).find((e) => e.name === 'POD_NAMESPACE')?.valueFrom?.fieldRef?.fieldPath, 'metadata.namespace');
  // Every flag in the manifest is one `tandem cni-agent` accepts.
  const { stdout: help } = await exec(process.execPath, ['bin/tandem', 'cni-agent', 'run', '--help'], { cwd: repo });
  for (const a of args.slice(1)) t.ok(help.includes(a.split('=')[0] as string), `tandem cni-agent accepts ${a.split('=')[0]}`);
  const ns = findOne(t, b, 'Namespace', CNI_NS);
  t.equal(ns.metadata.labels['pod-security.kubernetes.io/enforce'], 'privileged', 'hostPath and hostNetwork need it; the control plane namespace stays restricted');
  t.equal(findOne(t, b, 'Namespace', NAMESPACE).metadata.labels['pod-security.kubernetes.io/enforce'], 'restricted');

  // The control plane injects in CNI mode: its --injector-config is the tandem-injector ConfigMap's config.yaml.
  const cm = findOne(t, b, 'ConfigMap', 'tandem-injector');
  t.equal(cm.metadata.namespace, NAMESPACE);
  const cfg = injectorConfigFrom(parseYaml(cm.data['config.yaml'] as string), 'tandem-injector config.yaml');
  t.equal(cfg.cni, true, 'the injector config turns CNI mode on');
  const cp = findOne(t, b, 'Deployment', 'tandem').spec.template.spec as Obj;
  const serve = (cp.containers as Obj[])[0] as Obj;
  const configArg = (serve.args as string[]).find((a) => a.startsWith('--injector-config='));
  const volume = (cp.volumes as Obj[]).find((v) => v.configMap?.name === 'tandem-injector');
  const mount = (serve.volumeMounts as Obj[]).find((m) => m.name === volume?.name);
  t.ok(volume && mount, 'the ConfigMap is mounted into tandem serve');
  t.equal(configArg, `--injector-config=${String(mount?.mountPath)}/config.yaml`, 'serve reads the mounted config.yaml');
  t.equal(mount?.readOnly, true);
});

const CERTIFICATE_SPEC_FIELDS = new Set([
  'additionalOutputFormats', 'commonName', 'dnsNames', 'duration', 'emailAddresses', 'encodeUsagesInRequest', 'ipAddresses',
  'isCA', 'issuerRef', 'keystores', 'literalSubject', 'nameConstraints', 'otherNames', 'privateKey', 'renewBefore',
  'renewBeforePercentage', 'revisionHistoryLimit', 'secretName', 'secretTemplate', 'signatureAlgorithm', 'subject', 'uris', 'usages',
]);
const KEY_USAGES = new Set([
  'signing', 'digital signature', 'content commitment', 'key encipherment', 'key agreement', 'data encipherment', 'cert sign',
  'crl sign', 'encipher only', 'decipher only', 'any', 'server auth', 'client auth', 'code signing', 'email protection', 's/mime',
  'ipsec end system', 'ipsec tunnel', 'ipsec user', 'timestamping', 'ocsp signing', 'microsoft sgc', 'netscape sgc',
]);
const ISSUER_TYPES = new Set(['selfSigned', 'ca', 'acme', 'vault', 'venafi']);

function hours(d: unknown): number {
  const m = /^(\d+)h$/.exec(String(d));
  if (!m) throw new Error(`duration ${String(d)} is not whole hours`);
  return Number(m[1]);
}

function checkCertificate(t: Tap, cert: Obj, issuers: Map<string, Obj>): void {
  const where = id(cert);
  t.same(Object.keys(cert).sort(), ['apiVersion', 'kind', 'metadata', 'spec'], `${where}: top-level fields`);
  for (const k of Object.keys(cert.spec)) t.ok(CERTIFICATE_SPEC_FIELDS.has(k), `${where}: spec.${k} is a Certificate field`);
  t.type(cert.spec.secretName, 'string', `${where}: secretName`);
  t.same(Object.keys(cert.spec.issuerRef).sort(), ['group', 'kind', 'name'], `${where}: issuerRef fields`);
  t.equal(cert.spec.issuerRef.group, 'cert-manager.io');
  t.equal(cert.spec.issuerRef.kind, 'Issuer', `${where}: a namespaced Issuer`);
  t.ok(issuers.has(cert.spec.issuerRef.name), `${where}: its issuer ${cert.spec.issuerRef.name} is shipped`);
  t.same(Object.keys(cert.spec.privateKey).filter((k) => !['algorithm', 'size', 'encoding', 'rotationPolicy'].includes(k)), [], `${where}: privateKey fields`);
  t.ok(['RSA', 'ECDSA', 'Ed25519'].includes(cert.spec.privateKey.algorithm), `${where}: key algorithm`);
  if (cert.spec.privateKey.algorithm === 'ECDSA') t.ok([256, 384, 521].includes(cert.spec.privateKey.size), `${where}: ECDSA size`);
  if (cert.spec.privateKey.rotationPolicy !== undefined) t.ok(['Never', 'Always'].includes(cert.spec.privateKey.rotationPolicy));
  t.ok(hours(cert.spec.duration) > hours(cert.spec.renewBefore), `${where}: renewed before it expires`);
  for (const u of cert.spec.usages ?? []) t.ok(KEY_USAGES.has(u), `${where}: usage "${u}"`);
}

t.test('overlays/cert-manager: cert-manager issues the certificate, tandem reloads files', async (t) => {
  const b = await kustomize('manifests/overlays/cert-manager');
  checkSchemas(t, b);
  checkNamespaces(t, b);
  checkRbac(t, b);
  const deploy = checkDeployment(t, b, 2);
  checkServices(t, b, deploy);
  checkPdb(t, b, deploy, true);
  const mwc = checkWebhook(t, b);
  checkSelection(t, mwc);
  checkValidatingWebhook(t, b);

  const cm = b.docs.filter((d) => d.apiVersion === CERT_MANAGER);
  t.same(cm.map(id).sort(), [
    'Certificate/tandem-system/tandem-ca', 'Certificate/tandem-system/tandem-webhook',
    'Issuer/tandem-system/tandem-ca', 'Issuer/tandem-system/tandem-selfsigned',
  ], 'exactly the expected cert-manager objects');

  const issuers = new Map(findAll(b, 'Issuer').map((i) => [i.metadata.name as string, i]));
  for (const issuer of issuers.values()) {
    t.same(Object.keys(issuer).sort(), ['apiVersion', 'kind', 'metadata', 'spec'], `${id(issuer)}: top-level fields`);
    const types = Object.keys(issuer.spec);
    t.equal(types.length, 1, `${id(issuer)}: exactly one issuer type`);
    t.ok(ISSUER_TYPES.has(types[0] as string), `${id(issuer)}: a known issuer type`);
  }
  t.same(issuers.get('tandem-selfsigned')?.spec, { selfSigned: {} }, 'a self-signed issuer bootstraps the CA');

  const caCert = findOne(t, b, 'Certificate', 'tandem-ca');
  const servingCert = findOne(t, b, 'Certificate', 'tandem-webhook');
  for (const c of [caCert, servingCert]) checkCertificate(t, c, issuers);
  t.equal(caCert.spec.isCA, true, 'the CA certificate is a CA');
  t.equal(caCert.spec.issuerRef.name, 'tandem-selfsigned', 'the CA is self-signed');
  t.same(issuers.get('tandem-ca')?.spec, { ca: { secretName: caCert.spec.secretName } }, 'the CA issuer signs with the CA certificate');
  t.notOk(servingCert.spec.isCA, 'the serving certificate is not a CA');
  t.equal(servingCert.spec.issuerRef.name, 'tandem-ca', 'the serving certificate chains to the CA');
  t.equal(servingCert.spec.secretName, 'tandem-webhook-certs', 'written to the webhook Secret');
  t.ok(servingCert.spec.usages.includes('server auth'), 'usable for TLS serving');
  const svc = (mwc.webhooks as Obj[])[0]?.clientConfig.service as Obj;
  t.same(servingCert.spec.dnsNames, [`${svc.name}.${svc.namespace}.svc`, `${svc.name}.${svc.namespace}.svc.cluster.local`], 'SANs the apiserver checks');
  t.equal(mwc.metadata.annotations?.['cert-manager.io/inject-ca-from'], `${NAMESPACE}/tandem-webhook`, 'cainjector writes the caBundle');
  const vwc = findAll(b, 'ValidatingWebhookConfiguration').find((v) => v.metadata.name === 'tandem-validator');
  t.equal(vwc?.metadata.annotations?.['cert-manager.io/inject-ca-from'], `${NAMESPACE}/tandem-webhook`, "cainjector writes the validator's caBundle too (failurePolicy Fail)");

  // tandem reads the mounted Secret and reloads it; it needs no Secret or webhook write access.
  const c = deploy.spec.template.spec.containers[0] as Obj;
  t.ok(c.args.includes('--cert-mode=files'), 'serve only reloads files');
  const certDir = (c.args as string[]).find((a) => a.startsWith('--cert-dir='))?.slice('--cert-dir='.length);
  const mount = (c.volumeMounts as Obj[]).find((m) => m.mountPath === certDir);
  t.ok(mount, 'the certificate directory is mounted');
  t.equal(mount?.readOnly, true);
  t.notOk(mount?.subPath, 'mounted whole, so Secret updates reach the files');
  const volume = (deploy.spec.template.spec.volumes as Obj[]).find((v) => v.name === mount?.name);
  t.equal(volume?.secret?.secretName, 'tandem-webhook-certs', 'from the Secret cert-manager writes');
  // cert-manager owns the webhook certificate; the namespaced roles left are the mesh CA's own Secrets and the tandem-mesh ConfigMap
  t.same(findAll(b, 'Role').map((r) => (r.metadata as Obj).name).sort(), ['tandem-ca', 'tandem-mesh-config'], 'no webhook-certificate role');
  t.notOk(findAll(b, 'Role').filter((r) => (r.metadata as Obj).name !== 'tandem-ca').flatMap((r) => r.rules as Obj[]).some((r) => r.resources.includes('secrets')), 'Secrets only for the mesh CA');
  t.notOk(findAll(b, 'Role').flatMap((r) => r.rules as Obj[]).some((r) => ((r.resourceNames ?? []) as string[]).includes('tandem-webhook-certs')), 'never the webhook certificate Secret');
  t.notOk(findAll(b, 'ClusterRole').flatMap((r) => r.rules as Obj[]).some((r) => r.resources.includes('secrets')), 'no Secret access cluster-wide');
  const clusterRules = findAll(b, 'ClusterRole').flatMap((r) => r.rules as Obj[]);
  t.notOk(clusterRules.some((r) => r.resources.includes('mutatingwebhookconfigurations') || r.resources.includes('validatingwebhookconfigurations')), 'no webhook-configuration access');
});

t.test('schema file names follow conformance/k8s-schemas', async (t) => {
  t.equal(schemaFile('v1', 'Pod'), 'pod-v1.json');
  t.equal(schemaFile('apps/v1', 'Deployment'), 'deployment-apps-v1.json');
  t.equal(schemaFile('admissionregistration.k8s.io/v1', 'MutatingWebhookConfiguration'), 'mutatingwebhookconfiguration-admissionregistration-v1.json');
  // The validators reject what they should: an unknown field, and a wrong type.
  const v = strictValidator('v1', 'Service');
  t.notOk(v({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'x' }, spec: { portz: [] } }), 'unknown field rejected');
  t.notOk(v({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'x' }, spec: { ports: 'x' } }), 'wrong type rejected');
  t.throws(() => new Service({ metadata: { name: 'x' }, spec: { ports: [{ port: 'x' as unknown as number }] } }).validate(), 'kubernetes-models rejects a bad port');
});
