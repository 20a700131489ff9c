// What `hostward-agent check` reports: one finding per thing checked, each saying exactly what is
// wrong and how to fix it. Errors make the command exit 1; warnings do not.

export type Severity = "ok" | "warning" | "error";

export interface Finding {
  severity: Severity;
  /** What was checked: a file path, or "config", "agent certificate"… */
  subject: string;
  message: string;
}

export class Findings {
  readonly items: Finding[] = [];

  ok(subject: string, message: string): void {
    this.items.push({ severity: "ok", subject, message });
  }

  warn(subject: string, message: string): void {
    this.items.push({ severity: "warning", subject, message });
  }

  error(subject: string, message: string): void {
    this.items.push({ severity: "error", subject, message });
  }

  count(severity: Severity): number {
    return this.items.filter((f) => f.severity === severity).length;
  }
}

const LABEL: Readonly<Record<Severity, string>> = { ok: "ok     ", warning: "warning", error: "ERROR  " };

/** One line per finding, then a summary line. */
export function formatFindings(findings: Findings): string {
  const lines = findings.items.map((f) => `${LABEL[f.severity]} ${f.subject}: ${f.message}`);
  const errors = findings.count("error");
  const warnings = findings.count("warning");
  lines.push(
    errors === 0
      ? `enrollment check passed${warnings > 0 ? ` with ${warnings} warning${warnings > 1 ? "s" : ""}` : ""}`
      : `enrollment check failed: ${errors} error${errors > 1 ? "s" : ""}${warnings > 0 ? `, ${warnings} warning${warnings > 1 ? "s" : ""}` : ""}`,
  );
  return `${lines.join("\n")}\n`;
}
