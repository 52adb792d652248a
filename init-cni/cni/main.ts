import type { ChildResult, NetnsVerb, PluginIo } from './plugin.js';

/**
 * bin/tandem-cni's entry: the real I/O for the plugin. Builtins are fetched with
 * process.getBuiltinModule where needed (as init-cni/cli.ts does) and the plugin logic is imported
 * only past VERSION, because a runtime starts this process for every pod.
 */

const fs = (): typeof import('node:fs') => process.getBuiltinModule('node:fs');

/** All of stdin, synchronously; a non-blocking pipe (EAGAIN) is read through the stream instead. */
async function readAllStdin(): Promise<string> {
  try {
    return fs().readFileSync(0, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') throw err;
  }
  let text = '';
  for await (const chunk of process.stdin) text += String(chunk);
  return text;
}

function writeOut(text: string): void {
  if (text === '') return;
  const buf = Buffer.from(text);
  let done = 0;
  try {
    while (done < buf.length) done += fs().writeSync(1, buf, done);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EAGAIN') process.stdout.write(buf.subarray(done));
  }
}

/** Starts netns-run.js inside the pod's namespace with this same node binary. */
function inNetns(netns: string, verb: NetnsVerb, flags: readonly string[]): Promise<ChildResult> {
  const { spawn } = process.getBuiltinModule('node:child_process');
  const script = new URL('./netns-run.js', import.meta.url).pathname;
  return new Promise((resolve) => {
    const child = spawn('nsenter', [`--net=${netns}`, '--', process.execPath, script, verb, ...flags], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', (err) => resolve({ code: 127, stdout, stderr: `${stderr}nsenter: ${err.message}` }));
    child.on('close', (code) => resolve({ code: code ?? 1, stdout, stderr }));
  });
}

function makeLog(logFile: () => string | undefined): PluginIo['log'] {
  return (level, msg, fields = {}) => {
    const line = JSON.stringify({ time: new Date().toISOString(), level, pid: process.pid, msg, ...fields }) + '\n';
    const file = logFile();
    try {
      if (file) fs().appendFileSync(file, line);
      else process.stderr.write(line);
    } catch {
      process.stderr.write(line);
    }
  };
}

function logFileOf(stdin: string): string | undefined {
  try {
    const f: unknown = (JSON.parse(stdin) as { log_file?: unknown }).log_file;
    return typeof f === 'string' && f !== '' ? f : undefined;
  } catch {
    return undefined;
  }
}

export async function main(): Promise<number> {
  const env = process.env;
  if (env.CNI_COMMAND === 'VERSION') {
    // The fast path: no stdin, no plugin logic.
    const { versionResult } = await import('./spec.js');
    writeOut(versionResult());
    return 0;
  }
  // Loading the plugin logic overlaps reading stdin.
  const loading = import('./plugin.js');
  const stdin = await readAllStdin();
  const { runPlugin } = await loading;
  const io: PluginIo = {
    readFile: (path) => fs().readFileSync(path, 'utf8'),
    exists: (path) => fs().existsSync(path),
    getPod: async (kc, namespace, name, timeoutMs) => (await import('./kube.js')).getPod(kc, namespace, name, timeoutMs),
    inNetns,
    log: makeLog(() => logFileOf(stdin)),
  };
  const out = await runPlugin(env, () => stdin, io);
  writeOut(out.stdout);
  return out.code;
}
