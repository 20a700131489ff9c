// hostward local: not written yet.
export async function run(_argv: string[]): Promise<number> {
  process.stderr.write("hostward local: not implemented yet\n");
  return 1;
}
