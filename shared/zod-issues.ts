// The one zod-error formatter. Every module that words a ZodError for a person, a log or a reply
// does it through here (eslint.config.mjs refuses `.issues` anywhere else). This module owns where
// an issue is ("hosts.0.address", or "(top level)"), how many issues are shown and the count of the
// rest ("… (and 2 more)"); a caller whose contract words one issue its own way passes `line`.
import type { z } from "zod";

export type ZodIssue = z.core.$ZodIssue;

export interface IssueFormat {
  /** Show at most this many issues; describeIssues() counts the rest: "… (and 2 more)". Default: all. */
  max?: number;
  /** What an issue about the value itself (an empty path) is said to be at. Default "(top level)". */
  top?: string;
  /** Words one issue, given where it is. Default `${where}: ${issue.message}`. */
  line?: (issue: ZodIssue, where: string) => string;
  /** Between two issues in describeIssues(). Default "; ". */
  separator?: string;
}

const TOP = "(top level)";

/** Where an issue is: its path joined with "." ("hosts.0.address"), or `top` for an empty path. */
export function issuePath(issue: ZodIssue, top = TOP): string {
  return issue.path.length > 0 ? issue.path.map(String).join(".") : top;
}

/** The issues of `error`, one line each, at most `max` of them, in zod's order. */
export function issueLines(error: z.ZodError, format: IssueFormat = {}): string[] {
  const { max = Infinity, top = TOP, line = (issue, where) => `${where}: ${issue.message}` } = format;
  return error.issues.slice(0, max).map((issue) => line(issue, issuePath(issue, top)));
}

/** The issues of `error` on one line: `unit: unit name must not start with "-"; lines: … (and 3 more)`. */
export function describeIssues(error: z.ZodError, format: IssueFormat = {}): string {
  const { max = Infinity, separator = "; " } = format;
  const more = error.issues.length - max;
  return issueLines(error, format).join(separator) + (more > 0 ? ` (and ${more} more)` : "");
}

/** An unrecognized_keys issue naming its keys: `unknown key "a"`, `unknown keys "a", "b"` (`noun` for "key"). */
export function unknownKeys(keys: readonly string[], noun = "key", prefix = ""): string {
  return `unknown ${noun}${keys.length > 1 ? "s" : ""} ${keys.map((k) => `"${prefix}${k}"`).join(", ")}`;
}
