// proto3 ↔ catalog: a decoded request carries zero values (0, "", false, []) for every field the
// caller did not set. Dropping them lets the catalog's zod schema apply its defaults, or report a
// required field as missing, exactly as if the caller had sent JSON without them.
export function stripProtoDefaults(message: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(message)) {
    if (value === undefined || value === 0 || value === "" || value === false) continue;
    if (Array.isArray(value) && value.length === 0) continue;
    out[key] = value;
  }
  return out;
}
