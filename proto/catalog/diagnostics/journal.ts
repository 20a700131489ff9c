// Journal-based log diagnostics (group "logs"): journalctl with -o json, bounded.
// TODO(helper): get_journal_logs, analyze_errors, get_kernel_messages
export const journalDiagnostics = [] as const;
