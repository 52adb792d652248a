/**
 * A mistake the user can fix (bad flag, bad input file, invalid annotation).
 * The CLI prints `message` as one line on stderr and exits 1; anything else is
 * an internal error and exits 2 (see design.md, "Exit codes").
 */
export class UserError extends Error {
  override readonly name = 'UserError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

export const EXIT_OK = 0;
export const EXIT_USER = 1;
export const EXIT_INTERNAL = 2;

/** Maps an error to the process exit code and writes the one-line explanation. */
export function reportError(err: unknown, write: (line: string) => void = (l) => process.stderr.write(l + '\n')): number {
  if (err instanceof UserError) {
    write(`tandem: ${err.message}`);
    return EXIT_USER;
  }
  const e = err instanceof Error ? err : new Error(String(err));
  write(`tandem: internal error: ${e.stack ?? e.message}`);
  return EXIT_INTERNAL;
}
