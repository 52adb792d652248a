import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';

/**
 * One way for each recurring thing: these helpers live in common/ (objects.ts, names.ts, logger.ts)
 * or come from a library (lru-cache, close-with-grace), and a copy elsewhere fails here. Scanned:
 * every source folder.
 */
const repo = fileURLToPath(new URL('../../', import.meta.url));
const FOLDERS = ['bootstrap', 'ca', 'certs', 'cli', 'common', 'config', 'control-plane', 'init-cni', 'inject', 'webhook'];

const RULES: Array<{ what: string; pattern: RegExp; home: string }> = [
  { what: 'a hand-written isObject', pattern: /typeof (\w+) [!=]== 'object' (?:&&|\|\|) \1 [!=]== null (?:&&|\|\|) !?Array\.isArray\(\1\)/, home: 'common/objects.ts' },
  { what: 'a DNS-1123 pattern', pattern: /\[a-z0-9\]\(\[-a-z0-9\]/, home: 'common/names.ts' },
  { what: 'a port range check', pattern: /[<>]=? *65535|65535 *[<>]/, home: 'common/names.ts' },
  { what: 'a hand-evicted Map cache', pattern: /\.keys\(\)\.next\(\)/, home: 'lru-cache' },
  { what: 'hand-written signal handling', pattern: /process\.(?:once|on)\('SIG/, home: 'close-with-grace' },
  { what: 'a logger set up by hand', pattern: /pino\.destination\(|\bpino\(\{/, home: 'common/logger.ts' },
];

function sources(dir: string, out: string[] = []): string[] {
  for (const e of readdirSync(dir)) {
    const p = join(dir, e);
    if (statSync(p).isDirectory()) sources(p, out);
    else if (e.endsWith('.ts')) out.push(p);
  }
  return out;
}

t.test('no copies of the shared helpers', async (t) => {
  const files = FOLDERS.flatMap((f) => sources(join(repo, f)));
  t.ok(files.length > 50, `${files.length} source files scanned`);
  for (const rule of RULES) {
    const found: string[] = [];
    for (const file of files) {
      const rel = relative(repo, file);
      if (rel === rule.home) continue;
      readFileSync(file, 'utf8').split('\n').forEach((line, i) => {
        if (rule.pattern.test(line)) found.push(`${rel}:${i + 1}: ${line.trim()}`);
      });
    }
    t.same(found, [], `${rule.what}: only in ${rule.home}`);
  }
});
