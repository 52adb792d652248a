import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { stringify } from 'yaml';
import { createFileConfigStore } from '../../config/store/file.js';
import { CONFIG_KINDS, CONFIG_VERSIONS, configKey, type ConfigKind } from '../../config/model.js';
import { validateConfig } from '../../config/validation/validate.js';

/**
 * The config-store property as one function, shared by the random run (config.test.ts) and the
 * replay of recorded counter-examples (fixtures.test.ts): a file of documents read by the file
 * store holds exactly the objects the validator accepts (the first of a key stays), and every
 * refusal is logged with its file, document and problems (a field path first) and counted.
 */

export const yamlOf = (docs: readonly unknown[]): string => docs.map((d) => stringify(d)).join('---\n');

interface LogRecord {
  level: string;
  obj: Record<string, unknown>;
  msg: string | undefined;
}

const isIstio = (d: unknown): d is { apiVersion: string; kind: ConfigKind; metadata: { name: string; namespace?: string } } =>
  d !== null && typeof d === 'object' && String((d as { apiVersion?: unknown }).apiVersion).includes('istio.io');

/** Reads `docs` through a new file store in the new directory `dir`; the problems found, [] when the property holds. */
export async function checkFileStore(docs: readonly unknown[], dir: string): Promise<string[]> {
  mkdirSync(dir);
  writeFileSync(join(dir, 'config.yaml'), yamlOf(docs));
  const records: LogRecord[] = [];
  const record = (level: string) => (obj: object, msg?: string) => void records.push({ level, obj: obj as Record<string, unknown>, msg });
  const counted: string[] = [];
  const store = await createFileConfigStore(dir, {
    validate: (o) => validateConfig(o).problems,
    log: { debug: record('debug'), info: record('info'), warn: record('warn'), error: record('error') },
    metrics: { recordConfigRejected: (kind) => void counted.push(kind) },
    settleMs: 5,
  });
  const problems: string[] = [];
  try {
    await store.synced;
    // The oracle: the validator on each document (a file's missing namespace is `default`), the first of a key stays.
    const expected = new Set<string>();
    let refusals = 0;
    for (const d of docs) {
      if (!isIstio(d)) continue;
      const withNs = { ...d, metadata: { ...d.metadata, namespace: d.metadata.namespace ?? 'default' } };
      // The stores take the versions they watch (CONFIG_VERSIONS), a narrower set than the CRDs serve.
      const version = d.apiVersion.split('/')[1] ?? '';
      if (validateConfig(withNs).problems.length > 0 || !(CONFIG_VERSIONS as readonly string[]).includes(version)) {
        refusals++;
        continue;
      }
      expected.add(configKey({ kind: d.kind, metadata: withNs.metadata }));
    }
    const held = CONFIG_KINDS.flatMap((k) => store.list(k.kind as ConfigKind).map((o) => configKey(o)));
    if (!isDeepStrictEqual([...held].sort(), [...expected].sort())) problems.push(`the store holds ${JSON.stringify(held)}, validation accepts ${JSON.stringify([...expected])}`);
    const refusedLogs = records.filter((r) => r.level === 'error' && r.msg?.startsWith('invalid Istio config refused'));
    if (refusedLogs.length !== refusals || counted.length !== refusals) problems.push(`${refusals} refusals, ${refusedLogs.length} logged, ${counted.length} counted`);
    for (const r of refusedLogs) {
      if (typeof r.obj['file'] !== 'string' || typeof r.obj['document'] !== 'number') problems.push(`a refusal logged without its file and document: ${JSON.stringify(r.obj)}`);
      // describeProblems: `path: message; path: message`, each path under one of the object's top-level fields
      if (!/^(apiVersion|kind|metadata|spec)\b/.test(String(r.obj['problems']))) problems.push(`a refusal logged without a field path: ${String(r.obj['problems'])}`);
    }
  } finally {
    await store.close();
  }
  return problems;
}
