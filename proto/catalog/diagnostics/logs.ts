// logs diagnostics.
// TODO(helper): definitions for this group.
export const logsDiagnostics = [] as const;
