import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { parse as parseYaml } from 'yaml';

/**
 * No container runtime runs here, so the image cannot be built in the tests.
 * These checks hold the Dockerfile to what the rest of tandem relies on: the
 * pinned Node 20 base, the build steps, the binaries the init container calls,
 * the non-root user the manifests run as, and a build context that keeps what
 * the build needs.
 */

const repo = fileURLToPath(new URL('../../', import.meta.url));
const read = (p: string): string => readFileSync(repo + p, 'utf8');

interface Instruction {
  op: string;
  args: string;
}

/** Dockerfile instructions, with line continuations joined and comments dropped. */
function instructions(text: string): Instruction[] {
  const joined = text
    .split('\n')
    .filter((l) => !/^\s*#/.test(l))
    .join('\n')
    .replace(/\\\n/g, ' ');
  return joined
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '')
    .map((l) => {
      const m = /^(\S+)\s+(.*)$/.exec(l);
      return { op: (m?.[1] ?? l).toUpperCase(), args: m?.[2] ?? '' };
    });
}

const dockerfile = instructions(read('Dockerfile'));
const fromIndexes = dockerfile.flatMap((i, n) => (i.op === 'FROM' ? [n] : []));
const runtime = dockerfile.slice(fromIndexes[fromIndexes.length - 1]);
const build = dockerfile.slice(fromIndexes[0], fromIndexes[1]);
const runs = (stage: Instruction[]): string => stage.filter((i) => i.op === 'RUN').map((i) => i.args).join(' && ');

t.test('pinned Node 20 base, multi-stage', async (t) => {
  t.equal(fromIndexes.length, 2, 'a build stage and a runtime stage');
  const arg = dockerfile.find((i) => i.op === 'ARG' && i.args.startsWith('NODE_IMAGE='));
  const base = arg?.args.slice('NODE_IMAGE='.length);
  t.match(base, /^node:20\.\d+\.\d+-bookworm-slim$/, 'full version tag, never latest or a floating major');
  for (const n of fromIndexes) t.match(dockerfile[n]?.args, /^\$\{NODE_IMAGE\}/, 'every stage uses the pinned base');
  const engines = (JSON.parse(read('package.json')) as { engines: { node: string } }).engines.node;
  const [, minor] = /^>=20\.(\d+)/.exec(engines) ?? [];
  const [, baseMinor] = /^node:20\.(\d+)/.exec(base ?? '') ?? [];
  t.ok(Number(baseMinor) >= Number(minor), `the base satisfies engines ${engines}`);
});

t.test('build stage: clean install, compile, drop dev dependencies', async (t) => {
  const steps = runs(build);
  t.match(steps, /npm ci\b/);
  t.match(steps, /npm run build\b/);
  t.match(steps, /npm prune --omit=dev\b/);
  t.ok(steps.indexOf('npm run build') < steps.indexOf('npm prune'), 'compile before pruning the compiler');
  const scripts = (JSON.parse(read('package.json')) as { scripts: Record<string, string> }).scripts;
  t.ok(scripts.build, 'package.json has the build script the image runs');
});

t.test('runtime stage: iptables, non-root, tandem entrypoint', async (t) => {
  const steps = runs(runtime);
  t.match(steps, /apt-get install[^&]*\biptables\b/, 'iptables for the init container');
  t.match(steps, /rm -rf \/var\/lib\/apt\/lists/, 'no apt lists left in the image');
  const user = runtime.filter((i) => i.op === 'USER').pop()?.args ?? '';
  const [uid] = user.split(':');
  t.match(user, /^\d+:\d+$/, 'numeric user and group, so runAsNonRoot can verify it');
  t.not(Number(uid), 0, 'not root by default');
  // The Deployment runs as that user.
  const deploy = parseYaml(read('manifests/base/deployment.yaml')) as { spec: { template: { spec: { securityContext: { runAsUser: number } } } } };
  t.equal(deploy.spec.template.spec.securityContext.runAsUser, Number(uid), 'the manifests run as the image user');

  const entry = runtime.find((i) => i.op === 'ENTRYPOINT')?.args;
  t.same(JSON.parse(entry ?? 'null'), ['node', '/app/bin/tandem'], 'exec-form entrypoint');
  t.same(JSON.parse(runtime.find((i) => i.op === 'CMD')?.args ?? 'null'), ['serve'], 'serves by default');
  t.ok(existsSync(repo + 'bin/tandem'), 'the entrypoint exists in the repository');

  // The injected init container calls `tandem` by name: it must be on PATH.
  const init = parseYaml(read('templates/istio-init.yaml')) as { command?: string[] };
  const cmd = init.command?.[0];
  if (cmd !== undefined && !cmd.startsWith('/')) {
    t.match(steps, new RegExp(`ln -s /app/bin/tandem /usr/local/bin/${cmd}\\b`), `\`${cmd}\` is on PATH`);
  }
  const exposed = runtime.filter((i) => i.op === 'EXPOSE').flatMap((i) => i.args.split(/\s+/)).sort();
  t.same(exposed, ['15010', '15014', '15017'], 'xDS, monitoring and webhook ports');
});

t.test('.dockerignore keeps what the build needs', async (t) => {
  const patterns = read('.dockerignore')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
  const glob = (p: string): RegExp => new RegExp('^' + p.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*') + '(/.*)?$');
  const ignored = (path: string): boolean => patterns.some((p) => !p.startsWith('!') && glob(p).test(path));
  for (const p of ['node_modules', 'dist', '.git', 'test', 'coverage']) t.ok(ignored(p), `${p} stays out of the context`);
  const tsconfig = JSON.parse(read('tsconfig.json')) as { include: string[] };
  const needed = ['package.json', 'package-lock.json', 'tsconfig.json', 'bin/tandem', 'bin/package.json', 'templates/istio-init.yaml'];
  for (const inc of tsconfig.include) needed.push(inc.split('/')[0] as string);
  for (const p of needed) t.notOk(ignored(p), `${p} is sent to the build`);
  t.ok(glob('*.md').test('README.md') && !glob('dist').test('distance'), 'the pattern matcher itself works');
});
