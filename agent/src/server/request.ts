// From a decoded proto request to the catalog's validated input. proto3 cannot tell "absent" from
// a plain scalar's zero value, so those zeros are dropped first: the zod schema then applies its
// default, or says the field is required. `optional` proto fields keep an explicit zero.
import type { z } from "zod";
import { describeIssues } from "../../../shared/zod-issues";

type Message = Record<string, unknown>;

function isEmptyDefault(value: unknown, defaultValue: unknown): boolean {
  if (defaultValue === undefined) return false; // an `optional` field: presence is meaningful
  if (Array.isArray(defaultValue)) return Array.isArray(value) && value.length === 0;
  if (defaultValue instanceof Uint8Array) return value instanceof Uint8Array && value.length === 0;
  return value === defaultValue;
}

/**
 * The message a request type decodes from zero bytes: every plain field at its zero value and
 * every `optional` field undefined. Computed once per method from its generated deserializer.
 */
export function protoDefaults(deserialize: (bytes: Buffer) => unknown): Message {
  return deserialize(Buffer.alloc(0)) as Message;
}

/** A copy of `message` without plain fields that hold their proto3 zero value. */
export function stripProtoDefaults(message: Message, defaults: Message): Message {
  const out: Message = {};
  for (const [key, value] of Object.entries(message)) {
    if (value === undefined || isEmptyDefault(value, defaults[key])) continue;
    out[key] = value;
  }
  return out;
}

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let at: unknown = root;
  for (const key of path) {
    if (at === null || typeof at !== "object") return undefined;
    at = (at as Record<PropertyKey, unknown>)[key];
  }
  return at;
}

const MAX_ISSUES = 5;

/** `invalid argument "unit": unit name must not start with "-"`; several issues joined by "; ". */
export function describeInvalidInput(error: z.ZodError, input: unknown): string {
  return describeIssues(error, {
    max: MAX_ISSUES,
    line: (issue, where) => {
      const missing = issue.code === "invalid_type" && issue.path.length > 0 && valueAt(input, issue.path) === undefined;
      const message = missing ? "is required" : issue.message;
      return issue.path.length > 0 ? `invalid argument "${where}": ${message}` : `invalid argument: ${message}`;
    },
  });
}
