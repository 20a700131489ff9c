// Single use of an approval. Each used nonce is a file <stateDir>/nonces/<nonce> created with
// O_CREAT|O_EXCL: the kernel makes "check and record" one atomic step, so two helpers started at
// once with the same approval cannot both pass (an append-only list would need a lock for that).
// A file is kept until its approval's notAfter has passed (after that the approval is refused as
// expired anyway), then pruned.
import { closeSync, constants, mkdirSync, openSync, readdirSync, readFileSync, rmSync, writeSync, lstatSync } from "node:fs";
import { join } from "node:path";
import { HelperRefusal } from "./exit-codes";

const NONCE = /^[0-9a-f]{32}$/;
/** Pruning looks at this many entries per run at most (bounded work on every call). */
const MAX_PRUNE = 1000;

function ensureDir(path: string, owners: readonly number[]): void {
  mkdirSync(path, { recursive: true, mode: 0o700 });
  const st = lstatSync(path);
  if (!st.isDirectory() || !owners.includes(st.uid) || (st.mode & 0o077) !== 0) {
    throw new HelperRefusal("CONFIG", `nonce store ${path} must be a directory of ${owners.join(" or ")} with mode 0700 (is uid ${st.uid}, mode ${(st.mode & 0o777).toString(8)})`);
  }
}

export function noncesDir(stateDir: string): string {
  return join(stateDir, "nonces");
}

/** Records `nonce` as used; throws REPLAYED when it already was. */
export function useNonce(stateDir: string, owners: readonly number[], nonce: string, notAfter: number, requestId: string, now: number): void {
  if (!NONCE.test(nonce)) throw new HelperRefusal("MALFORMED", "approval nonce is not 32 lowercase hex digits");
  ensureDir(stateDir, owners);
  const dir = noncesDir(stateDir);
  ensureDir(dir, owners);
  prune(dir, now);
  let fd: number;
  try {
    fd = openSync(join(dir, nonce), constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "EEXIST") {
      throw new HelperRefusal("REPLAYED", `approval nonce ${nonce} was already used: an approval runs once`);
    }
    throw new HelperRefusal("CONFIG", `cannot record the nonce in ${dir}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  try {
    writeSync(fd, `${JSON.stringify({ notAfter, requestId, usedAt: now })}\n`);
  } finally {
    closeSync(fd);
  }
}

function prune(dir: string, now: number): void {
  for (const name of readdirSync(dir).slice(0, MAX_PRUNE)) {
    if (!NONCE.test(name)) continue;
    try {
      const { notAfter } = JSON.parse(readFileSync(join(dir, name), "utf8")) as { notAfter?: unknown };
      if (typeof notAfter === "number" && notAfter < now) rmSync(join(dir, name), { force: true });
    } catch {
      // A half-written or unreadable entry is kept: it still blocks its nonce.
    }
  }
}
