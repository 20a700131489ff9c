// hostward serve: not written yet.
export async function run(_argv: string[]): Promise<number> {
  process.stderr.write("hostward serve: not implemented yet\n");
  return 1;
}
