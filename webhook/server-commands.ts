import type { Command } from 'commander';

/** Registers this area's subcommands. Actions import their modules lazily. */
export function register(_program: Command): void {
  // filled in by this area's work
}
