import { InvalidArgumentError } from 'commander';
import { isPort } from './names.js';

/** commander argument parsers shared by every subcommand, so flags fail the same way everywhere. */

/** A port to listen on: 1-65535, or 0 for any free port. */
export function portArg(value: string): number {
  if (value !== '0' && !isPort(value)) throw new InvalidArgumentError(`expected a port number (0-65535), got "${value}"`);
  return Number(value);
}

export function millisecondsArg(value: string): number {
  if (!/^\d+$/.test(value)) throw new InvalidArgumentError(`expected a number of milliseconds, got "${value}"`);
  return Number(value);
}
