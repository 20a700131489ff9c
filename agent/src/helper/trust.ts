// Whether a path may be trusted by the root helper: the file itself (checked on the opened
// descriptor by the caller) AND every directory above it, up to "/". A root-owned file in a
// directory another user can write is not root's alone: that user can rename it away and put their
// own in its place. Each ancestor (of the real path, symlinks resolved) must belong to one of
// `owners` and be writable by nobody else — except a sticky directory owned by root (/tmp), whose
// entries only their owner may rename or remove.
import { realpathSync, statSync } from "node:fs";
import { dirname } from "node:path";

const STICKY = 0o1000;

/** Why the directories above `path` cannot be trusted, or null. */
export function untrustedAncestor(path: string, owners: readonly number[]): string | null {
  let dir: string;
  try {
    dir = realpathSync(dirname(path));
  } catch (err) {
    return `its directory ${dirname(path)} cannot be resolved (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`;
  }
  for (;;) {
    let st;
    try {
      st = statSync(dir);
    } catch (err) {
      return `its parent directory ${dir} cannot be examined (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`;
    }
    const mode = (st.mode & 0o7777).toString(8).padStart(4, "0");
    const stickyRoot = (st.mode & STICKY) !== 0 && st.uid === 0;
    if (!owners.includes(st.uid) && !stickyRoot) return `its parent directory ${dir} is owned by uid ${st.uid}, expected ${owners.join(" or ")}`;
    if ((st.mode & 0o022) !== 0 && !stickyRoot) return `its parent directory ${dir} is writable by group or others (mode ${mode})`;
    const up = dirname(dir);
    if (up === dir) return null;
    dir = up;
  }
}
