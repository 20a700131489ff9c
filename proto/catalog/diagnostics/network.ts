// network diagnostics.
// TODO(helper): definitions for this group.
export const networkDiagnostics = [] as const;
