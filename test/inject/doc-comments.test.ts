import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import ts from 'typescript';

// Doc comments are read by editors on hover: one attached to the wrong declaration tells a reader
// something false. Read with the TypeScript compiler's own JSDoc attachment, as an editor does.
const repo = fileURLToPath(new URL('../../', import.meta.url));

/** The JSDoc text TypeScript attaches to each top-level declaration of a file, by declared name. */
function docsOf(file: string): Map<string, string> {
  const source = ts.createSourceFile(file, readFileSync(repo + file, 'utf8'), ts.ScriptTarget.ES2022, true);
  const docs = new Map<string, string>();
  for (const stmt of source.statements) {
    const names = ts.isVariableStatement(stmt)
      ? stmt.declarationList.declarations.map((d) => d.name.getText(source))
      : 'name' in stmt && stmt.name && ts.isIdentifier(stmt.name as ts.Node) ? [(stmt.name as ts.Identifier).text] : [];
    const text = ts.getJSDocCommentsAndTags(stmt).map((d) => d.getText(source)).join('\n');
    for (const n of names) docs.set(n, text);
  }
  return docs;
}

t.test('the four-webhooks comment documents injectionWebhooks, not the namespace list before it', async (t) => {
  const docs = docsOf('inject/injection-webhooks.ts');
  t.match(docs.get('injectionWebhooks') ?? '', /Istio's four injection webhooks for a revision/, 'injectionWebhooks carries its description');
  for (const [name, text] of docs) {
    if (name !== 'injectionWebhooks') t.notMatch(text, /four injection webhooks/, `${name} does not carry injectionWebhooks' description`);
  }
});
