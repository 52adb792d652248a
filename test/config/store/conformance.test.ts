// Istio's own data through the stores: the CRDs of test/conformance/istio-config/crds.yaml and the
// samples folder (which Istio's xDS tests load as one config). Expected counts were taken by hand
// (grep of `kind:` in the samples, no duplicates among them; the CRDs' served versions read from the file).
import { readFile } from 'node:fs/promises';
import t from 'tap';
import { parseAllDocuments } from 'yaml';
import { createFileConfigStore } from '../../../config/store/file.js';
import { istioCrd } from '../../../config/store/kubernetes.js';
import { CONFIG_KINDS } from '../../../config/model.js';
import { conformancePath } from '../../conformance.js';
import { freshMetrics, recordingLogger } from './helpers.js';

t.test("Istio's CRDs: every tandem kind read at v1; Istio's other kinds are not tandem's", async (t) => {
  const text = await readFile(conformancePath('istio-config', 'crds.yaml'), 'utf8');
  const crds = parseAllDocuments(text).map((d) => d.toJS() as unknown).filter((d) => d !== null);
  t.equal(crds.length, 15, 'the vendored file has 15 CRDs');
  const read = crds.map((c) => istioCrd(c)).filter((c) => c !== undefined);
  t.same(read.map((c) => `${c.kind}@${c.version ?? 'none'}`).sort(), CONFIG_KINDS.map((k) => `${k.kind}@v1`).sort());
});

t.test('the samples folder ingested together: every Istio object, nothing refused', async (t) => {
  const log = recordingLogger();
  const metrics = freshMetrics();
  const store = await createFileConfigStore(conformancePath('istio-config', 'samples'), { validate: () => [], log, metrics });
  t.teardown(() => store.close());
  const counts = Object.fromEntries(CONFIG_KINDS.map((k) => [k.kind, store.list(k.kind).length]).filter(([, n]) => n !== 0));
  t.same(counts, { ServiceEntry: 33, VirtualService: 19, DestinationRule: 12, Gateway: 6, Sidecar: 3, PeerAuthentication: 2 });
  t.same(log.entries.filter((e) => e.level !== 'debug'), [], 'no warning or error');
});
