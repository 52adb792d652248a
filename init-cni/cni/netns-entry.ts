import { EXIT_OK, EXIT_USER, reportError } from '../../common/errors.js';

/**
 * What the plugin runs inside the pod's network namespace (`nsenter --net=PATH node netns-entry.js
 * VERB FLAGS…`; Node cannot setns itself): `apply` and `cleanup` are `tandem iptables` itself,
 * `check` reads the tables and prints what is missing as JSON. Exit codes as the CLI's.
 */
export async function main(argv: readonly string[]): Promise<number> {
  const [verb, ...flags] = argv;
  const { main: iptables } = await import('../cli.js');
  if (verb === 'apply') return iptables(flags);
  if (verb === 'cleanup') return iptables([...flags, '--cleanup']);
  if (verb !== 'check') {
    process.stderr.write(`netns-entry: unknown verb "${verb ?? ''}" (apply, cleanup or check)\n`);
    return EXIT_USER;
  }
  try {
    const { loadConfig } = await import('../config.js');
    const { generateRules } = await import('../rules.js');
    const { detectBackend } = await import('../backend.js');
    const { parseSave } = await import('../restore.js');
    const { missingCapture } = await import('./check.js');
    const { config } = loadConfig(flags, {}, {});
    const rules = generateRules(config);
    const { iptables } = await detectBackend('auto');
    const missing = missingCapture(rules.v4, parseSave(await iptables.save(4)));
    if (config.ipv6 && iptables.available(6)) missing.push(...missingCapture(rules.v6, parseSave(await iptables.save(6))).map((m) => `IPv6 ${m}`));
    process.stdout.write(JSON.stringify({ missing }) + '\n');
    return EXIT_OK;
  } catch (err) {
    return reportError(err);
  }
}

