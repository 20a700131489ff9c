// hostward local: being written (lead's WIP lives outside the tree until its dependencies land).
export async function run(_argv: string[]): Promise<number> {
  process.stderr.write("hostward local: not implemented yet\n");
  return 1;
}
