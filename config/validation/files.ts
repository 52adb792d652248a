import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { UserError } from '../../common/errors.js';
import type { ConfigProblem } from '../model.js';
import { validateConfig } from './validate.js';

/**
 * `tandem validate`: files in, one verdict per document out. Reading (files, directories, stdin) is the
 * thin I/O edge; `validateSources` and the formatters are pure.
 */

export interface Source {
  source: string;
  text: string;
}

export interface DocumentReport {
  file: string;
  /** 1-based position of the document in its file */
  document: number;
  kind: string;
  namespace: string;
  name: string;
  /** false when the document is not an Istio kind tandem validates (passed over) */
  validated: boolean;
  problems: ConfigProblem[];
  warnings: ConfigProblem[];
}

export interface ValidateReport {
  valid: boolean;
  documents: DocumentReport[];
  celRules: number;
}

const CONFIG_FILE = /\.(ya?ml|json)$/i;

/** Files named on the command line, directories recursed (YAML and JSON files, in name order), `-` for stdin. */
export async function readSources(paths: string[], stdin: () => Promise<string>): Promise<Source[]> {
  const out: Source[] = [];
  for (const path of paths) {
    if (path === '-') {
      out.push({ source: '<stdin>', text: await stdin() });
      continue;
    }
    let isDir: boolean;
    try {
      isDir = (await stat(path)).isDirectory();
    } catch (err) {
      throw new UserError(`${path}: cannot read: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
    }
    if (isDir) {
      const entries = (await readdir(path, { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name));
      const children = entries.filter((e) => e.isDirectory() || (e.isFile() && CONFIG_FILE.test(e.name))).map((e) => join(path, e.name));
      out.push(...(await readSources(children, stdin)));
    } else {
      out.push({ source: path, text: await readFile(path, 'utf8') });
    }
  }
  return out;
}

/** Pure: every document of every source validated; broken YAML is a problem of its document, never a crash. */
export function validateSources(sources: Source[]): ValidateReport {
  const documents: DocumentReport[] = [];
  let celRules = 0;
  for (const { source, text } of sources) {
    const docs = parseAllDocuments(text, { prettyErrors: false });
    if (!Array.isArray(docs)) continue; // blank input
    docs.forEach((doc, i) => {
      const base = { file: source, document: i + 1, kind: '', namespace: '', name: '' };
      const err = doc.errors[0];
      if (err !== undefined) {
        documents.push({ ...base, validated: true, warnings: [], problems: [{ path: '', message: `invalid YAML: ${err.message.split('\n')[0]}` }] });
        return;
      }
      let value: unknown;
      try {
        value = doc.toJS({ maxAliasCount: 100 });
      } catch (e) {
        documents.push({ ...base, validated: true, warnings: [], problems: [{ path: '', message: `invalid YAML: ${e instanceof Error ? e.message : String(e)}` }] });
        return;
      }
      if (value === null || value === undefined) return; // empty document between separators
      const r = validateConfig(value);
      celRules += r.celRules;
      documents.push({ ...base, kind: r.kind, namespace: r.namespace, name: r.name, validated: r.validated, problems: r.problems, warnings: r.warnings });
    });
  }
  return { valid: documents.every((d) => d.problems.length === 0), documents, celRules };
}

function where(d: DocumentReport): string {
  const what = d.kind === '' ? '' : ` ${d.kind} ${d.namespace}/${d.name}:`;
  return `${d.file}:${d.document}:${what}`;
}

/** One line per problem: `FILE:DOC_INDEX: Kind namespace/name: field.path: message`. */
export function problemLines(report: ValidateReport): string[] {
  return report.documents.flatMap((d) => d.problems.map((p) => `${where(d)} ${p.path === '' ? '' : p.path + ': '}${p.message}`));
}

/** Warnings (not refusals), for stderr. */
export function warningLines(report: ValidateReport): string[] {
  return report.documents.flatMap((d) => d.warnings.map((p) => `${where(d)} warning: ${p.path}: ${p.message}`));
}

/** The documents passed over, for stderr. */
export function skippedLines(report: ValidateReport): string[] {
  return report.documents
    .filter((d) => !d.validated)
    .map((d) => `${where(d)} skipped: ${d.kind === '' ? 'no kind' : 'not an Istio config kind'} (${d.kind === '' ? 'document' : d.kind} not validated)`);
}

export function summaryLine(report: ValidateReport): string {
  const validated = report.documents.filter((d) => d.validated);
  const bad = validated.filter((d) => d.problems.length > 0).length;
  return bad === 0 ? `${validated.length} Istio objects valid` : `${bad} of ${validated.length} Istio objects invalid`;
}
