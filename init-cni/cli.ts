/** `tandem iptables …`: argv is everything after `iptables`. Returns the exit code. */
export async function main(_argv: string[]): Promise<number> {
  process.stderr.write('tandem iptables: not implemented yet\n');
  return 2;
}
