// hostward demo: not written yet.
export async function run(_argv: string[]): Promise<number> {
  process.stderr.write("hostward demo: not implemented yet\n");
  return 1;
}
