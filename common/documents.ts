import { readFile } from 'node:fs/promises';
import { parseAllDocuments, stringify, type Document } from 'yaml';
import { UserError } from './errors.js';
/** Any Kubernetes-shaped document: what multi-document YAML inputs hold. */
export type KubeObject = Record<string, unknown> & { kind?: unknown; apiVersion?: unknown; metadata?: unknown };

/**
 * Multi-document YAML in and out for the offline commands. Errors name the file
 * and the document (counting from 1); documents tandem does not change are
 * written back from their own source text.
 */
export interface SourceDocument {
  source: string;
  /** 1-based position in its file */
  index: number;
  object: KubeObject;
  doc: Document;
}

export async function readSource(file: string, stdin: () => Promise<string>): Promise<{ source: string; text: string }> {
  if (file === '-') return { source: '<stdin>', text: await stdin() };
  try {
    return { source: file, text: await readFile(file, 'utf8') };
  } catch (err) {
    throw new UserError(`${file}: cannot read: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
}

export function readStdin(): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    process.stdin.on('data', (c: Buffer) => chunks.push(c));
    process.stdin.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    process.stdin.on('error', reject);
  });
}

/**
 * The mapping documents of a multi-document YAML text. Invalid YAML throws a UserError naming the
 * document; so does a document that is not a mapping, unless `notMapping` is given: then it is
 * told about it and the other documents are kept (the config stores refuse one document, not a file).
 */
export function parseDocuments(text: string, source: string, notMapping?: (index: number, problem: string) => void): SourceDocument[] {
  const out: SourceDocument[] = [];
  const docs = parseAllDocuments(text, { prettyErrors: false });
  // parseAllDocuments returns an EmptyStream (not an array) for blank input.
  if (!Array.isArray(docs)) return out;
  docs.forEach((doc, i) => {
    const index = i + 1;
    const err = doc.errors[0];
    if (err) throw new UserError(`${source}: document ${index}: invalid YAML: ${err.message.split('\n')[0]}`);
    const value: unknown = doc.toJS({ maxAliasCount: 100 });
    if (value === null || value === undefined) return; // empty document between separators
    if (typeof value !== 'object' || Array.isArray(value)) {
      const problem = `expected a Kubernetes object (a mapping), got ${Array.isArray(value) ? 'a list' : typeof value}`;
      if (notMapping === undefined) throw new UserError(`${source}: document ${index}: ${problem}`);
      notMapping(index, problem);
      return;
    }
    out.push({ source, index, object: value as KubeObject, doc });
  });
  return out;
}

export type OutputFormat = 'yaml' | 'json';

/** YAML: documents separated by `---` (unchanged ones from their source); JSON: the object, or a v1 List of them. */
export function formatDocuments(items: Array<{ object: KubeObject; original?: Document }>, format: OutputFormat): string {
  if (format === 'json') {
    const objects = items.map((i) => i.object);
    const value = objects.length === 1 ? objects[0] : { apiVersion: 'v1', kind: 'List', items: objects };
    return JSON.stringify(value, null, 2) + '\n';
  }
  return items
    .map((i) => {
      const text = i.original ? i.original.toString() : stringify(i.object, { lineWidth: 0 });
      return text.endsWith('\n') ? text : text + '\n';
    })
    .join('---\n');
}
