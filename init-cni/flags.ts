import { UserError } from '../common/errors.js';

/**
 * A small getopt in the style of Go's pflag (which istio-iptables uses), so that the same
 * command lines behave the same: `-b ''` sets an empty value, `-p15001`, `-p=15001`,
 * `--envoy-port=15001` and `--envoy-port 15001` are equivalent, the last occurrence wins,
 * and a flag not given falls back to its environment variable. Written by hand because this
 * runs in every pod's init container and must not pay for a CLI framework at start-up.
 */

export interface FlagSpec {
  /** Long name without dashes; the key in the result. */
  readonly name: string;
  readonly short?: string;
  /** Other long names accepted for the same flag. */
  readonly aliases?: readonly string[];
  /** Environment variables consulted, in order, when the flag is absent. Empty values count as unset. */
  readonly env?: readonly string[];
  readonly kind: 'string' | 'bool';
  readonly help: string;
}

export interface FlagValue {
  readonly value: string | boolean;
  /** How the user wrote it, for error messages: `-b`, `--redirect-dns`, `env ISTIO_INBOUND_PORTS`. */
  readonly origin: string;
}

export type ParsedFlags = ReadonlyMap<string, FlagValue>;

export function parseBool(text: string, origin: string): boolean {
  // The spellings Go's strconv.ParseBool accepts.
  if (['1', 't', 'T', 'true', 'TRUE', 'True'].includes(text)) return true;
  if (['0', 'f', 'F', 'false', 'FALSE', 'False'].includes(text)) return false;
  throw new UserError(`${origin}: invalid boolean "${text}" (use true or false)`);
}

export function parseFlags(
  argv: readonly string[],
  specs: readonly FlagSpec[],
  env: Readonly<Record<string, string | undefined>>,
): ParsedFlags {
  const byLong = new Map<string, FlagSpec>();
  const byShort = new Map<string, FlagSpec>();
  for (const s of specs) {
    byLong.set(s.name, s);
    for (const a of s.aliases ?? []) byLong.set(a, s);
    if (s.short) byShort.set(s.short, s);
  }
  const out = new Map<string, FlagValue>();

  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '--') {
      if (i + 1 < argv.length) throw new UserError(`unexpected argument "${argv[i + 1]}" (tandem iptables takes flags only)`);
      break;
    }
    let spec: FlagSpec | undefined;
    let inline: string | undefined;
    let origin: string;
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=');
      const name = eq >= 0 ? arg.slice(2, eq) : arg.slice(2);
      inline = eq >= 0 ? arg.slice(eq + 1) : undefined;
      spec = byLong.get(name);
      origin = `--${name}`;
      if (!spec) throw new UserError(`unknown flag ${origin}`);
    } else if (arg.startsWith('-') && arg.length > 1) {
      const letter = arg.slice(1, 2);
      spec = byShort.get(letter);
      origin = `-${letter}`;
      if (!spec) throw new UserError(`unknown flag ${origin}`);
      if (arg.length > 2) inline = arg[2] === '=' ? arg.slice(3) : arg.slice(2);
    } else {
      throw new UserError(`unexpected argument "${arg}" (tandem iptables takes flags only)`);
    }

    if (spec.kind === 'bool') {
      out.set(spec.name, { value: inline === undefined ? true : parseBool(inline, origin), origin });
      continue;
    }
    let value = inline;
    if (value === undefined) {
      if (i + 1 >= argv.length) throw new UserError(`flag ${origin} needs a value`);
      value = argv[++i] as string;
    }
    out.set(spec.name, { value, origin });
  }

  for (const s of specs) {
    if (out.has(s.name)) continue;
    for (const name of s.env ?? []) {
      const v = env[name];
      if (v === undefined || v === '') continue;
      const origin = `env ${name}`;
      out.set(s.name, { value: s.kind === 'bool' ? parseBool(v, origin) : v, origin });
      break;
    }
  }
  return out;
}

export function usage(specs: readonly FlagSpec[]): string {
  const lines = ['Usage: tandem iptables [flags]', '', 'Flags (istio-iptables compatible; each also read from the listed environment variable):'];
  const names = specs.map((s) => [s.short ? `-${s.short}, ` : '    ', `--${s.name}`, s.kind === 'string' ? ' VALUE' : ''].join(''));
  const width = Math.max(...names.map((n) => n.length));
  specs.forEach((s, i) => {
    const env = s.env?.length ? ` [env ${s.env.join(', ')}]` : '';
    lines.push(`  ${(names[i] ?? '').padEnd(width)}  ${s.help}${env}`);
  });
  return lines.join('\n') + '\n';
}
