// The people who may call `hostward serve --http` (team mode): DIR/users.jsonl, one JSON object a
// line, {name, groups, sha256, created, expires?}, written by `hostward pki issue-user` and read
// with the rest of the configuration (at start and on every reload: a deleted line is a revoked
// user from the next request on). The file holds the SHA-256 of each token, never the token: a
// token is 256 random bits, so a hash is as hard to turn back into it as the bits are to guess
// (no slow KDF is needed, unlike a password), and the file leaks nothing that authenticates.
import { createHash, randomBytes } from "node:crypto";
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, rmSync, writeSync } from "node:fs";
import { dirname, join } from "node:path";
import { z } from "zod";
import { token } from "../../../proto/catalog/grammar";
import { issueLines, unknownKeys } from "../../../shared/zod-issues";

/** What a user token starts with: recognisable by secret scanners and by a human reading a log. */
export const USER_TOKEN_PREFIX = "hw_u_";

/**
 * A person's name: the grammar of an approver line's identity="NAME" (proto/catalog/approval.ts), so
 * the same name can be a requester (`mcp:http:<client>:<name>`) and an approver, and four eyes
 * compares them. No ":" (the requester's last ":" part is the name).
 */
export const personName = token("user name", /^[A-Za-z0-9][A-Za-z0-9._@+-]{0,63}$/, 64, "1 to 64 letters, digits and . _ @ + - starting with a letter or digit");
/** A group of people, as policy.yaml's `groups:` names it. */
export const groupName = token("group", /^[a-z0-9][a-z0-9_.-]{0,62}$/, 63, "1 to 63 lower-case letters, digits and _ . - starting with a letter or digit");

const isoTime = z.string().max(40).datetime({ offset: true, message: "must be an ISO 8601 time" });

const UserEntrySchema = z.strictObject({
  name: personName,
  groups: z.array(groupName).max(64, { message: "at most 64 groups per user" }).default([]),
  /** Lower-case hex SHA-256 of the token (its UTF-8 bytes, prefix included). */
  sha256: z.string().regex(/^[0-9a-f]{64}$/, { message: "must be 64 lower-case hex digits (the token's SHA-256)" }),
  created: isoTime,
  expires: isoTime.optional(),
});

export type UserEntry = z.output<typeof UserEntrySchema>;

export const MAX_USERS = 10_000;

const HEADER = [
  "# hostward users (team mode for `hostward serve --http`), written by `hostward pki issue-user`.",
  "# One JSON object a line; sha256 is the hash of the person's token (the token is not kept anywhere).",
  "# Revoke: `hostward pki revoke-user NAME` (or delete the line), then reload (SIGHUP or reload_config).",
];

export function userTokenHash(token: string): string {
  return createHash("sha256").update(token, "utf8").digest("hex");
}

/** A new token: the prefix and 256 random bits, base64url (48 characters). */
export function newUserToken(): string {
  return `${USER_TOKEN_PREFIX}${randomBytes(32).toString("base64url")}`;
}

/** Parses users.jsonl's text: the entries, and every problem as "FILE: line N: …". */
function parseUsers(file: string, text: string): { users: UserEntry[]; problems: string[] } {
  const users: UserEntry[] = [];
  const problems: string[] = [];
  const byName = new Map<string, number>();
  const byHash = new Map<string, number>();
  text.split("\n").forEach((raw, i) => {
    const line = raw.trim();
    const at = `${file}: line ${i + 1}`;
    if (line === "" || line.startsWith("#")) return;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      problems.push(`${at}: not a JSON object (one user a line; "#" starts a comment)`);
      return;
    }
    const parsed = UserEntrySchema.safeParse(value);
    if (!parsed.success) {
      problems.push(...issueLines(parsed.error, { line: (issue, where) => `${at}: ${where}: ${issue.code === "unrecognized_keys" ? unknownKeys(issue.keys) : issue.message}` }));
      return;
    }
    const u = parsed.data;
    const sameName = byName.get(u.name);
    if (sameName !== undefined) problems.push(`${at}: name: duplicate user "${u.name}" (first at line ${sameName})`);
    const sameHash = byHash.get(u.sha256);
    if (sameHash !== undefined) problems.push(`${at}: sha256: the same token as line ${sameHash}`);
    byName.set(u.name, i + 1);
    byHash.set(u.sha256, i + 1);
    users.push(u);
  });
  if (users.length > MAX_USERS) problems.push(`${file}: more than ${MAX_USERS} users`);
  return { users, problems };
}

/** Reads DIR/users.jsonl; an absent file is no users (the shared token, or stdio only). */
export function readUsersFile(file: string): { users: UserEntry[]; problems: string[]; text: string } {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT") return { users: [], problems: [], text: "" };
    return { users: [], problems: [`${file}: cannot read: ${code ?? (err as Error).message}`], text: "" };
  }
  if (text.length > 16 * 1024 * 1024) return { users: [], problems: [`${file}: larger than 16 MiB`], text };
  return { ...parseUsers(file, text), text };
}

/** Replaces `file` with `users` (0600): written beside it, fsync'd, renamed over it. */
export function writeUsersFile(file: string, users: readonly UserEntry[]): void {
  const text = `${[...HEADER, ...users.map((u) => JSON.stringify(u))].join("\n")}\n`;
  const tmp = join(dirname(file), `.users.jsonl.${process.pid}.${randomBytes(4).toString("hex")}.tmp`);
  const fd = openSync(tmp, "wx", 0o600);
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } catch (err) {
    closeSync(fd);
    rmSync(tmp, { force: true });
    throw err;
  }
  closeSync(fd);
  renameSync(tmp, file);
}

export type Authentication = { ok: true; user: UserEntry } | { ok: false; reason: "unknown" | "expired"; user?: string; expires?: string };

/**
 * The user whose token this is. Looked up by the token's hash (a hash of 256 random bits: learning
 * its first bytes from timing tells nothing about another token). Expired: refused, naming when.
 */
export function authenticateUser(users: readonly UserEntry[], token: string, now = Date.now()): Authentication {
  if (!token.startsWith(USER_TOKEN_PREFIX)) return { ok: false, reason: "unknown" };
  const hash = userTokenHash(token);
  const user = users.find((u) => u.sha256 === hash);
  if (!user) return { ok: false, reason: "unknown" };
  if (user.expires !== undefined && Date.parse(user.expires) <= now) return { ok: false, reason: "expired", user: user.name, expires: user.expires };
  return { ok: true, user };
}
