import { EXIT_OK, reportError } from '../common/errors.js';
import { FLAGS, loadConfig } from './config.js';
import { usage } from './flags.js';
import { renderRestore } from './restore.js';
import { generateRules } from './rules.js';

// Builtins fetched synchronously and only when needed: an ESM `import` of node:fs/node:os costs
// milliseconds at start-up, and most runs need neither.
function readResolvConf(): string | undefined {
  try {
    return process.getBuiltinModule('node:fs').readFileSync('/etc/resolv.conf', 'utf8');
  } catch {
    return undefined;
  }
}

function podAddresses(): string[] {
  const out: string[] = [];
  for (const list of Object.values(process.getBuiltinModule('node:os').networkInterfaces())) for (const a of list ?? []) out.push(a.address);
  return out;
}

/**
 * Writes to stdout without touching `process.stdout`, whose first use builds a stream and costs a
 * few milliseconds of start-up; the output is small. If fd 1 is a full non-blocking pipe (EAGAIN),
 * the rest goes through the stream.
 */
function writeOut(text: string): void {
  const buf = Buffer.from(text);
  let done = 0;
  try {
    const fs = process.getBuiltinModule('node:fs');
    while (done < buf.length) done += fs.writeSync(1, buf, done);
  } catch (err) {
    // EPIPE and the like: the reader is gone, nothing more to say.
    if ((err as NodeJS.ErrnoException).code === 'EAGAIN') process.stdout.write(buf.subarray(done));
  }
}

export interface Io {
  readonly out: (text: string) => void;
  readonly err: (text: string) => void;
}

const STD_IO: Io = { out: writeOut, err: (text) => void process.stderr.write(text) };

/** `tandem iptables …`: argv is everything after `iptables`. Returns the exit code. */
export async function main(argv: string[], io: Io = STD_IO): Promise<number> {
  try {
    const { config, options, warnings } = loadConfig(argv, process.env, { resolvConf: readResolvConf, addresses: podAddresses });
    if (options.help) {
      io.out(usage(FLAGS));
      return EXIT_OK;
    }
    for (const w of warnings) io.err(`tandem iptables: warning: ${w}\n`);
    const rules = generateRules(config);
    if (options.dryRun && !options.cleanup) {
      let out = `# iptables-restore input (IPv4)\n${renderRestore(rules.v4)}`;
      if (config.ipv6) out += `# ip6tables-restore input (IPv6)\n${renderRestore(rules.v6)}`;
      io.out(out);
      return EXIT_OK;
    }
    if (options.skipApply) return EXIT_OK;
    // Loaded only when something is applied: --dry-run never pays for child processes.
    const { apply, cleanup } = await import('./apply.js');
    const log = (line: string): void => io.err(`tandem iptables: ${line}\n`);
    // A cleanup's input depends on what is in the tables, so its dry run reads them (and changes nothing).
    if (options.cleanup) await cleanup(config, options.backend, log, options.dryRun ? io.out : undefined);
    else await apply(config, rules, options.backend, log);
    return EXIT_OK;
  } catch (err) {
    return reportError(err, (line) => io.err(`${line}\n`));
  }
}
