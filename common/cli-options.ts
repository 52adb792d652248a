import { InvalidArgumentError } from 'commander';

/** commander argument parsers shared by every subcommand, so flags fail the same way everywhere. */

export function portArg(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n > 65535) throw new InvalidArgumentError(`expected a port number (0-65535), got "${value}"`);
  return n;
}

export function millisecondsArg(value: string): number {
  if (!/^\d+$/.test(value)) throw new InvalidArgumentError(`expected a number of milliseconds, got "${value}"`);
  return Number(value);
}
